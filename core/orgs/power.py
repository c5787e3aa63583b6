"""Power management as staff see it (dashboard page 7), on what the platform has today: a
site's grid limits (main fuse per line, peak power cap) and its chargers' maximum power;
the load now per line against the fuse, from the open sessions' latest meter values; how
core.power's allocator would share the fuse between the cars charging now; and the log of
changes. No balancer sends charging profiles from these settings yet (core.power has the
allocator and the grid model, not a service): the page says so.

Wiring is assumed TN 400 V, three-phase chargers in the L1L2L3 rotation (no per-site
wiring is stored yet); a car's current is its latest measured phase current, or its power
over 3 x 230 V.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.chargers import admin
from core.chargers.service import ChargerError
from core.models import AuditEntry, Charger, ChargingSession, MeterSample, Site
from core.models.charging import OPEN_STATUSES
from core.orgs import repository as repo
from core.orgs.audit import record, snapshot
from core.orgs.errors import Invalid
from core.orgs.scope import Access, Actor
from core.power.grid import Grid, LoadPoint, SiteLayout, Wiring, line_loads, solve

PHASE_V = 230.0
THREE_PHASE_W_PER_A = 3 * PHASE_V


@dataclass(frozen=True)
class PointNow:
    charger_id: int
    charge_point_id: str
    evse_id: int
    session_id: int
    power_w: int
    current_a: float  # measured (or from power)
    cap_a: float  # what the connector and charger allow
    allocated_a: float | None  # what the allocator would give it (None: no fuse set)
    reason: str | None


@dataclass(frozen=True)
class SiteLoad:
    site: Site
    fuse_a: int | None
    peak_w: int | None
    lines_a: list[float]  # measured, per site line L1..L3
    power_w: int
    points: list[PointNow]
    chargers: list[Charger]

    @property
    def worst_share(self) -> float | None:
        """The fullest line's share of the fuse (None without a fuse)."""
        if not self.fuse_a:
            return None
        return max(self.lines_a) / self.fuse_a


