"""Charging history as staff see it (dashboard page 3, and support): a filtered page of
sessions with place and driver, the period's totals, one session's detail (meter curve,
price breakdown, payments) and an export of every matching session. Scoped by core.orgs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.periods import PeriodError, month_of
from core.models import Charger, ChargingSession, MeterSample, Payment, Site, User
from core.orgs import repository as repo
from core.orgs.errors import Invalid
from core.orgs.fleet import SessionFilter, filtered_sessions
from core.orgs.scope import Actor
from core.tariffs.schemas import CostBreakdown
from core.timeutil import OSLO

EXPORT_CHUNK = 500  # the most one keyset page holds (core.orgs.paging)


def oslo_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=OSLO)


def period(start: date | None, end: date | None) -> tuple[datetime | None, datetime | None]:
    """Oslo dates, both inclusive, as the UTC instants [start, end + 1 day)."""
    if start is not None and end is not None and end < start:
        raise Invalid("the period ends before it starts")
    return (
        oslo_day_start(start) if start else None,
        oslo_day_start(end + timedelta(days=1)) if end else None,
    )


def month(text: str) -> str:
    """A billing period "YYYY-MM" (Invalid if it is not one)."""
    try:
        return month_of(text)
    except PeriodError as error:
        raise Invalid(str(error)) from None


@dataclass
class HistoryRow:
    id: int
    started_at: datetime
    stopped_at: datetime | None
    site: str
    charger: str
    evse_id: int | None
    driver_id: int | None
    driver: str  # name or phone for the actor's members; else the tag, or "guest"
    id_token: str | None
    group: str
    status: str
    payment_state: str
    energy_wh: int
    cost_ore: int | None


@dataclass
class Totals:
    sessions: int
    energy_wh: int
    cost_ore: int


async def rows_of(
    session: AsyncSession, actor: Actor, sessions: list[ChargingSession]
) -> list[HistoryRow]:
    chargers = {s.charger_id for s in sessions}
    places: dict[int, tuple[str, str]] = {}
    if chargers:
        for cid, cp, site in await session.execute(
            select(Charger.id, Charger.charge_point_id, Site.name)
            .outerjoin(Site, Site.id == Charger.site_id)
            .where(Charger.id.in_(chargers))
        ):
            places[cid] = (cp, site or "")
    users = {s.user_id for s in sessions if s.user_id}
    names: dict[int, str] = {}
    if users:
        # Only drivers the actor may see (their members): others are shown by tag.
        for uid, name, phone in await session.execute(
            repo.drivers_query(actor)
            .with_only_columns(User.id, User.name, User.phone)
            .where(User.id.in_(users))
        ):
            names[uid] = name or phone
    out = []
    for s in sessions:
        cp, site = places.get(s.charger_id, ("?", ""))
        known = names.get(s.user_id or 0)
        out.append(
            HistoryRow(
                id=s.id,
                started_at=s.started_at,
                stopped_at=s.stopped_at,
                site=site,
                charger=cp,
                evse_id=s.evse_id,
                driver_id=s.user_id if known else None,
                driver=known or s.id_token or "",
                id_token=s.id_token,
                group=s.price_group or "public",
                status=s.status,
                payment_state=s.payment_state,
                energy_wh=s.energy_wh,
                cost_ore=s.cost_ore,
            )
        )
    return out


async def history_page(
    session: AsyncSession, actor: Actor, f: SessionFilter, cursor: str | None, limit: int = 50
) -> tuple[list[HistoryRow], str | None]:
    rows, next_cursor = await repo.page(
        session, filtered_sessions(actor, f), ChargingSession.id, cursor, limit, newest_first=True
    )
    return await rows_of(session, actor, rows), next_cursor


async def totals(session: AsyncSession, actor: Actor, f: SessionFilter) -> Totals:
    cs = ChargingSession
    # One pass over the filtered rows themselves (no IN over their ids: 100,000 sessions
    # in a period sum in well under the page's second).
    n, wh, ore = (
        await session.execute(
            filtered_sessions(actor, f)
            .with_only_columns(
                func.count(cs.id),
                func.coalesce(func.sum(cs.energy_wh), 0),
                func.coalesce(func.sum(cs.cost_ore), 0),
            )
            .order_by(None)
        )
    ).one()
    return Totals(int(n), int(wh or 0), int(ore or 0))


async def export(
    session: AsyncSession, actor: Actor, f: SessionFilter
) -> AsyncIterator[list[HistoryRow]]:
    """Every matching session, newest first, in chunks (keyset paging: constant memory)."""
    cursor: str | None = None
    while True:
        rows, cursor = await repo.page(
            session,
            filtered_sessions(actor, f),
            ChargingSession.id,
            cursor,
            EXPORT_CHUNK,
            newest_first=True,
        )
        if rows:
            yield await rows_of(session, actor, rows)
        if cursor is None:
            return


@dataclass
class SessionDetail:
    row: HistoryRow
    session: ChargingSession
    breakdown: CostBreakdown | None
    # (sampled at, energy Wh since start, power W)
    samples: list[tuple[datetime, int | None, int | None]] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    organisation_id: int | None = None

    def chart(self) -> dict[str, Any]:
        """The meter curve for the page's chart: kWh delivered and kW, per sample."""
        start = self.session.meter_start_wh
        first = next((e for _, e, _ in self.samples if e is not None), None)
        base = start if start is not None else (first or 0)
        return {
            "x": [int(at.timestamp()) for at, _, _ in self.samples],
            "series": [
                {
                    "label": "kWh",
                    "values": [
                        None if e is None else round(max(e - base, 0) / 1000, 3)
                        for _, e, _ in self.samples
                    ],
                },
                {
                    "label": "kW",
                    "values": [
                        None if p is None else round(p / 1000, 2) for _, _, p in self.samples
                    ],
                },
            ],
        }


async def session_detail(session: AsyncSession, actor: Actor, session_id: int) -> SessionDetail:
    cs = await repo.get_session(session, actor, session_id)
    (row,) = await rows_of(session, actor, [cs])
    samples = [
        (at, energy, power)
        for at, energy, power in await session.execute(
            select(MeterSample.sampled_at, MeterSample.energy_wh, MeterSample.power_w)
            .where(MeterSample.session_id == cs.id)
            .order_by(MeterSample.sampled_at)
            .limit(5000)
        )
    ]
    payments = list(
        (
            await session.execute(
                select(Payment).where(Payment.session_id == cs.id).order_by(Payment.id)
            )
        ).scalars()
    )
    charger = await session.get_one(Charger, cs.charger_id)
    org = (await repo.organisations_of_sites(session, [charger.site_id])).get(charger.site_id or 0)
    breakdown = CostBreakdown.from_json(cs.cost_breakdown) if cs.cost_breakdown else None
    return SessionDetail(row, cs, breakdown, samples, payments, org)
