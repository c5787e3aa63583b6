"""Permissions: most of the driver API needs a signed-in driver."""

from __future__ import annotations

from typing import Any

from strawberry.permission import BasePermission
from strawberry.types import Info

from api.graphql.context import Context
from core.models import User


class IsSignedIn(BasePermission):
    message = "Not signed in: send `Authorization: Bearer <access token>`"
    error_extensions = {"code": "UNAUTHENTICATED"}

    async def has_permission(self, source: Any, info: Info[Context, None], **kwargs: Any) -> bool:
        return await info.context.user() is not None


async def signed_in(info: Info[Context, None]) -> User:
    user = await info.context.user()
    if user is None:  # pragma: no cover - guarded by IsSignedIn
        raise PermissionError(IsSignedIn.message)
    return user
