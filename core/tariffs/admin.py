"""Operator work on tariffs: create them, add components, attach them to sites and chargers.

Prices given here are excl. VAT (the CLI converts from incl. VAT). A tariff that has priced
sessions cannot change: its sessions must keep the price they were quoted. To change a
price, create a new tariff and attach it; the old assignment ends where the new one begins,
so sessions are always priced with the tariff valid when they started.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.models import (
    Charger,
    ChargingSession,
    ComponentKind,
    Site,
    Tariff,
    TariffAssignment,
    TariffComponent,
)
from core.orgs.errors import Invalid
from core.orgs.groups import check_group
from core.tariffs.engine import SPOT_AREAS, UNITS
from core.tariffs.errors import TariffError
from core.tariffs.repository import component_spec, normalize_group
from core.tariffs.schemas import AssignmentView, ComponentView, TariffView
from core.tariffs.windows import Window, parse_clock, parse_days
from core.timeutil import utcnow

_DEFAULT_UNIT = {
    ComponentKind.ENERGY: "kWh",
    ComponentKind.SPOT_ENERGY: "kWh",
    ComponentKind.TIME: "min",
    ComponentKind.PARKING: "min",
    ComponentKind.SESSION: "session",
}
_UNIT_ALIASES = {"kwh": "kWh", "min": "min", "minute": "min", "h": "h", "hour": "h"}


async def find_tariff(session: AsyncSession, ref: str | int, *, load: bool = False) -> Tariff:
    """A tariff by id or by name."""
    query = select(Tariff)
    if load:
        query = query.options(selectinload(Tariff.components))
    text = str(ref).strip()
    query = (
        query.where(Tariff.id == int(text)) if text.isdigit() else query.where(Tariff.name == text)
    )
    tariff = (await session.execute(query)).scalar_one_or_none()
    if tariff is None:
        raise TariffError(f"no tariff {ref!r}")
    return tariff


async def create_tariff(session: AsyncSession, name: str, description: str = "") -> Tariff:
    name = name.strip()
    if not 1 <= len(name) <= 80 or name.isdigit():
        raise TariffError("a tariff name is 1-80 characters and not only digits")
    if (await session.execute(select(Tariff.id).where(Tariff.name == name))).first():
        raise TariffError(f"tariff {name!r} exists already")
    tariff = Tariff(name=name, description=description[:300])
    session.add(tariff)
    await session.flush()
    return tariff


def _decimal(value: Decimal | int | str | None, what: str) -> Decimal | None:
    if value is None:
        return None
    try:
        number = Decimal(str(value))
    except ArithmeticError:
        raise TariffError(f"{what} is not a number: {value!r}") from None
    if not number.is_finite():
        raise TariffError(f"{what} must be a finite number")
    if number != number.quantize(Decimal("0.0001")):
        raise TariffError(f"{what} has more than 4 decimals")
    return number


async def add_component(
    session: AsyncSession,
    tariff_ref: str | int,
    *,
    kind: str,
    price_ore: Decimal | int | str,
    unit: str | None = None,
    days: str | int = "all",
    start: str | None = None,
    end: str | None = None,
    grace_minutes: int = 0,
    cap_ore: Decimal | int | str | None = None,
    min_power_kw: Decimal | int | str | None = None,
    max_power_kw: Decimal | int | str | None = None,
    spot_area: str | None = None,
    spot_fallback_ore: Decimal | int | str | None = None,
    spot_negative: str = "floor",
) -> ComponentView:
    """Add a price component (prices excl. VAT, øre per unit)."""
    try:
        component_kind = ComponentKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in ComponentKind)
        raise TariffError(f"unknown component kind {kind!r}; use one of {kinds}") from None
    unit = _UNIT_ALIASES.get((unit or "").lower(), unit) if unit else _DEFAULT_UNIT[component_kind]
    if unit not in UNITS[component_kind]:
        raise TariffError(f"a {kind} price is per {' or '.join(UNITS[component_kind])}")
    price = _decimal(price_ore, "price")
    assert price is not None
    if price < 0 and component_kind != ComponentKind.SPOT_ENERGY:
        raise TariffError("a price cannot be negative (only a spot markup can)")
    weekdays = days if isinstance(days, int) else parse_days(days)
    if (start is None) != (end is None):
        raise TariffError("give both --from and --to, or neither")
    window = Window(
        weekdays,
        None if start is None else parse_clock(start),
        None if end is None else parse_clock(end),
    )
    if grace_minutes and component_kind != ComponentKind.PARKING:
        raise TariffError("only a parking component has a grace period")
    if not 0 <= grace_minutes <= 24 * 60:
        raise TariffError("a grace period is 0-1440 minutes")
    cap = _decimal(cap_ore, "cap")
    if cap is not None and cap < 0:
        raise TariffError("a cap cannot be negative")
    lo, hi = _decimal(min_power_kw, "min power"), _decimal(max_power_kw, "max power")
    if (lo is not None and lo < 0) or (lo is not None and hi is not None and lo >= hi):
        raise TariffError("a power band needs 0 <= min < max (kW)")
    area = spot_area.strip().upper() if spot_area else None
    fallback = _decimal(spot_fallback_ore, "spot fallback")
    if component_kind == ComponentKind.SPOT_ENERGY:
        if area not in SPOT_AREAS:
            raise TariffError(f"a spot price needs an area: {', '.join(SPOT_AREAS)}")
        if spot_negative not in ("floor", "pass"):
            raise TariffError("negative spot prices are 'floor' (count as 0) or 'pass'")
    elif area or fallback is not None:
        raise TariffError("only a spot_energy component has a spot area and fallback")

    tariff = await find_tariff(session, tariff_ref)
    await _refuse_if_used(session, tariff)
    position = (
        await session.execute(select(func.count()).where(TariffComponent.tariff_id == tariff.id))
    ).scalar_one()
    row = TariffComponent(
        tariff_id=tariff.id,
        position=position,
        kind=component_kind.value,
        price_ore=price,
        unit=unit,
        weekdays=window.weekdays,
        start_minute=window.start_minute,
        end_minute=window.end_minute,
        grace_minutes=grace_minutes,
        cap_ore=cap,
        min_power_kw=lo,
        max_power_kw=hi,
        spot_area=area,
        spot_fallback_ore=fallback,
        spot_negative=spot_negative,
    )
    session.add(row)
    await session.flush()
    return _component_view(row)


async def _refuse_if_used(session: AsyncSession, tariff: Tariff) -> None:
    used = (
        await session.execute(select(exists().where(ChargingSession.tariff_id == tariff.id)))
    ).scalar()
    if used:
        raise TariffError(
            f"tariff {tariff.name!r} has priced sessions and cannot change; "
            "create a new tariff and attach it instead"
        )


async def _target(
    session: AsyncSession, site: str | None, charger: str | None
) -> tuple[int | None, int | None]:
    if (site is None) == (charger is None):
        raise TariffError("attach to either a site or a charger")
    if site is not None:
        site_id = (await session.execute(select(Site.id).where(Site.name == site))).scalar()
        if site_id is None:
            raise TariffError(f"no site {site!r}")
        return site_id, None
    charger_id = (
        await session.execute(select(Charger.id).where(Charger.charge_point_id == charger))
    ).scalar()
    if charger_id is None:
        raise TariffError(f"no charger {charger!r}")
    return None, charger_id


async def _known_group(
    session: AsyncSession, site_id: int | None, charger_id: int | None, group: str
) -> str:
    """The group, if the organisation owning the place has it (built-in or its own)."""
    if site_id is None:
        site_id = (
            await session.execute(select(Charger.site_id).where(Charger.id == charger_id))
        ).scalar()
    org_id = None
    if site_id is not None:
        org_id = (
            await session.execute(select(Site.organisation_id).where(Site.id == site_id))
        ).scalar()
    try:
        return await check_group(session, org_id, group, allow_public=True)
    except Invalid as error:
        raise TariffError(str(error)) from None


async def _close_current(
    session: AsyncSession,
    site_id: int | None,
    charger_id: int | None,
    group: str,
    at: datetime,
) -> int:
    rows = (
        await session.execute(
            select(TariffAssignment).where(
                TariffAssignment.site_id.is_(None)
                if site_id is None
                else TariffAssignment.site_id == site_id,
                TariffAssignment.charger_id.is_(None)
                if charger_id is None
                else TariffAssignment.charger_id == charger_id,
                TariffAssignment.customer_group == group,
                or_(TariffAssignment.valid_to.is_(None), TariffAssignment.valid_to > at),
            )
        )
    ).scalars()
    closed = 0
    for row in rows:
        if row.valid_from >= at:
            raise TariffError("a later tariff is already attached there for this group")
        row.valid_to = at
        closed += 1
    await session.flush()
    return closed


async def attach_tariff(
    session: AsyncSession,
    tariff_ref: str | int,
    *,
    site: str | None = None,
    charger: str | None = None,
    group: str = "public",
    valid_from: datetime | None = None,
) -> AssignmentView:
    """Make a tariff the price for a customer group at a site or charger from `valid_from`
    (default now); what applied there before ends at that instant."""
    tariff = await find_tariff(session, tariff_ref)
    site_id, charger_id = await _target(session, site, charger)
    group = await _known_group(session, site_id, charger_id, group)
    at = valid_from or utcnow()
    await _close_current(session, site_id, charger_id, group, at)
    row = TariffAssignment(
        tariff_id=tariff.id,
        site_id=site_id,
        charger_id=charger_id,
        customer_group=group,
        valid_from=at,
    )
    session.add(row)
    await session.flush()
    return AssignmentView(row.id, group, site, charger, at, None)


async def detach_tariff(
    session: AsyncSession,
    *,
    site: str | None = None,
    charger: str | None = None,
    group: str = "public",
    at: datetime | None = None,
) -> int:
    """End the tariff of a group at a site or charger; returns how many assignments ended."""
    site_id, charger_id = await _target(session, site, charger)
    return await _close_current(
        session, site_id, charger_id, normalize_group(group), at or utcnow()
    )


async def set_list_price(session: AsyncSession, site: str, ore_per_kwh: int | None) -> None:
    """The site's list price (øre/kWh incl. VAT), used where no tariff is attached."""
    row = (await session.execute(select(Site).where(Site.name == site))).scalar_one_or_none()
    if row is None:
        raise TariffError(f"no site {site!r}")
    if ore_per_kwh is not None and not 0 <= ore_per_kwh <= 100_000:
        raise TariffError("a list price is 0-100000 øre/kWh")
    row.list_price_ore_per_kwh = ore_per_kwh
    await session.flush()


