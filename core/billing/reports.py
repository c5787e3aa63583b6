"""Energy and cost per user, customer group, site or month, for operators and site boards.

Counts completed sessions that stopped in the range (Europe/Oslo months). Costs are what
the sessions were priced at (incl. and excl. VAT); unpriced sessions count for energy and
are reported in `unpriced_sessions`, never as 0 kr.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.errors import BillingError
from core.billing.periods import PeriodError, months_between, period_bounds, range_bounds
from core.billing.schemas import ReportRow
from core.models import Charger, ChargingSession, SessionStatus, User
from core.models.infrastructure import Site

GROUPINGS = ("user", "group", "site", "month")


def _measures() -> list[Any]:
    cs = ChargingSession
    return [
        func.count(cs.id),
        func.coalesce(func.sum(cs.energy_wh), 0),
        func.coalesce(func.sum(cs.cost_ore - cs.vat_ore), 0),
        func.coalesce(func.sum(cs.vat_ore), 0),
        func.coalesce(func.sum(cs.cost_ore), 0),
        func.coalesce(func.sum(case((cs.cost_ore.is_(None), 1), else_=0)), 0),
    ]


def _row(key: object, label: object, measures: tuple[Any, ...]) -> ReportRow:
    count, energy, net, vat, total, unpriced = (int(v) for v in measures)
    return ReportRow(str(key), str(label), count, energy, net, vat, total, unpriced)


async def usage_report(
    session: AsyncSession, start: datetime, end: datetime, by: str
) -> list[ReportRow]:
    """Rows for [start, end), sorted by label."""
    if by not in GROUPINGS:
        raise BillingError(f"report by one of {', '.join(GROUPINGS)}")
    cs = ChargingSession
    in_range = (
        cs.status == SessionStatus.COMPLETED.value,
        cs.stopped_at >= start,
        cs.stopped_at < end,
    )
    if by == "month":
        rows = []
        for month in months_between(start, end):
            lo, hi = period_bounds(month)
            found = (
                await session.execute(
                    select(*_measures()).where(
                        cs.status == SessionStatus.COMPLETED.value,
                        cs.stopped_at >= max(lo, start),
                        cs.stopped_at < min(hi, end),
                    )
                )
            ).one()
            rows.append(_row(month, month, tuple(found)))
        return rows
    if by == "user":
        label = func.coalesce(func.nullif(User.name, ""), User.phone, literal("(ukjent)"))
        query = (
            select(cs.user_id, label, *_measures())
            .outerjoin(User, User.id == cs.user_id)
            .group_by(cs.user_id, User.name, User.phone)
        )
    elif by == "group":
        group = func.coalesce(cs.price_group, literal("public"))
        query = select(group, group, *_measures()).group_by(group)
    else:
        query = (
            select(Site.id, func.coalesce(Site.name, literal("(uten sted)")), *_measures())
            .join(Charger, Charger.id == cs.charger_id)
            .outerjoin(Site, Site.id == Charger.site_id)
            .group_by(Site.id, Site.name)
        )
    result = await session.execute(query.where(*in_range))
    rows = [_row(r[0] if r[0] is not None else "-", r[1], tuple(r[2:])) for r in result]
    return sorted(rows, key=lambda r: (r.label.lower(), r.key))


async def period_report(session: AsyncSession, period: str, by: str) -> list[ReportRow]:
    """A report for a month (YYYY-MM) or a year (YYYY)."""
    try:
        start, end = range_bounds(period)
    except PeriodError as exc:
        raise BillingError(str(exc)) from None
    return await usage_report(session, start, end, by)
