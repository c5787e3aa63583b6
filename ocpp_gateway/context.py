"""What every charger connection shares: settings, the write batcher, the buses, and the
payment context the start decisions need (core.sessions.flows)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.bus import CommandRegistry, EventBus
from core.config import Settings
from core.identity.pnc import PlugAndCharge
from core.payments.service import Payments
from core.uow import WriteBatcher


@dataclass
class GatewayContext:
    settings: Settings
    batcher: WriteBatcher
    sessions: async_sessionmaker[AsyncSession]
    commands: CommandRegistry
    events: EventBus
    payments: Payments
    # Plug & Charge certificate services; None: ISO 15118 contracts are not accepted.
    pnc: PlugAndCharge | None = None
