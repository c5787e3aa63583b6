"""The pricing math: a tariff applied to a session's usage, with no database in sight.

Money rules (tested in tests/tariffs/test_engine.py):
- Tariff prices are excl. VAT, in øre (Decimal); quantities are exact (Fractions: energy
  interpolated between meter samples, time to the microsecond).
- One line per component that applies. raw = sum of quantity * unit price over the component's
  window, then the component's cap (per session, excl. VAT) if it has one.
- net = round_half_up(raw) to whole øre, half away from zero (0.5 → 1, 2.5 → 3).
- vat = round_half_up(net * 25 / 100), once per line; total = net + vat.
- The session's net, VAT and total are the sums of its lines, never recomputed from a sum,
  so the total always equals the sum of the lines.
- Displayed quantities (3 decimals) and incl.-VAT unit prices are rounded for display only.

Components:
- energy: øre/kWh for the energy delivered inside the window.
- spot_energy: per quarter hour, (area spot price + markup) øre/kWh. A negative spot price
  counts as 0 ("floor", the default) or lowers the price ("pass"), but a line never goes
  below 0: drivers are not paid to charge. A quarter hour without a published price uses the
  component's fallback price, or pricing fails (SpotPriceMissing): never a guessed price.
- time: per minute/hour the car draws power inside the window.
- parking: per minute/hour it does not (see core.tariffs.usage), after the first
  `grace_minutes` of such time in the session (counted whatever the window).
- session: once, if the session starts inside the window.
- Any component may be limited to a power band: it applies when the session's highest
  power lies in [min_power_kw, max_power_kw).
Start fees, caps, grace periods and power bands are per session by definition; every other
component is additive, so a session split in two costs the same up to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction
from itertools import pairwise
from typing import TypeVar

from core.models.billing import ComponentKind
from core.tariffs.errors import SpotPriceMissing
from core.tariffs.schemas import CostBreakdown, CostLine
from core.tariffs.texts import ORDER, describe, public_kind
from core.tariffs.usage import Usage, seconds
from core.tariffs.windows import Window

VAT_RATE = Fraction(25, 100)
QUARTER = timedelta(minutes=15)
SPOT_AREAS = ("NO1", "NO2", "NO3", "NO4", "NO5")
UNITS = {
    ComponentKind.ENERGY: ("kWh",),
    ComponentKind.SPOT_ENERGY: ("kWh",),
    ComponentKind.TIME: ("min", "h"),
    ComponentKind.PARKING: ("min", "h"),
    ComponentKind.SESSION: ("session",),
}
_SECONDS_PER_UNIT = {"min": 60, "h": 3600}
_MILLI = Decimal("0.001")
_PRICE_DIGITS = Decimal("0.0001")

# area → quarter-hour start (UTC) → spot price, øre/kWh excl. VAT
SpotPrices = Mapping[str, Mapping[datetime, Decimal]]


def round_half_up(value: Fraction | Decimal | int) -> int:
    """Round to a whole number, halves away from zero."""
    exact = Fraction(value)
    magnitude = math.floor(abs(exact) + Fraction(1, 2))
    return -magnitude if exact < 0 else magnitude


def vat_of(net_ore: int) -> int:
    return round_half_up(Fraction(net_ore) * VAT_RATE)


def quarter_of(instant: datetime) -> datetime:
    """The start of the quarter hour (UTC) that contains `instant`."""
    utc = instant.astimezone(UTC)
    return utc.replace(minute=utc.minute - utc.minute % 15, second=0, microsecond=0)


@dataclass(frozen=True)
class ComponentSpec:
    kind: ComponentKind
    price_ore: Decimal  # excl. VAT per unit; the markup for spot_energy
    unit: str
    window: Window = field(default_factory=Window)
    grace_minutes: int = 0
    cap_ore: Decimal | None = None
    min_power_kw: Decimal | None = None
    max_power_kw: Decimal | None = None
    spot_area: str | None = None
    spot_fallback_ore: Decimal | None = None
    spot_negative: str = "floor"
    id: int | None = None

    def in_band(self, power_w: int | None) -> bool:
        kw = Decimal(power_w or 0) / 1000
        if self.min_power_kw is not None and kw < self.min_power_kw:
            return False
        return self.max_power_kw is None or kw < self.max_power_kw

    def describe(self, lang: str) -> str:
        return describe(
            self.kind,
            lang,
            window=self.window.describe(lang),
            spot_area=self.spot_area,
            grace_minutes=self.grace_minutes,
            min_power_kw=self.min_power_kw,
            max_power_kw=self.max_power_kw,
        )

    def spot_part(self, prices: SpotPrices, slot: datetime) -> tuple[Decimal, bool]:
        """The spot price used for a quarter hour, and whether the fallback stood in."""
        assert self.spot_area is not None
        price = prices.get(self.spot_area, {}).get(slot)
        fallback = price is None
        if price is None:
            if self.spot_fallback_ore is None:
                raise SpotPriceMissing(self.spot_area, slot)
            price = self.spot_fallback_ore
        if self.spot_negative == "floor" and price < 0:
            price = Decimal(0)
        return price, fallback


@dataclass(frozen=True)
class TariffSpec:
    components: tuple[ComponentSpec, ...] = ()
    id: int | None = None
    name: str = ""

    def ordered(self) -> list[ComponentSpec]:
        """AFIR order (kWh, minute, session); the operator's order within each."""
        return sorted(self.components, key=lambda c: ORDER[c.kind])