def _component_view(c: TariffComponent) -> ComponentView:
    spec = component_spec(c)
    return ComponentView(
        id=c.id,
        kind=c.kind,
        price_ore=spec.price_ore,
        unit=c.unit,
        window_nb=spec.window.describe("nb"),
        window_en=spec.window.describe("en"),
        grace_minutes=c.grace_minutes,
        cap_ore=spec.cap_ore,
        min_power_kw=spec.min_power_kw,
        max_power_kw=spec.max_power_kw,
        spot_area=c.spot_area,
        spot_fallback_ore=spec.spot_fallback_ore,
        spot_negative=c.spot_negative,
    )


async def list_tariffs(session: AsyncSession) -> list[TariffView]:
    tariffs = list(
        (
            await session.execute(
                select(Tariff).options(selectinload(Tariff.components)).order_by(Tariff.name)
            )
        ).scalars()
    )
    rows = await session.execute(
        select(TariffAssignment, Site.name, Charger.charge_point_id)
        .outerjoin(Site, Site.id == TariffAssignment.site_id)
        .outerjoin(Charger, Charger.id == TariffAssignment.charger_id)
        .order_by(TariffAssignment.valid_from)
    )
    by_tariff: dict[int, list[AssignmentView]] = {}
    for a, site_name, cp_id in rows:
        by_tariff.setdefault(a.tariff_id, []).append(
            AssignmentView(a.id, a.customer_group, site_name, cp_id, a.valid_from, a.valid_to)
        )
    return [
        TariffView(
            id=t.id,
            name=t.name,
            description=t.description,
            currency=t.currency,
            components=[_component_view(c) for c in t.components],
            assignments=by_tariff.get(t.id, []),
        )
        for t in tariffs
    ]


async def get_tariff(session: AsyncSession, ref: str | int) -> TariffView:
    tariff = await find_tariff(session, ref)
    return next(t for t in await list_tariffs(session) if t.id == tariff.id)
