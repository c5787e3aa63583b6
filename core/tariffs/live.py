"""The running price of a session, kept up to date sample by sample, with no database in sight.

Pricing a session from scratch reads and walks all its samples: for a driver following a
10-hour session that is thousands of samples per update. A RunningPrice keeps the measure
(core.tariffs.engine.Measure) of the session up to its *frontier*, the last meter sample
whose place on the energy curve can no longer change, and on each update measures only the
stretch from the frontier to now. Measures of stretches add up exactly (Fractions), and
caps, power bands, the spot floor and rounding are applied to the sum by the same
`finish` as a full pricing, so the amounts are the same to the øre
(tests/tariffs/test_live_price.py checks this against `price_usage` for any session and
tariff).

What fixes a point of the curve: the sample is strictly before the session's end (now), has
a meter reading, and neither it nor an earlier one of the stretch was clamped to the total
(a meter ahead of the session's energy). What undoes the frontier, so the caller prices from
scratch once (`Stale`): a sample at or before it arriving late, a total below the energy
already fixed, an end before the frontier. A stretch priced with a fallback spot price is not
fixed either: the published price may still come, and a full pricing would use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from fractions import Fraction

from core.tariffs.engine import Measure, SpotPrices, TariffSpec, finish, measure
from core.tariffs.schemas import CostBreakdown
from core.tariffs.usage import Sample, build_usage


class Stale(Exception):
    """What is fixed no longer holds: price the session from scratch."""


class RunningPrice:
    def __init__(self, tariff: TariffSpec, start: datetime, meter_start_wh: int | None) -> None:
        self.tariff = tariff
        self.start = start
        self.meter_start_wh = meter_start_wh
        self.frontier = start
        self._fixed_wh = Fraction(0)  # energy on the curve at the frontier
        self._fixed: Measure | None = None  # the session's measure up to the frontier
        self._pending: list[Sample] = []  # samples at or after the frontier, in time order

    @property
    def pending(self) -> int:
        """Samples not yet behind the frontier (a handful while the meter reports)."""
        return len(self._pending)

    def add(self, samples: Iterable[Sample]) -> None:
        """New samples of the session; raises Stale if one lies at or before the frontier."""
        new = list(samples)
        if self._fixed is not None and any(s.at <= self.frontier for s in new):
            raise Stale("a sample arrived for a stretch already priced")
        self._pending.extend(new)
        self._pending.sort(key=lambda s: s.at)

    def price(self, end: datetime, energy_wh: int, spot: SpotPrices) -> CostBreakdown:
        """The cost of the session from its start to `end`, having delivered `energy_wh`.
        `spot` covers [frontier, end]. Raises SpotPriceMissing as a full pricing would."""
        end = max(end, self.start)
        total = Fraction(max(energy_wh, 0))
        if total < self._fixed_wh or (self._fixed is not None and end <= self.frontier):
            raise Stale("the session's energy or end moved behind what is priced")
        self._advance(end, total, spot)
        tail = self._measure(self.frontier, end, total, self._pending, spot)
        whole = tail if self._fixed is None else self._fixed + tail
        return finish(self.tariff, whole, self.start, end, total)

    # ------------------------------------------------------------------ internals

    def _advance(self, end: datetime, total: Fraction, spot: SpotPrices) -> None:
        """Move the frontier to the last sample that fixes a point of the curve."""
        if self.meter_start_wh is None:
            return  # no meter readings on the curve: it runs straight from start to end
        target: tuple[datetime, Fraction] | None = None
        running = self._fixed_wh
        pending = self._pending
        i = 0
        while i < len(pending) and pending[i].at < end:
            at = pending[i].at
            group = []
            while i < len(pending) and pending[i].at == at:
                group.append(pending[i])
                i += 1
            if at <= self.frontier:
                continue
            readings = [
                max(Fraction(s.energy_wh - self.meter_start_wh), Fraction(0))
                for s in group
                if s.energy_wh is not None
            ]
            if any(r > total for r in readings):
                break  # clamped to the total: its place moves while the total grows
            if readings:
                running = max(running, *readings)
                target = (at, running)
        if target is None:
            return
        at, energy = target
        stretch = [s for s in pending if s.at <= at]
        step = self._measure(self.frontier, at, energy, stretch, spot)
        if step.fallback:
            return
        self._fixed = step if self._fixed is None else self._fixed + step
        self.frontier, self._fixed_wh = at, energy
        self._pending = [s for s in pending if s.at >= at]

    def _measure(
        self,
        a: datetime,
        b: datetime,
        energy_at_b: Fraction,
        samples: list[Sample],
        spot: SpotPrices,
    ) -> Measure:
        """The measure of [a, b], a stretch starting at the frontier (energy `_fixed_wh`)
        and ending with `energy_at_b` on the curve."""
        offset = self._fixed_wh
        usage = build_usage(
            a,
            b,
            energy_wh=int(energy_at_b - offset),
            meter_start_wh=None
            if self.meter_start_wh is None
            else self.meter_start_wh + int(offset),
            samples=samples,
        )
        idle_before = Fraction(0) if self._fixed is None else self._fixed.idle_s
        return measure(usage, self.tariff, spot, idle_before=idle_before, opening=a == self.start)
