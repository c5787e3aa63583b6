"""Prices for drivers: the quote before a session, the running cost, the final cost.

Which price applies to a driver at a connector (see repository.pick_assignment):
0. the driver's customer group there is the membership valid at that site at that time
   (core.orgs.groups.groups_at: a member at one site is a guest at the next),
1. a tariff attached to the charger for the driver's customer group,
2. one attached to the charger's site for that group,
3. the public tariff of the charger, then of the site (guests and drivers without an
   account are "public"; so is any group without a tariff of its own),
4. else the site's list price (øre/kWh incl. VAT) as a plain energy price,
5. else nothing: the quote says "no price configured" and the session stays unpriced.
A tariff without components is free (service cars). A session is priced with the tariff
valid when it started; its final price is stored on the session when it completes
(`price_completed_session`, called by core.sessions) and never changes once billed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import ChargingSession, ComponentKind, SessionStatus
from core.orgs.groups import PUBLIC, groups_at
from core.tariffs import repository as repo
from core.tariffs.engine import (
    ComponentSpec,
    SpotPrices,
    TariffSpec,
    price_usage,
    quarter_of,
    round_half_up,
)
from core.tariffs.errors import PricingError, SpotPriceMissing, TariffError
from core.tariffs.schemas import CostBreakdown, Quote, QuoteComponent, incl_vat
from core.tariffs.texts import public_kind
from core.tariffs.usage import build_usage
from core.tariffs.windows import DASH
from core.timeutil import utcnow

__all__ = [
    "PricingError",
    "TariffError",
    "price_completed_session",
    "price_session",
    "quote",
    "quotes",
    "running_cost",
]

log = logging.getLogger(__name__)

PRICING_FLAGS = ("pricing_failed", "spot_price_missing")
NET_PER_INCL_VAT = Decimal("0.8")  # 1 / 1.25, exact


@dataclass(frozen=True)
class Resolved:
    spec: TariffSpec | None
    source: str  # tariff | list_price | none
    group: str


def list_price_spec(ore_per_kwh_incl_vat: int) -> TariffSpec:
    net = Decimal(ore_per_kwh_incl_vat) * NET_PER_INCL_VAT
    return TariffSpec((ComponentSpec(ComponentKind.ENERGY, net, "kWh"),), None, "Listepris")


async def _resolve_many(
    session: AsyncSession, locations: Iterable[repo.Location], user_id: int | None, at: datetime
) -> dict[int, Resolved]:
    """Resolved prices keyed by charger id (connectors of one charger share a price), each
    for the driver's group at that charger's site at `at`."""
    locs = {loc.charger_id: loc for loc in locations}
    group_of_site = await groups_at(session, user_id, {loc.site_id for loc in locs.values()}, at)
    groups = {cid: group_of_site[loc.site_id] for cid, loc in locs.items()}
    assignments = await repo.assignments_for(session, locs.values(), set(groups.values()), at)
    picked = {cid: repo.pick_assignment(assignments, loc, groups[cid]) for cid, loc in locs.items()}
    tariffs = await repo.tariffs_by_id(session, {a.tariff_id for a in picked.values() if a})
    out = {}
    for cid, loc in locs.items():
        group = groups[cid]
        assignment = picked[cid]
        if assignment is not None:
            out[cid] = Resolved(repo.spec_of(tariffs[assignment.tariff_id]), "tariff", group)
        elif loc.list_price_ore_per_kwh is not None:
            out[cid] = Resolved(list_price_spec(loc.list_price_ore_per_kwh), "list_price", group)
        else:
            out[cid] = Resolved(None, "none", group)
    return out


def _spot_areas(specs: Iterable[TariffSpec | None]) -> set[str]:
    return {
        c.spot_area
        for spec in specs
        if spec is not None
        for c in spec.components
        if c.kind == ComponentKind.SPOT_ENERGY and c.spot_area
    }


# --------------------------------------------------------------------------- quotes


async def quote(
    session: AsyncSession, connector_pk: int, user_id: int | None, at: datetime
) -> Quote:
    """The price a driver (None: a guest) would pay at a connector, shown before starting."""
    found = await quotes(session, [connector_pk], user_id, at)
    if connector_pk not in found:
        raise TariffError(f"no connector {connector_pk}")
    return found[connector_pk]


async def quotes(
    session: AsyncSession, connector_pks: Iterable[int], user_id: int | None, at: datetime
) -> dict[int, Quote]:
    """Quotes for many connectors in a few queries (a page of map results); unknown ones
    are left out."""
    locations = await repo.connector_locations(session, connector_pks)
    if not locations:
        return {}
    resolved = await _resolve_many(session, locations.values(), user_id, at)
    areas = _spot_areas(r.spec for r in resolved.values())
    spot = await repo.spot_prices(session, areas, at, at) if areas else {}
    return {pk: _quote(resolved[loc.charger_id], loc, at, spot) for pk, loc in locations.items()}


def _quote(resolved: Resolved, loc: repo.Location, at: datetime, spot: SpotPrices) -> Quote:
    spec = resolved.spec
    if spec is None:
        return Quote(
            customer_group=resolved.group,
            components=[],
            headline_ore_per_kwh=None,
            tariff_name=None,
            price_configured=False,
            source="none",
            message_nb="Ingen pris er satt for denne laderen",
            message_en="No price has been set for this charger",
        )
    components = []
    headline: int | None = 0 if not spec.components else None
    for c in spec.ordered():
        component, known = _quote_component(c, at, spot)
        components.append(component)
        is_energy = c.kind in (ComponentKind.ENERGY, ComponentKind.SPOT_ENERGY)
        if (
            headline is None
            and is_energy
            and known
            and component.applies_now
            and ((c.min_power_kw is None and c.max_power_kw is None) or _fits(c, loc))
        ):
            headline = round_half_up(component.unit_price_ore)
    if not spec.components:
        message = ("Gratis lading", "Free charging")
    elif resolved.source == "list_price":
        message = ("Listepris", "List price")
    else:
        message = ("", "")
    return Quote(
        customer_group=resolved.group,
        components=components,
        headline_ore_per_kwh=headline,
        tariff_name=spec.name or None,
        tariff_id=spec.id,
        source=resolved.source,
        message_nb=message[0],
        message_en=message[1],
    )


def _fits(c: ComponentSpec, loc: repo.Location) -> bool:
    return loc.connector_max_power_w is not None and c.in_band(loc.connector_max_power_w)


def _quote_component(
    c: ComponentSpec, at: datetime, spot: SpotPrices
) -> tuple[QuoteComponent, bool]:
    """The component as shown, and whether its unit price is fully known now."""
    net = c.price_ore
    nb, en = c.describe("nb"), c.describe("en")
    known = True
    if c.kind == ComponentKind.SPOT_ENERGY:
        try:
            part, _ = c.spot_part(spot, quarter_of(at))
            net = max(part + c.price_ore, Decimal(0))
        except SpotPriceMissing:
            known = False
            nb += f" {DASH} spotprisen er ikke publisert ennå, her vises bare påslaget"
            en += f" {DASH} the spot price is not published yet; only the markup is shown"
    cap = None if c.cap_ore is None else round_half_up(c.cap_ore * Decimal("1.25"))
    return (
        QuoteComponent(
            kind=public_kind(c.kind),
            description_nb=nb,
            description_en=en,
            unit_price_ore=incl_vat(net),
            unit=c.unit,
            window_nb=c.window.describe("nb"),
            window_en=c.window.describe("en"),
            applies_now=c.window.contains(at),
            grace_minutes=c.grace_minutes,
            cap_ore=cap,
            min_power_kw=c.min_power_kw,
            max_power_kw=c.max_power_kw,
            spot_area=c.spot_area,
        ),
        known,
    )


# --------------------------------------------------------------------------- costs


async def session_tariff(session: AsyncSession, cs: ChargingSession) -> Resolved:
    """The price a session is priced with: its driver's at its connector when it started."""
    loc = await repo.session_location(session, cs.charger_id, cs.connector_pk)
    if loc is None:
        return Resolved(None, "none", PUBLIC)
    return (await _resolve_many(session, [loc], cs.user_id, cs.started_at))[loc.charger_id]


