"""Prices and costs as the driver-facing parts show them, from the tariff engine."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import ChargingSession, SessionStatus
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


async def session_costs_ore(
    session: AsyncSession, rows: Sequence[ChargingSession], at: datetime | None = None
) -> dict[int, int | None]:
    """The costs of a page of sessions (history), with no query per row: a finished
    session's price is stored on it; a start that failed delivered nothing and costs
    nothing. Only the open sessions of the page (a driver has one or two) and a finished
    one whose pricing failed are priced from their samples."""
    costs: dict[int, int | None] = {}
    for cs in rows:
        if cs.status == SessionStatus.FAILED.value:
            costs[cs.id] = 0
        elif _stored_final(cs):
            costs[cs.id] = cs.cost_ore
        else:
            costs[cs.id] = await session_cost_ore(session, cs, at)
    return costs


def _stored_final(cs: ChargingSession) -> bool:
    """Completed and priced when it stopped: the stored price is the price (None when the
    charger had no price configured then)."""
    stored = cs.cost_breakdown
    return (
        cs.status == SessionStatus.COMPLETED.value
        and stored is not None
        and bool(stored.get("final"))
        and (cs.cost_ore is not None or stored.get("price_configured") is False)
    )


async def connector_quotes(
    session: AsyncSession,
    connector_pks: Iterable[int],
    user_id: int | None,
    at: datetime | None = None,
) -> dict[int, Quote]:
    return await quotes(session, list(connector_pks), user_id, at or utcnow())
