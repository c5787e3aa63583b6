"""Composition root: builds the engine, buses, write batcher, gateway and HTTP app."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine

from core.bus import InProcessCommandBus, InProcessEventBus
from core.chargers.service import mark_all_offline
from core.config import Settings
from core.db import create_engine, is_sqlite, session_factory, transaction
from core.uow import WriteBatcher
from ocpp_gateway.context import GatewayContext
from ocpp_gateway.server import GatewayServer

log = logging.getLogger(__name__)


@dataclass
class Runtime:
    settings: Settings
    engine: AsyncEngine
    gateway_ctx: GatewayContext
    gateway: GatewayServer

    @classmethod
    def build(cls, settings: Settings) -> Runtime:
        engine = create_engine(settings.database_url)
        events = InProcessEventBus()
        commands = InProcessCommandBus(default_timeout=settings.ocpp_command_timeout)
        writers = settings.db_writers or (1 if is_sqlite(settings.database_url) else 4)
        batcher = WriteBatcher(engine, events, writers=writers, max_batch=settings.db_batch_max)
        ctx = GatewayContext(settings, batcher, session_factory(engine), commands, events)
        return cls(settings, engine, ctx, GatewayServer(ctx))

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