def spot_areas(spec: TariffSpec) -> set[str]:
    return _spot_areas([spec])


def _unpriced(
    cs: ChargingSession, resolved: Resolved, end: datetime, *, final: bool
) -> CostBreakdown:
    """The breakdown of a session at a charger with no price configured."""
    return CostBreakdown(
        lines=[],
        net_ore=0,
        vat_ore=0,
        total_ore=0,
        price_configured=False,
        final=final,
        source="none",
        customer_group=resolved.group,
        energy_wh=cs.energy_wh,
        started_at=cs.started_at,
        ended_at=end,
        notes=["no_price_configured"],
    )


async def _cost(
    session: AsyncSession, cs: ChargingSession, end: datetime, *, final: bool
) -> CostBreakdown:
    resolved = await session_tariff(session, cs)
    group = resolved.group
    if resolved.spec is None:
        return _unpriced(cs, resolved, end, final=final)
    samples = await repo.session_samples(session, cs.id, until=end)
    usage = build_usage(
        cs.started_at,
        end,
        energy_wh=cs.energy_wh,
        meter_start_wh=cs.meter_start_wh,
        samples=samples,
    )
    areas = _spot_areas([resolved.spec])
    spot = await repo.spot_prices(session, areas, usage.start, usage.end) if areas else {}
    breakdown = price_usage(usage, resolved.spec, spot)
    return replace(breakdown, final=final, source=resolved.source, customer_group=group)


