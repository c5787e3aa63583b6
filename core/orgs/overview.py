"""What the dashboard's overview shows: the actor's sites, chargers and connectors with
their live status, power now, sessions now and energy today (all scoped by core.orgs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import OPEN_STATUSES, Charger, ChargingSession, Connector, Organisation, Site
from core.orgs import repository as repo
from core.orgs.scope import Actor
from core.timeutil import OSLO, utcnow

# Connector statuses that need someone's attention.
FAULTY = frozenset({"Faulted", "Unavailable"})


def is_fault(status: str, error_code: str | None) -> bool:
    return status in FAULTY or (error_code not in (None, "", "NoError"))


@dataclass
class ConnectorNow:
    id: int
    evse_id: int
    connector_id: int
    connector_type: str
    max_power_w: int
    status: str
    error_code: str | None
    power_w: int = 0
    energy_wh: int = 0
    session_id: int | None = None

    @property
    def fault(self) -> bool:
        return is_fault(self.status, self.error_code)


@dataclass
class ChargerNow:
    id: int
    charge_point_id: str
    public_code: str | None
    online: bool
    status: str
    error_code: str | None
    last_seen_at: datetime | None
    connectors: list[ConnectorNow] = field(default_factory=list)

    @property
    def power_w(self) -> int:
        return sum(c.power_w for c in self.connectors)

    @property
    def fault(self) -> bool:
        return is_fault(self.status, self.error_code) or any(c.fault for c in self.connectors)


@dataclass
class SiteNow:
    id: int | None
    name: str
    address: str
    organisation: str
    latitude: float | None
    longitude: float | None
    grid_capacity_w: int | None
    chargers: list[ChargerNow] = field(default_factory=list)
    energy_today_wh: int = 0

    @property
    def power_w(self) -> int:
        return sum(c.power_w for c in self.chargers)

    @property
    def sessions_now(self) -> int:
        return sum(1 for c in self.chargers for k in c.connectors if k.session_id is not None)

    @property
    def faults(self) -> int:
        return sum(1 for c in self.chargers if c.fault or not c.online)


@dataclass
class Overview:
    sites: list[SiteNow]

    @property
    def power_w(self) -> int:
        return sum(s.power_w for s in self.sites)

    @property
    def sessions_now(self) -> int:
        return sum(s.sessions_now for s in self.sites)

    @property
    def energy_today_wh(self) -> int:
        return sum(s.energy_today_wh for s in self.sites)

    @property
    def chargers(self) -> int:
        return sum(len(s.chargers) for s in self.sites)

    @property
    def faults(self) -> int:
        return sum(s.faults for s in self.sites)


def start_of_today(now: datetime | None = None) -> datetime:
    local = (now or utcnow()).astimezone(OSLO)
    return datetime.combine(local.date(), time(0), tzinfo=OSLO)


async def overview(session: AsyncSession, actor: Actor, *, site_id: int | None = None) -> Overview:
    sites_q = repo.sites_query(actor).order_by(Site.name)
    if site_id is not None:
        sites_q = sites_q.where(Site.id == site_id)
    sites = list((await session.execute(sites_q)).scalars())
    orgs = dict(
        (
            await session.execute(
                select(Organisation.id, Organisation.name).where(
                    Organisation.id.in_({s.organisation_id for s in sites if s.organisation_id})
                )
            )
        ).all()
    )
    out = {
        s.id: SiteNow(
            s.id,
            s.name,
            ", ".join(p for p in (s.address, s.city) if p),
            orgs.get(s.organisation_id, "") if s.organisation_id else "",
            s.latitude,
            s.longitude,
            s.grid_capacity_w,
        )
        for s in sites
    }
    if not out:
        return Overview([])
    chargers = list(
        (
            await session.execute(
                select(Charger)
                .where(Charger.site_id.in_(list(out)))
                .order_by(Charger.charge_point_id)
            )
        ).scalars()
    )
    by_id: dict[int, ChargerNow] = {}
    for c in chargers:
        now = ChargerNow(
            c.id, c.charge_point_id, c.public_code, c.online, c.status, c.error_code, c.last_seen_at
        )
        by_id[c.id] = now
        out[c.site_id or 0].chargers.append(now)
    connectors: dict[int, ConnectorNow] = {}
    for k in (
        await session.execute(
            select(Connector)
            .where(Connector.charger_id.in_(list(by_id)))
            .order_by(Connector.charger_id, Connector.evse_id, Connector.connector_id)
        )
    ).scalars():
        connectors[k.id] = ConnectorNow(
            k.id,
            k.evse_id,
            k.connector_id,
            k.connector_type,
            k.max_power_w,
            k.status,
            k.error_code,
        )
        by_id[k.charger_id].connectors.append(connectors[k.id])
    cs = ChargingSession
    open_rows = await session.execute(
        select(
            cs.id, cs.charger_id, cs.connector_pk, cs.evse_id, cs.last_power_w, cs.energy_wh
        ).where(cs.status.in_(OPEN_STATUSES), cs.charger_id.in_(list(by_id)))
    )
    for sid, charger_id, connector_pk, evse_id, power, energy in open_rows:
        target = connectors.get(connector_pk or 0)
        if target is None:
            target = next((k for k in by_id[charger_id].connectors if k.evse_id == evse_id), None)
        if target is not None:
            target.session_id, target.power_w, target.energy_wh = sid, power or 0, energy or 0
    today = start_of_today()
    site_of = {c.id: c.site_id for c in chargers}
    energy_rows = await session.execute(
        select(cs.charger_id, func.coalesce(func.sum(cs.energy_wh), 0))
        .where(cs.charger_id.in_(list(by_id)), cs.started_at >= today)
        .group_by(cs.charger_id)
    )
    for charger_id, wh in energy_rows:
        out[site_of[charger_id] or 0].energy_today_wh += int(wh or 0)
    return Overview(list(out.values()))


async def visible_charge_points(session: AsyncSession, actor: Actor) -> dict[str, int]:
    """charge point id → charger id of every charger the actor may see (for live events)."""
    query = select(Charger.charge_point_id, Charger.id)
    if actor.orgs() is not None:
        query = query.where(Charger.site_id.in_(repo.visible_site_ids(actor)))
    return {cp: cid for cp, cid in (await session.execute(query)).all()}
