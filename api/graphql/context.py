"""Per-request GraphQL context: DB session, signed-in driver, DataLoaders, services."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from strawberry.dataloader import DataLoader
from strawberry.fastapi import BaseContext

from core.bus import CommandBus, EventBus
from core.config import Settings
from core.models import Charger, Site, User
from core.payments.service import Payments
from core.sessions.live import LiveCosts
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
    # Running costs of the sessions followed by `sessionUpdates`, shared by subscribers.
    live_costs: LiveCosts = field(default_factory=LiveCosts)


class Context(BaseContext):
    """What one request's resolvers share. Fields resolve concurrently: `session` must let
    them take turns (core.db.SerialSession), and the driver is looked up once."""

    def __init__(self, services: DriverServices, session: AsyncSession, ip: str) -> None:
        super().__init__()
        self.services = services
        self.session = session
        self.ip = ip
        self._user: User | None = None
        self._user_loaded = False
        self._user_lock = asyncio.Lock()
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
        """The signed-in driver, or None; every field of the request waits for one lookup."""
        async with self._user_lock:
            if not self._user_loaded:
                self._user = await self._load_user()
                self._user_loaded = True
        return self._user

    async def _load_user(self) -> User | None:
        token = self._bearer()
        if token is None:
            return None
        try:
            claims = self.services.auth.decode_access(token)
        except AuthError:
            return None
        user = await self.session.get(User, claims.user_id)
        if user is not None and user.token_version == claims.token_version:
            return user
        return None

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
