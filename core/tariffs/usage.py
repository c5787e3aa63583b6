"""What a session used, rebuilt from its meter samples: an energy curve and charging spans.

The energy curve is the meter register relative to the start, clamped to [0, total] and made
non-decreasing, with the session's own start (0) and stop (total) as its ends; energy between
two instants is read off it by linear interpolation. Energy inside a window is therefore
E(b) - E(a), and the pieces of any partition add up to the total exactly (Fractions, no
floats).

Charging spans say, for each stretch between two samples, whether the car drew power: the
power sample at the start of the stretch (≥ IDLE_BELOW_W) if there is one, else the average
power the energy curve shows over it. Without any evidence a session counts as charging,
so nobody pays an idle fee on missing data.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from functools import cached_property
from itertools import pairwise

# Below this a connected car counts as not charging (balancing, preconditioning draw a little).
IDLE_BELOW_W = 100

_US = timedelta(microseconds=1)


def seconds(a: datetime, b: datetime) -> Fraction:
    """Exact seconds from a to b."""
    return Fraction((b - a) // _US, 1_000_000)


@dataclass(frozen=True)
class Sample:
    at: datetime
    energy_wh: int | None = None  # the meter register
    power_w: int | None = None


@dataclass(frozen=True)
class Span:
    start: datetime
    end: datetime
    charging: bool


@dataclass(frozen=True)
class Usage:
    start: datetime
    end: datetime
    # (instant, Wh since start): strictly increasing instants, non-decreasing energy.
    curve: tuple[tuple[datetime, Fraction], ...]
    spans: tuple[Span, ...]
    max_power_w: int | None
    # What max_power_w was made of: the highest power sample, and the highest average power
    # between two knots (used when no sample has a power); see core.tariffs.engine.Measure.
    peak_power_w: int | None = None
    peak_average_w: Fraction | None = None

    @property
    def energy_wh(self) -> Fraction:
        return self.curve[-1][1]

    @property
    def duration_s(self) -> Fraction:
        return seconds(self.start, self.end)

    @cached_property
    def _times(self) -> list[datetime]:
        return [t for t, _ in self.curve]

    def energy_at(self, instant: datetime) -> Fraction:
        times = self._times
        if instant <= times[0]:
            return Fraction(0) if len(times) > 1 or instant < times[0] else self.energy_wh
        if instant >= times[-1]:
            return self.energy_wh
        i = bisect.bisect_right(times, instant) - 1
        (t0, e0), (t1, e1) = self.curve[i], self.curve[i + 1]
        return e0 + (e1 - e0) * seconds(t0, instant) / seconds(t0, t1)

    def energy_between(self, a: datetime, b: datetime) -> Fraction:
        if self.start == self.end:  # a zero-length session: all energy at its instant
            return self.energy_wh if a <= self.start < b or a == b == self.start else Fraction(0)
        return self.energy_at(b) - self.energy_at(a)

    def seconds_between(self, a: datetime, b: datetime, *, charging: bool) -> Fraction:
        total = Fraction(0)
        for span in self.spans:
            if span.charging != charging:
                continue
            lo, hi = max(a, span.start), min(b, span.end)
            if lo < hi:
                total += seconds(lo, hi)
        return total

    def split(self, at: datetime) -> tuple[Usage, Usage]:
        """Two usages covering [start, at] and [at, end]; they add up to this one."""
        if not self.start < at < self.end:
            raise ValueError("split point must lie inside the session")
        e_at = self.energy_at(at)
        left = [(t, e) for t, e in self.curve if t < at] + [(at, e_at)]
        right = [(at, Fraction(0))] + [(t, e - e_at) for t, e in self.curve if t > at]
        peaks = (self.max_power_w, self.peak_power_w, self.peak_average_w)
        return (
            Usage(self.start, at, tuple(left), _cut(self.spans, self.start, at), *peaks),
            Usage(at, self.end, tuple(right), _cut(self.spans, at, self.end), *peaks),
        )


def _cut(spans: Sequence[Span], a: datetime, b: datetime) -> tuple[Span, ...]:
    out = []
    for span in spans:
        lo, hi = max(a, span.start), min(b, span.end)
        if lo < hi:
            out.append(Span(lo, hi, span.charging))
    return tuple(out)


def build_usage(
    start: datetime,
    end: datetime,
    *,
    energy_wh: int,
    meter_start_wh: int | None,
    samples: Iterable[Sample],
    idle_below_w: int = IDLE_BELOW_W,
) -> Usage:
    """The usage of a session from start to end that delivered `energy_wh` in total."""
    end = max(end, start)
    total = Fraction(max(energy_wh, 0))
    inside = sorted((s for s in samples if start <= s.at <= end), key=lambda s: s.at)

    points: dict[datetime, Fraction] = {start: Fraction(0)}
    if meter_start_wh is not None:
        for s in inside:
            if s.energy_wh is not None and start < s.at < end:
                value = min(max(Fraction(s.energy_wh - meter_start_wh), Fraction(0)), total)
                points[s.at] = max(points.get(s.at, Fraction(0)), value)
    points[end] = total
    curve: list[tuple[datetime, Fraction]] = []
    running = Fraction(0)
    for t in sorted(points):
        # A meter that goes backwards is held at its highest reading: energy never shrinks.
        running = max(running, points[t]) if t != end else total
        curve.append((t, running))
    if start == end:
        curve = [(start, total)]

    power_at: dict[datetime, int] = {}
    for s in inside:
        if s.power_w is not None:
            power_at[s.at] = max(power_at.get(s.at, 0), s.power_w)

    knots = sorted({start, end, *power_at, *(t for t, _ in curve)})
    usage = Usage(start, end, tuple(curve), (), None)
    spans: list[Span] = []
    averages: list[Fraction] = []
    for a, b in pairwise(knots):
        average = usage.energy_between(a, b) * 3600 / seconds(a, b)
        averages.append(average)
        charging = power_at[a] >= idle_below_w if a in power_at else average >= idle_below_w
        if spans and spans[-1].charging == charging:
            spans[-1] = Span(spans[-1].start, b, charging)
        else:
            spans.append(Span(a, b, charging))

    peak_power = max(power_at.values()) if power_at else None
    peak_average = max(averages) if averages else None
    if peak_power is not None:
        max_power: int | None = peak_power
    elif peak_average is not None:
        max_power = round(peak_average)
    else:
        max_power = None
    return Usage(start, end, tuple(curve), tuple(spans), max_power, peak_power, peak_average)
