"""Composition root: builds the engine, buses, write batcher, gateway and HTTP app."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from api.app import create_app
from api.deps import Services
from api.graphql.context import DriverServices
from core.bus import InProcessCommandBus, InProcessEventBus
from core.chargers.service import mark_all_offline
from core.config import Settings
from core.db import create_engine, is_sqlite, session_factory, transaction
from core.ports import SmsSender
from core.uow import WriteBatcher
from core.users.auth import AuthService
from notifications.console import ConsoleSmsSender
from ocpp_gateway.context import GatewayContext
from ocpp_gateway.server import GatewayServer

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    gateway_ctx: GatewayContext
    gateway: GatewayServer
    sms: SmsSender
    auth: AuthService

    @classmethod
    def build(cls, settings: Settings, *, sms: SmsSender | None = None) -> Runtime:
        engine = create_engine(settings.database_url)
        events = InProcessEventBus()
        commands = InProcessCommandBus(default_timeout=settings.ocpp_command_timeout)
        writers = settings.db_writers or (1 if is_sqlite(settings.database_url) else 4)
        batcher = WriteBatcher(engine, events, writers=writers, max_batch=settings.db_batch_max)
        ctx = GatewayContext(settings, batcher, session_factory(engine), commands, events)
        sms = sms or ConsoleSmsSender()
        return cls(settings, engine, ctx, GatewayServer(ctx), sms, AuthService(settings, sms))

    def http_app(self) -> FastAPI:
        ctx = self.gateway_ctx
        return create_app(
            Services(self.settings, ctx.sessions, ctx.commands),
            DriverServices(self.settings, ctx.sessions, ctx.commands, ctx.events, self.auth),
        )

    async def start(self, *, ocpp_port: int | None = None) -> None:
        # Single-process setup: no charger is connected until it connects to us.
        async with transaction(self.gateway_ctx.sessions) as session:
            await mark_all_offline(session)
        await self.gateway_ctx.batcher.start()
        await self.gateway.start(port=ocpp_port)

    async def stop(self) -> None:
        await self.gateway.stop()
        await self.gateway_ctx.batcher.stop()
        await self.engine.dispose()
