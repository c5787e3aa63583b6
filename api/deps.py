"""Request-scoped dependencies: one DB transaction per request, the command bus, auth."""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.bus import CommandBus
from core.config import Settings


@dataclass
class Services:
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    commands: CommandBus


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def db_session(svc: Annotated[Services, Depends(services)]) -> AsyncIterator[AsyncSession]:
    """One request = one transaction: committed if the handler returns, else rolled back."""
    async with svc.sessions() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


def operator(
    svc: Annotated[Services, Depends(services)],
    authorization: Annotated[str | None, Header()] = None,
) -> None:
    """Operator endpoints need `Authorization: Bearer <LADEFLYT_OPERATOR_TOKEN>`."""
    expected = svc.settings.operator_token
    if not expected:
        raise HTTPException(404, "operator API is disabled (set LADEFLYT_OPERATOR_TOKEN)")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise HTTPException(
            401, "bad or missing operator token", headers={"WWW-Authenticate": "Bearer"}
        )
