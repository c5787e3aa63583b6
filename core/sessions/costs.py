"""Prices and costs as the driver-facing parts show them, from the tariff engine."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import ChargingSession
from core.tariffs.errors import TariffError
from core.tariffs.schemas import CostBreakdown, Quote
from core.tariffs.service import quotes, running_cost
from core.timeutil import utcnow

log = logging.getLogger(__name__)


async def session_cost(
    session: AsyncSession, cs: ChargingSession, at: datetime | None = None
) -> CostBreakdown | None:
    """Cost so far (active) or final cost (completed); None if it cannot be priced."""
    try:
        breakdown = await running_cost(session, cs.id, at or utcnow())
    except TariffError as error:
        log.warning("session %s cannot be priced: %s", cs.id, error)
        return None
    return breakdown if breakdown.price_configured else None


async def session_cost_ore(
    session: AsyncSession, cs: ChargingSession, at: datetime | None = None
) -> int | None:
    breakdown = await session_cost(session, cs, at)
    return breakdown.total_ore if breakdown is not None else None


async def connector_quotes(
    session: AsyncSession,
    connector_pks: Iterable[int],
    user_id: int | None,
    at: datetime | None = None,
) -> dict[int, Quote]:
    return await quotes(session, list(connector_pks), user_id, at or utcnow())
