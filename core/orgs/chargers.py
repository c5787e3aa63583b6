"""The chargers page as staff see it (dashboard page 10): each charger with its site and
location, connectors, uptime and faults in a period; one charger's detail; the QR stickers
of connectors (each opens the guest pay page of that connector); remote commands. Scoped by
core.orgs; changes go through core.chargers.admin and core.orgs.fleet (audited)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import bus
from core.models import Charger, ChargerEvent, Site
from core.orgs import fleet, uptime
from core.orgs import repository as repo
from core.orgs.errors import Invalid
from core.orgs.scope import Access, Actor


@dataclass(frozen=True)
class ChargerRow:
    charger: Charger
    site: Site | None
    uptime: uptime.Uptime | None
    faults: int


@dataclass(frozen=True)
class SiteUptime:
    site: Site | None
    chargers: int
    uptime: uptime.Uptime


@dataclass(frozen=True)
class Sticker:
    charger_id: int
    code: str  # as printed on the charger
    evse_id: int
    connector_type: str
    max_kw: float
    site: str
    url: str


def _sites_by_id(sites: list[Site]) -> dict[int, Site]:
    return {s.id: s for s in sites}


async def charger_rows(
    session: AsyncSession,
    actor: Actor,
    start: datetime,
    end: datetime,
    site_id: int | None = None,
) -> list[ChargerRow]:
    """The actor's chargers in service (of one site if asked), by site and id."""
    query = repo.chargers_query(actor).where(Charger.removed_at.is_(None))
    if site_id is not None:
        await repo.get_site(session, actor, site_id)
        query = query.where(Charger.site_id == site_id)
    chargers = list((await session.execute(query.order_by(Charger.charge_point_id))).scalars())
    ids = [c.id for c in chargers]
    site_ids = {c.site_id for c in chargers if c.site_id is not None}
    sites = _sites_by_id(
        list((await session.execute(select(Site).where(Site.id.in_(site_ids)))).scalars())
        if site_ids
        else []
    )
    up = await uptime.uptime(session, actor, start, end, ids) if ids else {}
    counts = await uptime.fault_counts(session, actor, start, end, ids) if ids else {}
    rows = [
        ChargerRow(c, sites.get(c.site_id or 0), up.get(c.id), counts.get(c.id, 0))
        for c in chargers
    ]
    rows.sort(key=lambda r: ((r.site.name if r.site else "~").lower(), r.charger.charge_point_id))
    return rows


def site_uptimes(rows: list[ChargerRow]) -> list[SiteUptime]:
    """Each site's uptime: its chargers' online time over their observed time."""
    sums: dict[int, tuple[Site | None, int, float, float, float]] = {}
    for r in rows:
        key = r.site.id if r.site else 0
        site, n, observed, online, faulted = sums.get(key, (r.site, 0, 0.0, 0.0, 0.0))
        u = r.uptime or uptime.Uptime(0, 0, 0)
        sums[key] = (
            site,
            n + 1,
            observed + u.observed_s,
            online + u.online_s,
            faulted + u.faulted_s,
        )
    return [
        SiteUptime(site, n, uptime.Uptime(observed, online, faulted))
        for site, n, observed, online, faulted in sums.values()
    ]


async def writable_sites(session: AsyncSession, actor: Actor) -> list[Site]:
    """Sites where the actor may add or move chargers."""
    return list(
        (await session.execute(repo.sites_query(actor, Access.WRITE).order_by(Site.name))).scalars()
    )


@dataclass(frozen=True)
class ChargerDetail:
    charger: Charger
    site: Site | None
    organisation_id: int | None
    events: list[ChargerEvent]


async def charger_detail(session: AsyncSession, actor: Actor, charger_id: int) -> ChargerDetail:
    charger = await repo.get_charger(session, actor, charger_id)
    site = await session.get(Site, charger.site_id) if charger.site_id is not None else None
    events = list(
        (
            await session.execute(
                select(ChargerEvent)
                .where(ChargerEvent.charger_id == charger.id)
                .order_by(ChargerEvent.id.desc())
                .limit(20)
            )
        ).scalars()
    )
    return ChargerDetail(charger, site, site.organisation_id if site else None, events)


async def stickers(
    session: AsyncSession,
    actor: Actor,
    base_url: str,
    *,
    site_id: int | None = None,
    charger_id: int | None = None,
) -> list[Sticker]:
    """One sticker per connector of the actor's chargers in service (of a site, or one
    charger): the code printed on the charger and the link its QR code opens."""
    if charger_id is not None:
        chargers = [await repo.get_charger(session, actor, charger_id)]
    else:
        query = repo.chargers_query(actor).where(Charger.removed_at.is_(None))
        if site_id is not None:
            await repo.get_site(session, actor, site_id)
            query = query.where(Charger.site_id == site_id)
        chargers = list((await session.execute(query.order_by(Charger.charge_point_id))).scalars())
    site_ids = {c.site_id for c in chargers if c.site_id is not None}
    names: dict[int, str] = {}
    if site_ids:
        rows = await session.execute(select(Site.id, Site.name).where(Site.id.in_(site_ids)))
        names = {sid: name for sid, name in rows}
    base = base_url.rstrip("/")
    out = []
    for c in chargers:
        code = c.public_code or c.charge_point_id
        for k in sorted(c.connectors, key=lambda k: (k.evse_id, k.connector_id)):
            out.append(
                Sticker(
                    c.id,
                    code,
                    k.evse_id,
                    k.connector_type,
                    k.max_power_w / 1000,
                    names.get(c.site_id or 0, ""),
                    f"{base}/pay/{code}?evse={k.evse_id}",
                )
            )
    return out


# --------------------------------------------------------------------------- commands

Command = Literal["reset_soft", "reset_hard", "unlock", "trigger_status"]
COMMANDS: tuple[Command, ...] = ("reset_soft", "reset_hard", "unlock", "trigger_status")


async def command(
    session: AsyncSession,
    actor: Actor,
    commands: bus.CommandBus,
    charger_id: int,
    what: str,
    evse_id: int | None = None,
) -> fleet.CommandOutcome:
    """A remote command from the page (support access; audited with its outcome)."""
    sent: bus.Command
    if what == "reset_soft":
        sent = bus.Reset("soft")
    elif what == "reset_hard":
        sent = bus.Reset("hard")
    elif what == "unlock":
        if evse_id is None or not 1 <= evse_id <= 32:
            raise Invalid("choose the connector to unlock")
        sent = bus.UnlockConnector(connector_id=1, evse_id=evse_id)
    elif what == "trigger_status":
        sent = bus.TriggerMessage("StatusNotification")
    else:
        raise Invalid(f"unknown command {what!r}")
    return await fleet.send_command(session, actor, commands, charger_id, sent)