def _pieces(
    window: Window, a: datetime, b: datetime, extra: Iterable[datetime] = ()
) -> Iterator[tuple[datetime, datetime]]:
    """The sub-intervals of [a, b) that lie inside the window, cut at `extra` too."""
    cuts = sorted({a, b, *window.boundaries(a, b), *(t for t in extra if a < t < b)})
    for lo, hi in pairwise(cuts):
        # Membership only changes at boundaries, so the start of a piece decides it.
        if window.contains(lo):
            yield lo, hi


def _quarters(a: datetime, b: datetime) -> Iterator[datetime]:
    t = quarter_of(a)
    while t < b:
        yield t
        t += QUARTER


def _idle_after_grace(
    usage: Usage, grace_minutes: int, idle_before: Fraction = Fraction(0)
) -> list[tuple[datetime, datetime]]:
    grace = max(Fraction(grace_minutes * 60) - idle_before, Fraction(0))
    out = []
    for span in usage.spans:
        if span.charging:
            continue
        length = seconds(span.start, span.end)
        free = min(length, grace)
        grace -= free
        if free < length:
            start = span.start + timedelta(microseconds=int(free * 1_000_000))
            out.append((start, span.end))
    return out


@dataclass(frozen=True)
class Raw:
    """A component's exact quantity and amount over a stretch of a session, before its cap
    and rounding. Stretches that follow each other add up."""

    quantity: Fraction = Fraction(0)
    amount: Fraction = Fraction(0)
    fallback: bool = False
    # A quarter hour without a spot price: raised only if the component applies.
    missing: SpotPriceMissing | None = None

    def __add__(self, later: Raw) -> Raw:
        return Raw(
            self.quantity + later.quantity,
            self.amount + later.amount,
            self.fallback or later.fallback,
            self.missing or later.missing,
        )


def _energy_pieces(
    window: Window, usage: Usage, cuts: Iterable[datetime] = ()
) -> list[tuple[datetime, datetime]]:
    """The stretches of the session inside the window; a zero-length session is one."""
    if usage.start == usage.end:
        return [(usage.start, usage.end)] if window.contains(usage.start) else []
    return list(_pieces(window, usage.start, usage.end, cuts))


def _energy(c: ComponentSpec, usage: Usage, _: SpotPrices, __: Fraction, ___: bool) -> Raw:
    wh = sum((usage.energy_between(a, b) for a, b in _energy_pieces(c.window, usage)), Fraction(0))
    return Raw(wh / 1000, wh / 1000 * Fraction(c.price_ore))


def _spot_energy(c: ComponentSpec, usage: Usage, spot: SpotPrices, _: Fraction, __: bool) -> Raw:
    # Not floored at 0 here: the floor is for the whole session (`finish`).
    quantity, amount, fallback = Fraction(0), Fraction(0), False
    for a, b in _energy_pieces(c.window, usage, _quarters(usage.start, usage.end)):
        kwh = usage.energy_between(a, b) / 1000
        if not kwh:
            continue
        try:
            spot_price, used_fallback = c.spot_part(spot, quarter_of(a))
        except SpotPriceMissing as missing:
            return Raw(missing=missing)
        fallback |= used_fallback
        quantity += kwh
        amount += kwh * (Fraction(spot_price) + Fraction(c.price_ore))
    return Raw(quantity, amount, fallback)


def _duration(
    c: ComponentSpec, usage: Usage, _: SpotPrices, idle_before: Fraction, __: bool
) -> Raw:
    if c.kind == ComponentKind.TIME:
        intervals = [(s.start, s.end) for s in usage.spans if s.charging]
    else:
        intervals = _idle_after_grace(usage, c.grace_minutes, idle_before)
    secs = sum(
        (seconds(a, b) for lo, hi in intervals for a, b in _pieces(c.window, lo, hi)),
        Fraction(0),
    )
    quantity = secs / _SECONDS_PER_UNIT[c.unit]
    return Raw(quantity, quantity * Fraction(c.price_ore))


def _session(c: ComponentSpec, usage: Usage, _: SpotPrices, __: Fraction, opening: bool) -> Raw:
    if opening and c.window.contains(usage.start):
        return Raw(Fraction(1), Fraction(c.price_ore))
    return Raw()


_RAW = {
    ComponentKind.ENERGY: _energy,
    ComponentKind.SPOT_ENERGY: _spot_energy,
    ComponentKind.TIME: _duration,
    ComponentKind.PARKING: _duration,
    ComponentKind.SESSION: _session,
}


