"""Tariffs and where they apply, as organisations manage them: an organisation prices its
own sites with its own tariffs (or the operator's, attached by the operator)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Charger, Site, Tariff, TariffAssignment
from core.orgs import repository as repo
from core.orgs.audit import record, snapshot
from core.orgs.errors import Conflict, Invalid, NotFound
from core.orgs.groups import PUBLIC, defined_groups
from core.orgs.schemas import (
    AssignmentIn,
    AssignmentOut,
    TariffComponentIn,
    TariffComponentOut,
    TariffIn,
    TariffOut,
)
from core.orgs.scope import Access, Actor
from core.tariffs import admin
from core.tariffs.engine import price_usage
from core.tariffs.errors import TariffError
from core.tariffs.repository import (
    Location,
    assignments_for,
    component_spec,
    pick_assignment,
    spec_of,
    tariffs_by_id,
)
from core.tariffs.service import list_price_spec
from core.tariffs.usage import build_usage
from core.timeutil import utcnow


def _error(error: TariffError) -> Exception:
    text = str(error)
    return Conflict(text) if "exists already" in text or "cannot change" in text else Invalid(text)


def tariff_out(t: Tariff) -> TariffOut:
    components = []
    for c in t.components:
        spec = component_spec(c)
        components.append(
            TariffComponentOut(
                id=c.id,
                kind=c.kind,
                price_ore=spec.price_ore,
                unit=c.unit,
                window=spec.window.describe("en") or "always",
                grace_minutes=c.grace_minutes,
                cap_ore=spec.cap_ore,
            )
        )
    return TariffOut(
        id=t.id,
        name=t.name,
        description=t.description,
        organisation_id=t.organisation_id,
        currency=t.currency,
        components=components,
    )


def assignment_out(a: TariffAssignment) -> AssignmentOut:
    return AssignmentOut(
        id=a.id,
        tariff_id=a.tariff_id,
        site_id=a.site_id,
        charger_id=a.charger_id,
        group=a.customer_group,
        valid_from=a.valid_from,
        valid_to=a.valid_to,
    )


async def _add_component(session: AsyncSession, tariff: Tariff, c: TariffComponentIn) -> None:
    try:
        await admin.add_component(
            session,
            tariff.id,
            kind=c.kind,
            price_ore=c.price_ore,
            unit=c.unit,
            days=c.days,
            start=c.start,
            end=c.end,
            grace_minutes=c.grace_minutes,
            cap_ore=c.cap_ore,
            min_power_kw=c.min_power_kw,
            max_power_kw=c.max_power_kw,
            spot_area=c.spot_area,
        )
    except TariffError as error:
        raise _error(error) from None


async def create_tariff(session: AsyncSession, actor: Actor, data: TariffIn) -> Tariff:
    if data.organisation_id is None:
        actor.require(Access.OPERATOR, None, "tariff")
        org_id = None
    else:
        org = await repo.get_organisation(session, actor, data.organisation_id)
        actor.require(Access.WRITE, org.id, "organisation")
        org_id = org.id
    try:
        tariff = await admin.create_tariff(session, data.name, data.description)
    except TariffError as error:
        raise _error(error) from None
    tariff.organisation_id = org_id
    for component in data.components:
        await _add_component(session, tariff, component)
    await session.flush()
    loaded = await repo.get_tariff(session, actor, tariff.id)
    await session.refresh(loaded, ["components"])
    await record(
        session,
        actor,
        "tariff.create",
        "tariff",
        tariff.id,
        org_id,
        after=tariff_out(loaded).model_dump(),
    )
    return loaded


async def add_component(
    session: AsyncSession, actor: Actor, tariff_id: int, data: TariffComponentIn
) -> Tariff:
    tariff = await repo.get_tariff(session, actor, tariff_id)
    _require_own(actor, tariff)
    before = tariff_out(tariff).model_dump()
    await _add_component(session, tariff, data)
    await session.refresh(tariff, ["components"])
    await record(
        session,
        actor,
        "tariff.update",
        "tariff",
        tariff.id,
        tariff.organisation_id,
        before=before,
        after=tariff_out(tariff).model_dump(),
    )
    return tariff


def _require_own(actor: Actor, tariff: Tariff) -> None:
    if tariff.organisation_id is None:
        actor.require(Access.OPERATOR, None, "tariff")
    else:
        actor.require(Access.WRITE, tariff.organisation_id, "tariff")


async def create_assignment(
    session: AsyncSession, actor: Actor, data: AssignmentIn
) -> TariffAssignment:
    """Make a tariff the price for a group at a site or charger (what applied before ends)."""
    if (data.site_id is None) == (data.charger_id is None):
        raise Invalid("give either site_id or charger_id")
    tariff = await repo.get_tariff(session, actor, data.tariff_id)
    site_name: str | None = None
    charger_code: str | None = None
    if data.site_id is not None:
        site = await repo.get_site(session, actor, data.site_id)
        org_id, site_name = site.organisation_id, site.name
    else:
        assert data.charger_id is not None
        charger: Charger = await repo.get_charger(session, actor, data.charger_id)
        org_id = (await repo.organisations_of_sites(session, [charger.site_id])).get(
            charger.site_id or 0
        )
        charger_code = charger.charge_point_id
    actor.require(Access.WRITE, org_id, "site")
    if tariff.organisation_id is None:
        actor.require(Access.OPERATOR, None, "tariff")
    elif tariff.organisation_id != org_id:
        # Never another organisation's tariff on this organisation's sites.
        raise NotFound(f"no tariff {tariff.id} for this site")
    try:
        view = await admin.attach_tariff(
            session,
            tariff.id,
            site=site_name,
            charger=charger_code,
            group=data.group,
            valid_from=data.valid_from,
        )
    except TariffError as error:
        raise _error(error) from None
    row = await repo.get_assignment(session, actor, view.id)
    await record(
        session,
        actor,
        "tariff_assignment.create",
        "tariff_assignment",
        row.id,
        org_id,
        after=snapshot(row),
    )
    return row


async def end_assignment(session: AsyncSession, actor: Actor, assignment_id: int) -> None:
    row = await repo.get_assignment(session, actor, assignment_id)
    if row.site_id is not None:
        site = await session.get_one(Site, row.site_id)
        org_id = site.organisation_id
    else:
        charger = await session.get_one(Charger, row.charger_id)
        org_id = (await repo.organisations_of_sites(session, [charger.site_id])).get(
            charger.site_id or 0
        )
    actor.require(Access.WRITE, org_id, "tariff assignment")
    before = snapshot(row)
    now = utcnow()
    if row.valid_from >= now:
        await session.delete(row)
    elif row.valid_to is None or row.valid_to > now:
        row.valid_to = now
    await session.flush()
    await record(
        session,
        actor,
        "tariff_assignment.end",
        "tariff_assignment",
        assignment_id,
        org_id,
        before=before,
        after=None if row.valid_from >= now else snapshot(row),
    )


# --------------------------------------------------------------------------- quote preview


@dataclass(frozen=True)
class GroupQuote:
    group: str
    tariff: str | None  # None: no tariff, the site's list price (or no price)
    total_ore: int | None


async def preview(
    session: AsyncSession,
    actor: Actor,
    site_id: int,
    energy_wh: int,
    at: datetime,
    power_w: int = 11_000,
) -> list[GroupQuote]:
    """What `energy_wh` charged at `power_w` from `at` costs each group at a site, priced
    by the real tariff engine with the tariffs in force then (the dashboard's live preview)."""
    site = await repo.get_site(session, actor, site_id)
    groups = [*await defined_groups(session, site.organisation_id), PUBLIC]
    end = at + timedelta(seconds=max(energy_wh, 0) * 3600 / max(power_w, 1))
    usage = build_usage(at, end, energy_wh=energy_wh, meter_start_wh=None, samples=[])
    loc = Location(None, -1, "", site.id, site.name, power_w, site.list_price_ore_per_kwh)
    assignments = await assignments_for(session, [loc], set(groups), at)
    tariffs = await tariffs_by_id(session, {a.tariff_id for a in assignments})
    out = []
    for group in groups:
        chosen = pick_assignment(assignments, loc, group)
        if chosen is not None:
            tariff = tariffs[chosen.tariff_id]
            try:
                total: int | None = price_usage(usage, spec_of(tariff)).total_ore
            except TariffError:
                total = None
            out.append(GroupQuote(group, tariff.name, total))
        elif site.list_price_ore_per_kwh is not None:
            out.append(
                GroupQuote(
                    group,
                    None,
                    price_usage(usage, list_price_spec(site.list_price_ore_per_kwh)).total_ore,
                )
            )
        else:
            out.append(GroupQuote(group, None, None))
    return out
