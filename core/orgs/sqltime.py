"""Time in SQL, the same on PostgreSQL and SQLite: the Oslo day, week or month of a UTC
timestamp (PostgreSQL knows time zones; SQLite is given the offsets of the period, two
changes a year, as a CASE), seconds between two timestamps, the later and the earlier of two."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import Date, String, case, cast, extract, func, literal_column
from sqlalchemy.sql.elements import ColumnElement

from core.orgs.errors import Invalid
from core.timeutil import OSLO

STEPS = ("day", "week", "month")


def const(text: str) -> Any:
    """A string constant written into the SQL (our own words only): PostgreSQL matches a
    GROUP BY expression to the selected one only if their constants are not parameters."""
    assert "'" not in text
    return literal_column(f"'{text}'", String)


def oslo_midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=OSLO)


def oslo_offsets(start: datetime, end: datetime) -> list[tuple[datetime, int]]:
    """Europe/Oslo's UTC offset (seconds) over [start, end): (from when, offset) in order,
    the first from `start`. Transitions fall on whole UTC hours, found by a daily scan and
    an hourly bisection."""

    def offset(at: datetime) -> int:
        delta = at.astimezone(OSLO).utcoffset()
        return int(delta.total_seconds()) if delta else 0

    at = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    out = [(start, offset(start))]
    while at < end:
        step = min(at + timedelta(days=1), end)
        if offset(step) != out[-1][1]:
            lo, hi = at, step  # offset(lo) is the old one, offset(hi) the new one
            while hi - lo > timedelta(hours=1):
                mid = lo + (hi - lo) / 2
                mid = mid.replace(minute=0, second=0, microsecond=0)
                if mid <= lo:
                    mid = lo + timedelta(hours=1)
                if offset(mid) == out[-1][1]:
                    lo = mid
                else:
                    hi = mid
            out.append((hi, offset(hi)))
        at = step
    return out


def oslo_bucket(
    dialect: str, column: Any, step: str, start: datetime, end: datetime
) -> ColumnElement[Any]:
    """The Oslo day, week (its Monday) or month (its 1st) of a UTC timestamp column, as a
    SQL expression; its values read as dates with `as_date`. PostgreSQL knows time zones;
    SQLite gets the offsets of [start, end) as a CASE (a year has two changes)."""
    if step not in STEPS:
        raise Invalid(f"step is one of {', '.join(STEPS)}")
    if dialect == "postgresql":
        local = func.timezone(const("Europe/Oslo"), column)
        return cast(func.date_trunc(const(step), local), Date)
    offsets = oslo_offsets(start, end)
    modifier: Any
    if len(offsets) == 1:
        modifier = const(f"{offsets[0][1]:+d} seconds")
    else:
        modifier = case(
            *[
                (column < at, const(f"{offsets[i][1]:+d} seconds"))
                for i, (at, _) in enumerate(offsets[1:])
            ],
            else_=const(f"{offsets[-1][1]:+d} seconds"),
        )
    local = func.datetime(column, modifier)
    if step == "day":
        return func.date(local)
    if step == "week":
        return func.date(local, const("weekday 0"), const("-6 days"))
    return func.strftime(const("%Y-%m-01"), local)


def as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def buckets(start: date, end: date, step: str) -> list[date]:
    """Every bucket that [start, end] (inclusive) touches, in order."""
    if step == "day":
        first = start
    elif step == "week":
        first = start - timedelta(days=start.weekday())
    else:
        first = start.replace(day=1)
    out = []
    at = first
    while at <= end:
        out.append(at)
        if step == "day":
            at += timedelta(days=1)
        elif step == "week":
            at += timedelta(days=7)
        else:
            at = date(at.year + at.month // 12, at.month % 12 + 1, 1)
    return out


def seconds_between(dialect: str, start: Any, end: Any) -> ColumnElement[Any]:
    """`end - start` in seconds (a float)."""
    if dialect == "postgresql":
        return extract("epoch", end - start)
    # Julian days are floats: rounded to the millisecond, whole hours stay whole.
    return func.round((func.julianday(end) - func.julianday(start)) * 86400.0, 3)


def later(dialect: str, a: Any, b: Any) -> ColumnElement[Any]:
    return func.greatest(a, b) if dialect == "postgresql" else func.max(a, b)


def earlier(dialect: str, a: Any, b: Any) -> ColumnElement[Any]:
    return func.least(a, b) if dialect == "postgresql" else func.min(a, b)
