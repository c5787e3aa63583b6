"""Queries of the tariff domain: where a connector is, which tariff applies, samples, spot."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.models import (
    Charger,
    ComponentKind,
    Connector,
    MeterSample,
    SpotPrice,
    Tariff,
    TariffAssignment,
    TariffComponent,
)
from core.models.infrastructure import Site
from core.orgs.groups import PUBLIC, normalize_group
from core.tariffs.engine import ComponentSpec, TariffSpec, quarter_of
from core.tariffs.usage import Sample
from core.tariffs.windows import Window

__all__ = ["PUBLIC", "normalize_group"]


@dataclass(frozen=True)
class Location:
    """Where a connector is, and what its site lists as the plain price."""

    connector_pk: int | None
    charger_id: int
    charge_point_id: str
    site_id: int | None
    site_name: str | None
    connector_max_power_w: int | None
    list_price_ore_per_kwh: int | None


async def connector_locations(
    session: AsyncSession, connector_pks: Iterable[int]
) -> dict[int, Location]:
    pks = list(set(connector_pks))
    if not pks:
        return {}
    rows = await session.execute(
        select(
            Connector.id,
            Connector.max_power_w,
            Charger.id,
            Charger.charge_point_id,
            Charger.site_id,
            Site.name,
            Site.list_price_ore_per_kwh,
        )
        .join(Charger, Charger.id == Connector.charger_id)
        .outerjoin(Site, Site.id == Charger.site_id)
        .where(Connector.id.in_(pks))
    )
    return {
        pk: Location(pk, charger_id, cp_id, site_id, site_name, max_w, list_price)
        for pk, max_w, charger_id, cp_id, site_id, site_name, list_price in rows
    }


async def session_location(
    session: AsyncSession, charger_id: int, connector_pk: int | None
) -> Location | None:
    if connector_pk is not None:
        found = await connector_locations(session, [connector_pk])
        if connector_pk in found:
            return found[connector_pk]
    row = (
        await session.execute(
            select(
                Charger.charge_point_id,
                Charger.site_id,
                Site.name,
                Site.list_price_ore_per_kwh,
                Charger.max_power_w,
            )
            .outerjoin(Site, Site.id == Charger.site_id)
            .where(Charger.id == charger_id)
        )
    ).first()
    if row is None:
        return None
    cp_id, site_id, site_name, list_price, max_w = row
    return Location(None, charger_id, cp_id, site_id, site_name, max_w, list_price)


async def assignments_for(
    session: AsyncSession, locations: Iterable[Location], groups: set[str], at: datetime
) -> list[TariffAssignment]:
    """Assignments valid at `at` for these chargers or their sites and these groups."""
    locs = list(locations)
    charger_ids = {loc.charger_id for loc in locs}
    site_ids = {loc.site_id for loc in locs if loc.site_id is not None}
    where = [TariffAssignment.charger_id.in_(charger_ids)]
    if site_ids:
        where.append(TariffAssignment.site_id.in_(site_ids))
    return list(
        (
            await session.execute(
                select(TariffAssignment).where(
                    or_(*where),
                    TariffAssignment.customer_group.in_(groups | {PUBLIC}),
                    TariffAssignment.valid_from <= at,
                    or_(TariffAssignment.valid_to.is_(None), TariffAssignment.valid_to > at),
                )
            )
        ).scalars()
    )


def pick_assignment(
    assignments: Iterable[TariffAssignment], loc: Location, group: str
) -> TariffAssignment | None:
    """The most specific assignment: the driver's group before the public price, and within
    each, the charger's own before its site's. A later valid_from wins a tie."""
    ranked = []
    for a in assignments:
        if a.charger_id == loc.charger_id:
            place = 0
        elif loc.site_id is not None and a.site_id == loc.site_id:
            place = 1
        else:
            continue
        if a.customer_group == group:
            rank = place
        elif a.customer_group == PUBLIC:
            rank = 2 + place
        else:
            continue
        ranked.append((rank, -a.valid_from.timestamp(), -a.id, a))
    return min(ranked, key=lambda r: r[:3])[3] if ranked else None


async def tariffs_by_id(session: AsyncSession, ids: Iterable[int]) -> dict[int, Tariff]:
    wanted = set(ids)
    if not wanted:
        return {}
    rows = await session.execute(
        select(Tariff).options(selectinload(Tariff.components)).where(Tariff.id.in_(wanted))
    )
    return {t.id: t for t in rows.scalars()}


def spec_of(tariff: Tariff) -> TariffSpec:
    return TariffSpec(tuple(component_spec(c) for c in tariff.components), tariff.id, tariff.name)


def component_spec(c: TariffComponent) -> ComponentSpec:
    return ComponentSpec(
        kind=ComponentKind(c.kind),
        price_ore=Decimal(c.price_ore),
        unit=c.unit,
        window=Window(c.weekdays, c.start_minute, c.end_minute),
        grace_minutes=c.grace_minutes,
        cap_ore=None if c.cap_ore is None else Decimal(c.cap_ore),
        min_power_kw=None if c.min_power_kw is None else Decimal(c.min_power_kw),
        max_power_kw=None if c.max_power_kw is None else Decimal(c.max_power_kw),
        spot_area=c.spot_area,
        spot_fallback_ore=None if c.spot_fallback_ore is None else Decimal(c.spot_fallback_ore),
        spot_negative=c.spot_negative,
        id=c.id,
    )


async def session_samples(
    session: AsyncSession, session_id: int, until: datetime | None = None
) -> list[Sample]:
    query = select(MeterSample.sampled_at, MeterSample.energy_wh, MeterSample.power_w).where(
        MeterSample.session_id == session_id
    )
    if until is not None:
        query = query.where(MeterSample.sampled_at <= until)
    rows = await session.execute(query.order_by(MeterSample.sampled_at))
    return [Sample(at, energy, power) for at, energy, power in rows]


async def session_samples_after(
    session: AsyncSession, session_id: int, after_id: int
) -> list[tuple[int, Sample]]:
    """The session's samples stored after the one with id `after_id`, whatever their time
    (a late sample is new too), with their ids."""
    rows = await session.execute(
        select(MeterSample.id, MeterSample.sampled_at, MeterSample.energy_wh, MeterSample.power_w)
        .where(MeterSample.session_id == session_id, MeterSample.id > after_id)
        .order_by(MeterSample.id)
    )
    return [(pk, Sample(at, energy, power)) for pk, at, energy, power in rows]


async def spot_prices(
    session: AsyncSession, areas: Iterable[str], start: datetime, end: datetime
) -> dict[str, dict[datetime, Decimal]]:
    """Quarter-hour prices covering [start, end] for these areas."""
    wanted = set(areas)
    out: dict[str, dict[datetime, Decimal]] = {area: {} for area in wanted}
    if not wanted:
        return out
    rows = await session.execute(
        select(SpotPrice.area, SpotPrice.starts_at, SpotPrice.price_ore_per_kwh).where(
            and_(
                SpotPrice.area.in_(wanted),
                SpotPrice.starts_at >= quarter_of(start),
                SpotPrice.starts_at <= end,
            )
        )
    )
    for area, starts_at, price in rows:
        out[area][starts_at] = Decimal(price)
    return out
