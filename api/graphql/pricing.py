"""Prices for the driver API, from the tariff engine (core.sessions.costs)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.graphql.types import Price, PriceComponent
from core.chargers.search import ChargerHit
from core.models import User
from core.sessions.costs import connector_quotes
from core.tariffs.schemas import Quote

NOT_CONFIGURED = Price(currency="NOK", per_kwh_ore=None, components=[], configured=False)


def price_of(quote: Quote | None, language: str = "nb") -> Price:
    if quote is None or not quote.price_configured:
        return NOT_CONFIGURED
    english = language == "en"
    return Price(
        currency=quote.currency,
        per_kwh_ore=quote.headline_ore_per_kwh,
        configured=True,
        components=[
            PriceComponent(
                kind=c.kind,
                description=c.description_en if english else c.description_nb,
                unit=c.unit,
                unit_price_ore=float(c.unit_price_ore),
            )
            for c in quote.components
        ],
    )


async def prices_for_hits(
    session: AsyncSession, hits: list[ChargerHit], user: User | None
) -> dict[int, Price]:
    """The price per connector this driver would pay, for a page of search hits."""
    pks = [c.id for h in hits for c in h.connectors]
    found = await connector_quotes(session, pks, user.id if user else None)
    language = user.language if user else "nb"
    return {pk: price_of(found.get(pk), language) for pk in pks}