@dataclass(frozen=True)
class Measure:
    """What a stretch of a session adds to its price: each component's Raw (in
    `TariffSpec.ordered()` order), charging and idle time, and the power seen. The measures
    of stretches that follow each other add up to the measure of the whole, exactly, so a
    running session is priced by adding its newest stretch to what came before
    (core.tariffs.live); caps, power bands, the spot floor and rounding apply to the sum."""

    raws: tuple[Raw, ...]
    charging_s: Fraction
    idle_s: Fraction
    peak_power_w: int | None  # highest power sample
    peak_average_w: Fraction | None  # highest average power between two samples

    def __add__(self, later: Measure) -> Measure:
        return Measure(
            tuple(a + b for a, b in zip(self.raws, later.raws, strict=True)),
            self.charging_s + later.charging_s,
            self.idle_s + later.idle_s,
            _highest(self.peak_power_w, later.peak_power_w),
            _highest(self.peak_average_w, later.peak_average_w),
        )

    @property
    def fallback(self) -> bool:
        """A spot price stood in somewhere: the published one may still come."""
        return any(r.fallback or r.missing for r in self.raws)

    @property
    def max_power_w(self) -> int | None:
        """The session's highest power: measured if any sample says, else read off the meter."""
        if self.peak_power_w is not None:
            return self.peak_power_w
        return None if self.peak_average_w is None else round(self.peak_average_w)


_N = TypeVar("_N", int, Fraction)


def _highest(a: _N | None, b: _N | None) -> _N | None:
    return b if a is None else a if b is None else max(a, b)


def measure(
    usage: Usage,
    tariff: TariffSpec,
    spot: SpotPrices | None = None,
    *,
    idle_before: Fraction = Fraction(0),
    opening: bool = True,
) -> Measure:
    """The measure of `usage`, a stretch of a session that had `idle_before` seconds of idle
    time before it (grace periods are per session); `opening`: it starts the session."""
    spot = spot or {}
    raws = tuple(_RAW[c.kind](c, usage, spot, idle_before, opening) for c in tariff.ordered())
    charging = sum((seconds(s.start, s.end) for s in usage.spans if s.charging), Fraction(0))
    peak_power, peak_average = usage.peak_power_w, usage.peak_average_w
    if peak_power is None and peak_average is None:
        peak_power = usage.max_power_w  # a usage built by hand
    return Measure(raws, charging, usage.duration_s - charging, peak_power, peak_average)


def price_usage(usage: Usage, tariff: TariffSpec, spot: SpotPrices | None = None) -> CostBreakdown:
    """Price a usage with a tariff. Raises SpotPriceMissing when a spot price is unknown."""
    return finish(tariff, measure(usage, tariff, spot), usage.start, usage.end, usage.energy_wh)


def finish(
    tariff: TariffSpec, m: Measure, start: datetime, end: datetime, energy_wh: Fraction
) -> CostBreakdown:
    """The cost of a whole session from its measure: power bands, caps, the spot floor,
    rounding and VAT per line. Raises SpotPriceMissing when a spot price is unknown."""
    lines: list[CostLine] = []
    notes: list[str] = []
    max_power_w = m.max_power_w
    for component, raw in zip(tariff.ordered(), m.raws, strict=True):
        if not component.in_band(max_power_w):
            continue
        if raw.missing is not None:
            raise raw.missing
        amount = raw.amount
        if component.kind == ComponentKind.SPOT_ENERGY:
            amount = max(amount, Fraction(0))  # drivers are not paid to charge
        if not raw.quantity:
            continue
        capped = component.cap_ore is not None and amount > Fraction(component.cap_ore)
        if capped:
            assert component.cap_ore is not None
            amount = Fraction(component.cap_ore)
        net = round_half_up(amount)
        vat = vat_of(net)
        if component.kind == ComponentKind.SPOT_ENERGY:
            unit_price = _to_decimal(max(raw.amount, Fraction(0)) / raw.quantity).quantize(
                _PRICE_DIGITS, rounding=ROUND_HALF_UP
            )
        else:
            unit_price = component.price_ore
        if raw.fallback:
            notes.append(f"spot_fallback:{component.spot_area}")
        lines.append(
            CostLine(
                kind=public_kind(component.kind),
                description_nb=component.describe("nb"),
                description_en=component.describe("en"),
                quantity=_to_decimal(raw.quantity).quantize(_MILLI, rounding=ROUND_HALF_UP),
                unit=component.unit,
                unit_price_ore=unit_price,
                net_ore=net,
                vat_ore=vat,
                total_ore=net + vat,
                capped=capped,
                spot_area=component.spot_area,
            )
        )
    duration = seconds(start, end)
    net_total = sum(line.net_ore for line in lines)
    vat_total = sum(line.vat_ore for line in lines)
    return CostBreakdown(
        lines=lines,
        net_ore=net_total,
        vat_ore=vat_total,
        total_ore=net_total + vat_total,
        tariff_id=tariff.id,
        tariff_name=tariff.name or None,
        energy_wh=round_half_up(energy_wh),
        duration_s=round_half_up(duration),
        charging_s=round_half_up(m.charging_s),
        idle_s=round_half_up(duration - m.charging_s),
        max_power_w=max_power_w,
        started_at=start,
        ended_at=end,
        notes=notes,
    )


def _to_decimal(value: Fraction) -> Decimal:
    return Decimal(value.numerator) / Decimal(value.denominator)
