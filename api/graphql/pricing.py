"""Prices and costs for the driver API, from the pricing core."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.graphql.types import Price, PriceComponent
from core.chargers.search import ChargerHit
from core.models import Charger, ChargingSession, Site, User


def list_price(per_kwh_ore: int | None) -> Price:
    if per_kwh_ore is None:
        return Price(currency="NOK", per_kwh_ore=None, components=[], configured=False)
    return Price(
        currency="NOK",
        per_kwh_ore=per_kwh_ore,
        configured=True,
        components=[
            PriceComponent(
                kind="energy",
                description="Energi / Energy",
                unit="kWh",
                unit_price_ore=float(per_kwh_ore),
            )
        ],
    )


async def prices_for_hits(
    session: AsyncSession, hits: list[ChargerHit], user: User | None
) -> dict[int, Price]:
    """The price per connector this driver would pay, for a page of search hits."""
    return {c.id: list_price(h.list_price_ore_per_kwh) for h in hits for c in h.connectors}


async def session_cost_ore(session: AsyncSession, cs: ChargingSession) -> int | None:
    """Running or final cost of a session, in øre incl. VAT."""
    price = (
        await session.execute(
            select(Site.list_price_ore_per_kwh)
            .join(Charger, Charger.site_id == Site.id)
            .where(Charger.id == cs.charger_id)
        )
    ).scalar_one_or_none()
    if price is None:
        return None
    return (cs.energy_wh * price + 500) // 1000