async def _open_points(session: AsyncSession, site_id: int) -> list[tuple[Any, ...]]:
    """(session id, charger id, cp id, evse, power W, last current A, connector max W,
    charger max W) of the open sessions at a site."""
    latest = (
        select(MeterSample.current_a)
        .where(MeterSample.session_id == ChargingSession.id, MeterSample.current_a.is_not(None))
        .order_by(MeterSample.sampled_at.desc(), MeterSample.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    rows = await session.execute(
        select(
            ChargingSession.id,
            Charger.id,
            Charger.charge_point_id,
            func.coalesce(ChargingSession.evse_id, 1),
            func.coalesce(ChargingSession.last_power_w, 0),
            latest,
            Charger.max_power_w,
        )
        .join(Charger, Charger.id == ChargingSession.charger_id)
        .where(Charger.site_id == site_id, ChargingSession.status.in_(OPEN_STATUSES))
        .order_by(Charger.charge_point_id, ChargingSession.evse_id)
    )
    return [tuple(r) for r in rows]


async def site_load(session: AsyncSession, actor: Actor, site_id: int) -> SiteLoad:
    site = await repo.get_site(session, actor, site_id)
    chargers = list(
        (
            await session.execute(
                repo.chargers_query(actor)
                .where(Charger.site_id == site.id, Charger.removed_at.is_(None))
                .order_by(Charger.charge_point_id)
            )
        ).scalars()
    )
    connector_w = {(c.id, k.evse_id): k.max_power_w for c in chargers for k in c.connectors}
    open_rows = await _open_points(session, site.id)
    measured: list[float] = []
    caps: list[float] = []
    points: list[LoadPoint] = []
    for sid, cid, _, evse, power, current, charger_w in open_rows:
        measured.append(float(current) if current is not None else power / THREE_PHASE_W_PER_A)
        cap_w = min(connector_w.get((cid, evse), charger_w or 22_000), charger_w or 10**9)
        caps.append(round(cap_w / THREE_PHASE_W_PER_A, 1))
        points.append(
            LoadPoint(
                key=sid,
                wiring=Wiring(3),
                demand_a=caps[-1],
                circuit=cid,
                circuit_a=(charger_w / THREE_PHASE_W_PER_A) if charger_w else None,
            )
        )
    grid = Grid(fuse_a=float(site.grid_capacity_a or 10**6), peak_w=site.grid_capacity_w)
    layout = SiteLayout(grid, points)
    lines = [round(x, 1) for x in line_loads(layout, measured)] if points else [0.0, 0.0, 0.0]
    shares: list[Any] = [None] * len(points)
    if points and (site.grid_capacity_a or site.grid_capacity_w):
        _, allocation = solve(layout)
        shares = allocation.shares
    out = [
        PointNow(
            cid,
            cp,
            evse,
            sid,
            int(power),
            round(m, 1),
            cap,
            share.limit_a if share is not None else None,
            str(share.reason) if share is not None else None,
        )
        for (sid, cid, cp, evse, power, _, _), m, cap, share in zip(
            open_rows, measured, caps, shares, strict=True
        )
    ]
    return SiteLoad(
        site,
        site.grid_capacity_a,
        site.grid_capacity_w,
        lines,
        sum(p.power_w for p in out),
        out,
        chargers,
    )


async def set_limits(
    session: AsyncSession, actor: Actor, site_id: int, *, fuse_a: int | None, peak_w: int | None
) -> Site:
    """The site's main fuse (A per line) and peak power cap (W); None removes a limit."""
    site = await repo.get_site(session, actor, site_id)
    actor.require(Access.WRITE, site.organisation_id, "site")
    if fuse_a is not None and not 6 <= fuse_a <= 10_000:
        raise Invalid("a main fuse is 6-10000 A")
    if peak_w is not None and not 1_000 <= peak_w <= 100_000_000:
        raise Invalid("a peak power cap is 1-100000 kW")
    before = snapshot(site)
    site.grid_capacity_a, site.grid_capacity_w = fuse_a, peak_w
    await session.flush()
    await record(
        session, actor, "site.power", "site", site.id, site.organisation_id,
        before=before, after=snapshot(site),
    )  # fmt: skip
    return site


async def set_charger_max(
    session: AsyncSession, actor: Actor, charger_id: int, max_power_w: int
) -> Charger:
    """A charger's (and its connectors') maximum power, as `ladeflyt charger update`."""
    charger = await repo.get_charger(session, actor, charger_id)
    if not 1_000 <= max_power_w <= 1_000_000:
        raise Invalid("a charger's maximum is 1-1000 kW")
    try:
        return await admin.update_charger(
            session,
            actor,
            charger.charge_point_id,
            admin.ChargerChanges(max_power_w=max_power_w),
        )
    except ChargerError as error:
        raise Invalid(str(error)) from None


async def events(
    session: AsyncSession, actor: Actor, site_id: int, limit: int = 50
) -> list[AuditEntry]:
    """Changes to the site's limits and its chargers, and commands sent to them, newest
    first (as the audit log has them; empty for roles that may not read it)."""
    site = await repo.get_site(session, actor, site_id)
    chargers = select(cast(Charger.id, String)).where(Charger.site_id == site.id)
    return list(
        (
            await session.execute(
                repo.audit_query(actor)
                .where(
                    or_(
                        (AuditEntry.object_type == "site")
                        & (AuditEntry.object_id == str(site.id))
                        & (AuditEntry.action == "site.power"),
                        (AuditEntry.object_type == "charger")
                        & AuditEntry.object_id.in_(chargers)
                        & AuditEntry.action.in_(("charger.update", "charger.command")),
                    )
                )
                .order_by(AuditEntry.id.desc())
                .limit(limit)
            )
        ).scalars()
    )
