"""Energy and cost for any period (dashboard page 2): completed sessions at the actor's sites
summed per driver, group, site, company or for the whole facility, and per day, week or
month in Oslo time. Every sum is one grouped SQL query; nothing loops over sessions.

A "company" is the company a driver is invoiced through (their billing profile): the
tenants of a business building. Drivers the actor may not see (not their members) are
summed into one row without a name, and have no company.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from sqlalchemy import case, func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import BillingProfile, Charger, ChargingSession, Site, User
from core.orgs import repository as repo
from core.orgs.errors import Invalid
from core.orgs.fleet import SessionFilter, filtered_sessions
from core.orgs.scope import Actor
from core.orgs.sqltime import as_date, buckets, const, oslo_bucket, oslo_midnight
from core.timeutil import OSLO

BY = ("facility", "site", "group", "driver", "company")
CHART_SERIES = 5  # the largest keys get a line each; the rest share one
MAX_DAYS = 3700  # about ten years


@dataclass(frozen=True)
class EnergySum:
    key: str
    label: str
    sessions: int
    energy_wh: int
    cost_ore: int
    vat_ore: int

    @property
    def net_ore(self) -> int:
        return self.cost_ore - self.vat_ore


@dataclass
class Chart:
    """Per bucket (an Oslo day, week or month): kWh of each of the largest keys and of the
    rest (key None), and sessions and cost of all."""

    step: str
    buckets: list[date]
    series: list[tuple[str | None, str, list[int]]]  # (key, label, Wh per bucket)
    sessions: list[int] = field(default_factory=list)
    cost_ore: list[int] = field(default_factory=list)

    @property
    def energy_wh(self) -> list[int]:
        return [sum(s[2][i] for s in self.series) for i in range(len(self.buckets))]

    def spec(self, labels: list[str], x_label: str = "") -> dict[str, Any]:
        """For the page's uPlot chart: x in Unix seconds (Oslo midnight), kWh per series
        labelled `labels` (the series' labels as shown)."""
        return {
            "x": [int(oslo_midnight(b).timestamp()) for b in self.buckets],
            "series": [
                {"label": shown, "values": [round(wh / 1000, 3) for wh in values]}
                for shown, (_, _, values) in zip(labels, self.series, strict=True)
            ],
            "bars": len(self.series) == 1,
            "xLabel": x_label,
            "yLabel": "kWh",
        }


@dataclass
class EnergyView:
    start: date
    end: date  # inclusive
    by: str
    step: str
    rows: list[EnergySum]
    total: EnergySum
    chart: Chart


# --------------------------------------------------------------------------- periods


def presets(today: date) -> dict[str, tuple[date, date]]:
    """The page's presets: this and last month, quarter and year (inclusive dates)."""

    def month_end(d: date) -> date:
        return date(d.year + d.month // 12, d.month % 12 + 1, 1) - timedelta(days=1)

    month = today.replace(day=1)
    last_month = (month - timedelta(days=1)).replace(day=1)
    quarter = date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    last_quarter = (quarter - timedelta(days=1)).replace(day=1)
    last_quarter = date(last_quarter.year, 3 * ((last_quarter.month - 1) // 3) + 1, 1)
    return {
        "this_month": (month, month_end(month)),
        "last_month": (last_month, month - timedelta(days=1)),
        "this_quarter": (quarter, month_end(date(quarter.year, quarter.month + 2, 1))),
        "last_quarter": (last_quarter, quarter - timedelta(days=1)),
        "this_year": (date(today.year, 1, 1), date(today.year, 12, 31)),
        "last_year": (date(today.year - 1, 1, 1), date(today.year - 1, 12, 31)),
    }


# --------------------------------------------------------------------------- the sums


def _visible_drivers(actor: Actor) -> Any:
    return repo.drivers_query(actor).with_only_columns(User.id).order_by(None)


def _key(actor: Actor, by: str) -> tuple[Any, list[Any]]:
    """(key expression, outer joins) of a grouping; drivers the actor may not see are 0."""
    cs = ChargingSession
    seen_user: Any = (
        func.coalesce(cs.user_id, 0)
        if actor.orgs() is None
        else case((cs.user_id.in_(_visible_drivers(actor)), cs.user_id), else_=0)
    )
    if by == "facility":
        return None, []
    if by == "group":
        return func.coalesce(cs.price_group, const("public")), []
    if by == "site":
        return func.coalesce(Charger.site_id, 0), [(Charger, Charger.id == cs.charger_id)]
    if by == "driver":
        return seen_user, []
    if by == "company":
        company = func.coalesce(BillingProfile.company_name, const(""))
        return company, [(BillingProfile, BillingProfile.user_id == seen_user)]
    raise Invalid(f"by is one of {', '.join(BY)}")


def _sums_query(actor: Actor, f: SessionFilter, by: str, bucket: Any) -> Any:
    """One statement, one pass over the sessions: sums per (bucket, key) in a CTE, then
    per key (kind 0; its bucket is unused) and per (bucket, one of the largest keys or NULL
    for the rest) (kind 1). Rows: (kind, bucket, key, sessions, Wh, øre, VAT)."""
    cs = ChargingSession
    key, joins = _key(actor, by)
    completed = SessionFilter(**{**f.__dict__, "status": "completed"})
    inner = (
        filtered_sessions(actor, completed)
        .with_only_columns(
            bucket.label("b"),
            (key if key is not None else const("all")).label("k"),
            func.count(cs.id).label("n"),
            func.coalesce(func.sum(cs.energy_wh), 0).label("wh"),
            func.coalesce(func.sum(cs.cost_ore), 0).label("c"),
            func.coalesce(func.sum(cs.vat_ore), 0).label("v"),
        )
        .select_from(cs)
        .order_by(None)
    )
    for table, on in joins:
        inner = inner.outerjoin(table, on)
    # A constant is no grouping (and PostgreSQL refuses one in GROUP BY).
    g = inner.group_by(bucket, *([key] if key is not None else [])).cte("g")
    ranked = (
        select(
            g.c.k,
            func.row_number().over(order_by=(func.sum(g.c.wh).desc(), g.c.k)).label("rn"),
        )
        .group_by(g.c.k)
        .cte("ranked")
    )
    sums = (func.sum(g.c.n), func.sum(g.c.wh), func.sum(g.c.c), func.sum(g.c.v))
    per_key = select(literal_column("0").label("kind"), func.min(g.c.b), g.c.k, *sums).group_by(
        g.c.k
    )
    shown_key = case((ranked.c.rn <= CHART_SERIES, g.c.k)).label("kk")
    per_bucket = (
        select(literal_column("1"), g.c.b, shown_key, *sums)
        .select_from(g.join(ranked, ranked.c.k == g.c.k))
        .group_by(g.c.b, shown_key)
    )
    return union_all(per_key, per_bucket)


async def _labels(session: AsyncSession, by: str, keys: list[Any]) -> dict[str, str]:
    """Names of the keys that are ids (drivers, sites); other keys are their own names."""
    ids = [int(k) for k in keys if k is not None and str(k).isdigit() and int(k)]
    if by == "driver" and ids:
        rows = await session.execute(select(User.id, User.name, User.phone).where(User.id.in_(ids)))
        return {str(i): name or phone for i, name, phone in rows}
    if by == "site" and ids:
        sites = await session.execute(select(Site.id, Site.name).where(Site.id.in_(ids)))
        return {str(i): name for i, name in sites}
    if by in ("group", "company"):
        return {str(k): str(k) for k in keys if k is not None}
    return {}


async def energy(
    session: AsyncSession, actor: Actor, f: SessionFilter, *, by: str, step: str
) -> EnergyView:
    """Sums of the completed sessions `f` selects (it must have a start and an end)."""
    if f.start is None or f.end is None:
        raise Invalid("choose a period")
    if f.end <= f.start:
        raise Invalid("the period ends before it starts")
    if (f.end - f.start).days > MAX_DAYS:
        raise Invalid("choose a period of at most ten years")
    if by not in BY:
        raise Invalid(f"by is one of {', '.join(BY)}")
    dialect = session.get_bind().dialect.name
    bucket = oslo_bucket(dialect, ChargingSession.started_at, step, f.start, f.end)
    start_day = f.start.astimezone(OSLO).date()
    end_day = (f.end - timedelta(microseconds=1)).astimezone(OSLO).date()
    days = buckets(start_day, end_day, step)
    where = {d: i for i, d in enumerate(days)}

    found = list(await session.execute(_sums_query(actor, f, by, bucket)))
    labels = await _labels(session, by, [k for kind, _, k, *_ in found if kind == 0])
    rows: list[EnergySum] = []
    per_key: dict[str | None, list[int]] = {}
    sessions_per = [0] * len(days)
    cost_per = [0] * len(days)
    for kind, b, k, n, wh, cost, vat in found:
        key = None if k is None else str(k)
        if kind == 0:
            label = labels.get(key or "", "")
            rows.append(EnergySum(key or "", label, int(n), int(wh), int(cost), int(vat)))
            continue
        i = where.get(as_date(b))
        if i is None:
            continue
        per_key.setdefault(key, [0] * len(days))[i] += int(wh)
        sessions_per[i] += int(n)
        cost_per[i] += int(cost)
    rows.sort(key=lambda r: (-r.energy_wh, r.label.lower(), r.key))
    total = EnergySum(
        "all",
        "",
        sum(r.sessions for r in rows),
        sum(r.energy_wh for r in rows),
        sum(r.cost_ore for r in rows),
        sum(r.vat_ore for r in rows),
    )
    order = {r.key: i for i, r in enumerate(rows)}
    series = sorted(
        ((k, labels.get(k or "", ""), v) for k, v in per_key.items()),
        key=lambda s: order.get(s[0], len(order)) if s[0] is not None else len(order) + 1,
    )
    if not series:
        series = [("all" if by == "facility" else None, "", [0] * len(days))]
    chart = Chart(step, days, series, sessions_per, cost_per)
    return EnergyView(start_day, end_day, by, step, rows, total, chart)
