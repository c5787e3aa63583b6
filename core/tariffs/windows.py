"""Time windows of tariff components: weekdays and hours in Europe/Oslo local time.

A window holds weekday bits (bit 0 = Monday) and an optional [start, end) range of minutes
of the local day; end < start wraps past midnight (22:00-06:00), start == end is the whole
day. The weekday is that of the instant itself, so Friday 22:00-Saturday 06:00 needs
Saturday in a "22:00-06:00" window's days to include the Saturday morning part.

Daylight saving: a window is about wall-clock time. On the last Sunday of March 00:00-06:00
lasts five real hours; on the last Sunday of October six hours and 02:00-03:00 two real
hours (both passes through 02:xx are inside it). `boundaries` yields every UTC instant where
membership can change, using both readings of an ambiguous wall time.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from core.tariffs.errors import TariffError
from core.timeutil import OSLO

ALL_DAYS = 0b1111111
WEEKDAYS = 0b0011111
WEEKEND = 0b1100000
DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_ALIASES = {
    **{name: i for i, name in enumerate(DAY_NAMES)},
    **{name: i for i, name in enumerate(("man", "tir", "ons", "tor", "fre", "lør", "søn"))},
}
_NB_DAYS = ("man", "tir", "ons", "tor", "fre", "lør", "søn")
DASH = "\u2013"  # en dash, as in "08:00\u201316:00"
_EN_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@dataclass(frozen=True)
class Window:
    weekdays: int = ALL_DAYS
    start_minute: int | None = None
    end_minute: int | None = None

    def __post_init__(self) -> None:
        if not 0 < self.weekdays <= ALL_DAYS:
            raise TariffError("a window needs at least one weekday")
        if (self.start_minute is None) != (self.end_minute is None):
            raise TariffError("a window has both a start and an end time, or neither")
        for minute in (self.start_minute, self.end_minute):
            if minute is not None and not 0 <= minute <= 1440:
                raise TariffError("window times are between 00:00 and 24:00")

    @property
    def always(self) -> bool:
        return self.weekdays == ALL_DAYS and not self.has_hours

    @property
    def has_hours(self) -> bool:
        return (
            self.start_minute is not None
            and self.end_minute is not None
            and self.start_minute % 1440 != self.end_minute % 1440
        )

    def contains(self, instant: datetime) -> bool:
        """Whether an aware instant lies inside the window."""
        local = instant.astimezone(OSLO)
        if not (self.weekdays >> local.weekday()) & 1:
            return False
        if not self.has_hours:
            return True
        assert self.start_minute is not None and self.end_minute is not None
        second = local.hour * 3600 + local.minute * 60 + local.second
        start, end = self.start_minute * 60, self.end_minute * 60
        if start < end:
            return start <= second < end
        return second >= start or second < end

    def boundaries(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """UTC instants strictly inside (start, end) where membership may change."""
        if self.always:
            return
        minutes = {0}
        if self.has_hours:
            assert self.start_minute is not None and self.end_minute is not None
            minutes |= {self.start_minute % 1440, self.end_minute % 1440}
        day = start.astimezone(OSLO).date() - timedelta(days=1)
        last = end.astimezone(OSLO).date() + timedelta(days=1)
        while day <= last:
            for minute in minutes:
                for instant in local_instants(day, minute):
                    if start < instant < end:
                        yield instant
            day += timedelta(days=1)

    def describe(self, lang: str) -> str | None:
        """ "man-fre 08:00-16:00" / "Mon-Fri 08:00-16:00"; None for always."""
        if self.always:
            return None
        parts = []
        if self.weekdays != ALL_DAYS:
            parts.append(describe_days(self.weekdays, lang))
        if self.has_hours:
            assert self.start_minute is not None and self.end_minute is not None
            parts.append(
                f"{format_minute(self.start_minute)}{DASH}{format_minute(self.end_minute)}"
            )
        return " ".join(parts)


def local_instants(day: date, minute: int) -> set[datetime]:
    """The UTC instants at which Oslo's clock shows `minute` on `day` (two if ambiguous)."""
    wall = datetime.combine(day, time()) + timedelta(minutes=minute)
    return {wall.replace(tzinfo=OSLO, fold=fold).astimezone(UTC).replace(fold=0) for fold in (0, 1)}


def describe_days(weekdays: int, lang: str) -> str:
    names = _NB_DAYS if lang == "nb" else _EN_DAYS
    if weekdays == WEEKDAYS:
        return "hverdager" if lang == "nb" else "weekdays"
    if weekdays == WEEKEND:
        return "helg" if lang == "nb" else "weekends"
    days = [i for i in range(7) if (weekdays >> i) & 1]
    runs: list[list[int]] = []
    for d in days:
        if runs and runs[-1][-1] == d - 1:
            runs[-1].append(d)
        else:
            runs.append([d])
    return ", ".join(
        names[r[0]] if len(r) == 1 else f"{names[r[0]]}{DASH}{names[r[-1]]}" for r in runs
    )


def format_minute(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def parse_days(text: str) -> int:
    """ "mon-fri", "sat,sun", "weekdays", "weekend", "all" (Norwegian names work too)."""
    value = text.strip().lower()
    if value in ("all", "alle", "*", ""):
        return ALL_DAYS
    if value in ("weekdays", "hverdager", "workdays"):
        return WEEKDAYS
    if value in ("weekend", "weekends", "helg"):
        return WEEKEND
    mask = 0
    for part in re.split(r"\s*,\s*", value):
        bounds = re.split(r"\s*[-\u2013]\s*", part)
        try:
            first, last = _DAY_ALIASES[bounds[0]], _DAY_ALIASES[bounds[-1]]
        except KeyError:
            raise TariffError(f"unknown day in {text!r}; use mon..sun, weekdays, weekend") from None
        if len(bounds) > 2:
            raise TariffError(f"bad day range {part!r}")
        day = first
        while True:
            mask |= 1 << day
            if day == last:
                break
            day = (day + 1) % 7
    return mask


def parse_clock(text: str) -> int:
    """ "08:00" → 480; "24:00" is the end of the day."""
    match = re.fullmatch(r"\s*(\d{1,2})(?::(\d{2}))?\s*", text)
    if not match:
        raise TariffError(f"not a time of day: {text!r} (use HH:MM)")
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if minute >= 60 or hour * 60 + minute > 1440:
        raise TariffError(f"not a time of day: {text!r}")
    return hour * 60 + minute