def _store(cs: ChargingSession, breakdown: CostBreakdown) -> None:
    configured = breakdown.price_configured
    cs.cost_ore = breakdown.total_ore if configured else None
    cs.vat_ore = breakdown.vat_ore if configured else None
    cs.cost_breakdown = breakdown.to_json()
    cs.tariff_id = breakdown.tariff_id
    cs.price_group = breakdown.customer_group
    cs.priced_at = utcnow()
    # Not configured is visible in cost_ore (None) and the breakdown, not a data flag.
    if any(f in PRICING_FLAGS for f in cs.flags or []):
        cs.flags = [f for f in cs.flags if f not in PRICING_FLAGS]


def _flag(cs: ChargingSession, flag: str) -> None:
    if flag not in (cs.flags or []):
        cs.flags = [*(cs.flags or []), flag]


# Payment states in which a session has no price anyone relies on yet.
UNBILLED = ("none", "unpriced", "to_invoice")


def _billed(cs: ChargingSession) -> bool:
    """Priced, and the price was used (captured, invoiced...): it must not change."""
    return (
        cs.cost_ore is not None
        and cs.cost_breakdown is not None
        and cs.payment_state not in UNBILLED
    )


async def price_session(session: AsyncSession, cs: ChargingSession) -> CostBreakdown:
    """Price a completed session and store the result on it; raises PricingError (e.g. a
    missing spot price) rather than store a guess. A billed session keeps its price."""
    if cs.status != SessionStatus.COMPLETED.value or cs.stopped_at is None:
        raise TariffError(f"session {cs.id} is not completed; use running_cost")
    if _billed(cs):
        assert cs.cost_breakdown is not None
        return CostBreakdown.from_json(cs.cost_breakdown)
    breakdown = await _cost(session, cs, cs.stopped_at, final=True)
    _store(cs, breakdown)
    await session.flush()
    return breakdown


async def price_completed_session(
    session: AsyncSession, cs: ChargingSession
) -> CostBreakdown | None:
    """Price a session that just completed, for core.sessions: never raises, so a charger's
    StopTransaction/TransactionEvent is always answered. A failure flags the session
    (`spot_price_missing`, `pricing_failed`) and leaves it unpriced for a later run."""
    if cs.status != SessionStatus.COMPLETED.value or cs.stopped_at is None:
        return None
    if _billed(cs):
        assert cs.cost_breakdown is not None
        if cs.cost_breakdown.get("energy_wh") != cs.energy_wh:
            _flag(cs, "energy_changed_after_billing")
        return None
    # Pending writes go first: their failure is the message's own, not pricing's.
    await session.flush()
    try:
        if session.get_bind().dialect.name == "postgresql":
            # A failed statement aborts a PostgreSQL transaction: contain it in a savepoint.
            async with session.begin_nested():
                breakdown = await _cost(session, cs, cs.stopped_at, final=True)
        else:
            breakdown = await _cost(session, cs, cs.stopped_at, final=True)
    except SpotPriceMissing as exc:
        log.warning("session %s left unpriced: %s", cs.id, exc)
        _flag(cs, "spot_price_missing")
        return None
    except Exception:
        log.exception("pricing session %s failed", cs.id)
        _flag(cs, "pricing_failed")
        return None
    _store(cs, breakdown)
    return breakdown


async def running_cost(
    session: AsyncSession, charging_session_id: int, at: datetime
) -> CostBreakdown:
    """The cost so far of an active session (not stored), or a completed session's final
    cost. Raises TariffError for an unknown session, PricingError if it cannot be priced."""
    cs = await session.get(ChargingSession, charging_session_id)
    if cs is None:
        raise TariffError(f"no charging session {charging_session_id}")
    if cs.status == SessionStatus.COMPLETED.value and cs.stopped_at is not None:
        stored = cs.cost_breakdown
        if stored is not None and stored.get("final") and cs.cost_ore is not None:
            return CostBreakdown.from_json(stored)
        return await _cost(session, cs, cs.stopped_at, final=False)
    end = max(at, cs.started_at, cs.last_sample_at or cs.started_at)
    return await _cost(session, cs, end, final=False)
