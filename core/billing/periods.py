"""Billing periods: calendar months in Europe/Oslo, as UTC bounds."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

from core.timeutil import OSLO, utcnow


class PeriodError(ValueError):
    """Not a YYYY-MM period."""


def parse_period(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{4})-(\d{2})\s*", text)
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise PeriodError(f"not a period: {text!r} (use YYYY-MM)")
    return int(match.group(1)), int(match.group(2))


def month_of(text: str) -> str:
    """`text` as a canonical period ("2026-3 " is not one; " 2026-03" is "2026-03")."""
    year, month = parse_period(text)
    return f"{year:04d}-{month:02d}"


def previous_period(now: datetime | None = None) -> str:
    """The month before `now`'s (Oslo): what a run or a bill is usually for."""
    first = (now or utcnow()).astimezone(OSLO).date().replace(day=1)
    return month_of(f"{first.year - (first.month == 1):04d}-{(first.month - 2) % 12 + 1:02d}")


def period_bounds(period: str) -> tuple[datetime, datetime]:
    """[first day 00:00, first day of the next month 00:00) Oslo time, in UTC."""
    year, month = parse_period(period)
    nxt = (year + 1, 1) if month == 12 else (year, month + 1)
    start = datetime(year, month, 1, tzinfo=OSLO).astimezone(UTC)
    end = datetime(nxt[0], nxt[1], 1, tzinfo=OSLO).astimezone(UTC)
    return start, end


def unfinished(period: str, now: datetime) -> date | None:
    """The first day (Oslo) after `period` if the period has not ended by `now`: sessions
    may still come in, so it is not ready to invoice."""
    end = period_bounds(period)[1]
    return end.astimezone(OSLO).date() if now < end else None


def range_bounds(text: str) -> tuple[datetime, datetime]:
    """A month (YYYY-MM) or a whole year (YYYY), as UTC bounds."""
    value = text.strip()
    if re.fullmatch(r"\d{4}", value):
        year = int(value)
        return (
            datetime(year, 1, 1, tzinfo=OSLO).astimezone(UTC),
            datetime(year + 1, 1, 1, tzinfo=OSLO).astimezone(UTC),
        )
    return period_bounds(value)


def months_between(start: datetime, end: datetime) -> list[str]:
    """The YYYY-MM periods (Oslo) that [start, end) touches."""
    first, last = start.astimezone(OSLO), (end - timedelta(microseconds=1)).astimezone(OSLO)
    out = []
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        out.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def local_date(instant: datetime) -> date:
    return instant.astimezone(OSLO).date()


def local_today() -> date:
    return local_date(utcnow())
