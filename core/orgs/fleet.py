"""Chargers, remote commands, sessions and energy reports, as staff and API keys see them."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import bus
from core.chargers import service as chargers
from core.models import Charger, ChargingSession, Site, User
from core.orgs import repository as repo
from core.orgs.audit import record, snapshot
from core.orgs.errors import Conflict, Invalid, NotFound
from core.orgs.groups import normalize_group
from core.orgs.schemas import (
    ChargerIn,
    ChargerOut,
    ChargerPatch,
    ConnectorOut,
    EnergyReport,
    EnergyRow,
    SessionOut,
)
from core.orgs.scope import Access, Actor

# --------------------------------------------------------------------------- chargers


async def charger_out(session: AsyncSession, chargers_: list[Charger]) -> list[ChargerOut]:
    orgs = await repo.organisations_of_sites(session, [c.site_id for c in chargers_])
    return [
        ChargerOut(
            id=c.id,
            charge_point_id=c.charge_point_id,
            public_code=c.public_code,
            site_id=c.site_id,
            organisation_id=orgs.get(c.site_id) if c.site_id else None,
            vendor=c.vendor,
            model=c.model,
            firmware_version=c.firmware_version,
            ocpp_version=c.ocpp_version,
            registration_status=c.registration_status,
            status=c.status,
            online=c.online,
            last_seen_at=c.last_seen_at,
            max_power_w=c.max_power_w,
            connectors=[ConnectorOut.model_validate(k) for k in c.connectors],
        )
        for c in chargers_
    ]


async def create_charger(session: AsyncSession, actor: Actor, data: ChargerIn) -> Charger:
    site = await repo.get_site(session, actor, data.site_id)
    actor.require(Access.WRITE, site.organisation_id, "site")
    try:
        charger = await chargers.add_charger(
            session,
            data.charge_point_id,
            site_name=site.name,
            password=data.password,
            connectors=data.connectors,
            max_power_w=data.max_power_w,
            connector_type=data.connector_type,
            public_code=data.public_code,
        )
    except chargers.ChargerError as error:
        raise Conflict(str(error)) from None
    await record(
        session,
        actor,
        "charger.create",
        "charger",
        charger.id,
        site.organisation_id,
        after=snapshot(charger),
    )
    return await repo.get_charger(session, actor, charger.id)


async def update_charger(
    session: AsyncSession, actor: Actor, charger_id: int, patch: ChargerPatch
) -> Charger:
    charger = await repo.get_charger(session, actor, charger_id)
    org_id = (await repo.organisations_of_sites(session, [charger.site_id])).get(
        charger.site_id or 0
    )
    actor.require(Access.WRITE, org_id, "charger")
    before = snapshot(charger)
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("site_id") is not None:
        # Only to a site the actor may change too: no attaching chargers across organisations.
        site = await repo.get_site(session, actor, changes["site_id"])
        actor.require(Access.WRITE, site.organisation_id, "site")
        charger.site_id = site.id
    if changes.get("public_code") is not None:
        code = changes["public_code"]
        taken = (
            await session.execute(select(Charger.id).where(Charger.public_code == code))
        ).scalar()
        if taken is not None and taken != charger.id:
            raise Conflict(f"public code {code} is taken")
        charger.public_code = code
        charger.code_key = chargers.code_key(code)
    if changes.get("max_power_w") is not None:
        charger.max_power_w = changes["max_power_w"]
    if changes.get("registration_status") is not None:
        charger.registration_status = changes["registration_status"]
    await session.flush()
    after = snapshot(charger)
    new_org = (await repo.organisations_of_sites(session, [charger.site_id])).get(
        charger.site_id or 0
    )
    await record(
        session, actor, "charger.update", "charger", charger.id, new_org, before=before, after=after
    )
    if new_org != org_id:
        await record(
            session,
            actor,
            "charger.update",
            "charger",
            charger.id,
            org_id,
            before=before,
            after=after,
        )
    return await repo.get_charger(session, actor, charger.id)


@dataclass(frozen=True)
class CommandOutcome:
    result: bus.CommandResult | None
    error: bus.CommandError | None


def _describe(command: bus.Command) -> dict[str, object]:
    return {"command": type(command).__name__, **dataclasses.asdict(command)}


async def send_command(
    session: AsyncSession,
    actor: Actor,
    commands: bus.CommandBus,
    charger_id: int,
    command: bus.Command,
) -> CommandOutcome:
    """A support action: send a command to one of the actor's chargers and log it with its
    outcome. A failed delivery is an outcome, not an exception, so the log entry is kept."""
    charger = await repo.get_charger(session, actor, charger_id)
    org_id = (await repo.organisations_of_sites(session, [charger.site_id])).get(
        charger.site_id or 0
    )
    actor.require(Access.SUPPORT, org_id, "charger")
    if isinstance(command, bus.RemoteStop):
        # A transaction of this charger only.
        found = (
            await session.execute(
                select(ChargingSession.id).where(
                    ChargingSession.charger_id == charger.id,
                    ChargingSession.transaction_id == command.transaction_id,
                )
            )
        ).first()
        if found is None:
            raise NotFound(f"no transaction {command.transaction_id} on this charger")
    result: bus.CommandResult | None = None
    error: bus.CommandError | None = None
    try:
        result = await commands.send(charger.charge_point_id, command)
    except bus.CommandError as exc:
        error = exc
    outcome: dict[str, object] = (
        {"status": result.status, "accepted": result.accepted}
        if result is not None
        else {"error": type(error).__name__, "message": str(error)}
    )
    await record(
        session,
        actor,
        "charger.command",
        "charger",
        charger.id,
        org_id,
        after={**_describe(command), "outcome": outcome},
    )
    return CommandOutcome(result, error)


# --------------------------------------------------------------------------- sessions


@dataclass(frozen=True)
class SessionFilter:
    site_id: int | None = None
    charger_id: int | None = None
    driver_id: int | None = None
    group: str | None = None
    status: str | None = None
    start: datetime | None = None  # started at or after
    end: datetime | None = None  # started before
    payment_state: str | None = None  # a SettlementState
    organisation_id: int | None = None


def filtered_sessions(actor: Actor, f: SessionFilter) -> Select[ChargingSession]:
    query = repo.sessions_query(actor)
    if f.site_id is not None:
        query = query.where(
            ChargingSession.charger_id.in_(select(Charger.id).where(Charger.site_id == f.site_id))
        )
    if f.organisation_id is not None:
        query = query.where(
            ChargingSession.charger_id.in_(
                select(Charger.id)
                .join(Site, Site.id == Charger.site_id)
                .where(Site.organisation_id == f.organisation_id)
            )
        )
    if f.charger_id is not None:
        query = query.where(ChargingSession.charger_id == f.charger_id)
    if f.driver_id is not None:
        query = query.where(ChargingSession.user_id == f.driver_id)
    if f.group is not None:
        group = normalize_group(f.group)
        if group == "public":
            query = query.where(
                func.coalesce(ChargingSession.price_group, literal("public")) == "public"
            )
        else:
            query = query.where(ChargingSession.price_group == group)
    if f.status is not None:
        query = query.where(ChargingSession.status == f.status)
    if f.payment_state is not None:
        query = query.where(ChargingSession.payment_state == f.payment_state)
    for condition in repo.in_period(ChargingSession.started_at, f.start, f.end):
        query = query.where(condition)
    return query


async def list_sessions(
    session: AsyncSession, actor: Actor, f: SessionFilter, cursor: str | None, limit: int
) -> tuple[list[SessionOut], str | None]:
    if f.start is not None and f.end is not None and f.end <= f.start:
        raise Invalid("`to` must be after `from`")
    rows, next_cursor = await repo.page(
        session, filtered_sessions(actor, f), ChargingSession.id, cursor, limit, newest_first=True
    )
    return await sessions_out(session, rows), next_cursor


async def sessions_out(session: AsyncSession, rows: list[ChargingSession]) -> list[SessionOut]:
    places = await repo.session_places(session, [r.charger_id for r in rows])
    return [
        SessionOut(
            id=r.id,
            charger_id=r.charger_id,
            charge_point_id=places.get(r.charger_id, ("?", None))[0],
            site_id=places.get(r.charger_id, ("?", None))[1],
            evse_id=r.evse_id,
            driver_id=r.user_id,
            id_token=r.id_token,
            status=r.status,
            started_at=r.started_at,
            stopped_at=r.stopped_at,
            energy_wh=r.energy_wh,
            cost_ore=r.cost_ore,
            vat_ore=r.vat_ore,
            price_group=r.price_group,
            payment_state=r.payment_state,
            stop_reason=r.stop_reason,
            flags=list(r.flags or []),
        )
        for r in rows
    ]


# --------------------------------------------------------------------------- reports

REPORT_KEYS = ("site", "group", "driver", "day")


async def energy_report(
    session: AsyncSession,
    actor: Actor,
    *,
    start: datetime,
    end: datetime,
    by: str,
    site_id: int | None = None,
    organisation_id: int | None = None,
) -> EnergyReport:
    """Completed sessions that started in [start, end) at the actor's sites, summed."""
    if end <= start:
        raise Invalid("`to` must be after `from`")
    if by not in REPORT_KEYS:
        raise Invalid(f"by is one of {', '.join(REPORT_KEYS)}")
    if site_id is not None:
        await repo.get_site(session, actor, site_id)
    if organisation_id is not None:
        await repo.get_organisation(session, actor, organisation_id)
    cs = ChargingSession
    base = (
        filtered_sessions(
            actor, SessionFilter(site_id=site_id, status="completed", start=start, end=end)
        )
        .with_only_columns(cs.id)
        .order_by(None)
    )
    if organisation_id is not None:
        base = base.where(
            cs.charger_id.in_(
                select(Charger.id)
                .join(Site, Site.id == Charger.site_id)
                .where(Site.organisation_id == organisation_id)
            )
        )
    measures = (
        func.count(cs.id),
        func.coalesce(func.sum(cs.energy_wh), 0),
        func.coalesce(func.sum(cs.cost_ore), 0),
        func.coalesce(func.sum(cs.vat_ore), 0),
    )
    query: Select[Any]
    if by == "site":
        key: Any = func.coalesce(Site.id, 0)
        query = (
            select(key, func.coalesce(Site.name, literal("-")), *measures)
            .select_from(cs)
            .join(Charger, Charger.id == cs.charger_id)
            .outerjoin(Site, Site.id == Charger.site_id)
            .group_by(key, Site.name)
        )
    elif by == "group":
        key = func.coalesce(cs.price_group, literal("public"))
        query = select(key, key, *measures).select_from(cs).group_by(key)
    elif by == "driver":
        key = func.coalesce(cs.user_id, 0)
        label = func.coalesce(func.nullif(User.name, ""), User.phone, literal("(guest)"))
        query = (
            select(key, label, *measures)
            .select_from(cs)
            .outerjoin(User, User.id == cs.user_id)
            .group_by(key, User.name, User.phone)
        )
    else:
        query = select(cs.id)
    if by == "day":
        rows = await _by_oslo_day(session, base, start, end)
    else:
        rows = [
            EnergyRow(
                key=str(k),
                label=str(label),
                sessions=int(n),
                energy_wh=int(wh or 0),
                total_ore=int(total or 0),
                vat_ore=int(vat or 0),
            )
            for k, label, n, wh, total, vat in await session.execute(query.where(cs.id.in_(base)))
        ]
    rows.sort(key=lambda r: (r.label.lower(), r.key))
    return EnergyReport(
        start=start,
        end=end,
        by=by,
        rows=rows,
        total_energy_wh=sum(r.energy_wh for r in rows),
        total_ore=sum(r.total_ore for r in rows),
    )


async def _by_oslo_day(
    session: AsyncSession, ids: Select[int], start: datetime, end: datetime
) -> list[EnergyRow]:
    """Per day in Europe/Oslo, summed in SQL (core.orgs.sqltime)."""
    from core.orgs.sqltime import as_date, oslo_bucket

    cs = ChargingSession
    day = oslo_bucket(session.get_bind().dialect.name, cs.started_at, "day", start, end)
    rows = await session.execute(
        select(
            day,
            func.count(cs.id),
            func.coalesce(func.sum(cs.energy_wh), 0),
            func.coalesce(func.sum(cs.cost_ore), 0),
            func.coalesce(func.sum(cs.vat_ore), 0),
        )
        .where(cs.id.in_(ids))
        .group_by(day)
    )
    out = []
    for at, n, wh, total, vat in rows:
        key = as_date(at).isoformat()
        out.append(
            EnergyRow(
                key=key,
                label=key,
                sessions=int(n),
                energy_wh=int(wh or 0),
                total_ore=int(total or 0),
                vat_ore=int(vat or 0),
            )
        )
    return out
