"""Per-request GraphQL context: DB session, signed-in driver, DataLoaders, services."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from core.bus import CommandBus, EventBus
from core.config import Settings
from core.models import Charger, Site, User
from core.payments.service import Payments
from core.users.auth import AuthError, AuthService


@dataclass
class DriverServices:
    """What the GraphQL layer needs, wired in `ladeflyt.runtime`."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    commands: CommandBus
    events: EventBus
    auth: AuthService
    payments: Payments


class Context(BaseContext):
    def __init__(self, services: DriverServices, session: AsyncSession, ip: str) -> None:
        super().__init__()
        self.services = services
        self.session = session
        self.ip = ip
        self._user: User | None = None
        self._user_loaded = False
        self.chargers = DataLoader(self._load_chargers)
        self.sites = DataLoader(self._load_sites)

    # ------------------------------------------------------------- the signed-in driver

    def _bearer(self) -> str | None:
        header = None
        if self.connection_params and isinstance(self.connection_params, dict):
            header = self.connection_params.get("authorization") or self.connection_params.get(
                "Authorization"
            )
        elif self.request is not None:
            header = self.request.headers.get("authorization")
        if not header:
            return None
        scheme, _, token = str(header).partition(" ")
        return token if scheme.lower() == "bearer" and token else None

    async def user(self) -> User | None:
        if self._user_loaded:
            return self._user
        self._user_loaded = True
        token = self._bearer()
        if token is None:
            return None
        try:
            claims = self.services.auth.decode_access(token)
        except AuthError:
            return None
        user = await self.session.get(User, claims.user_id)
        if user is not None and user.token_version == claims.token_version:
            self._user = user
        return self._user

    async def release(self) -> None:
        """End the request transaction (long-lived subscriptions must not hold one)."""
        self.session.expunge_all()
        await self.session.rollback()

    # ------------------------------------------------------------- loaders

    async def _load_chargers(self, ids: list[int]) -> list[Charger | None]:
        rows = (await self.session.execute(select(Charger).where(Charger.id.in_(ids)))).scalars()
        by_id = {c.id: c for c in rows}
        return [by_id.get(i) for i in ids]

    async def _load_sites(self, ids: list[int]) -> list[Site | None]:
        rows = (await self.session.execute(select(Site).where(Site.id.in_(ids)))).scalars()
        by_id = {s.id: s for s in rows}
        return [by_id.get(i) for i in ids]


def client_ip(request: Any) -> str:
    client = getattr(request, "client", None)
    return str(client.host) if client is not None else ""
