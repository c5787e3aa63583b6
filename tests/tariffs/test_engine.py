"""The pricing math on its own: windows, daylight saving, idle time, caps, bands, spot, VAT."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from core.models.billing import ComponentKind as K
from core.tariffs.engine import (
    ComponentSpec,
    TariffSpec,
    price_usage,
    quarter_of,
    round_half_up,
    vat_of,
)
from core.tariffs.errors import SpotPriceMissing
from core.tariffs.usage import Sample, build_usage
from core.tariffs.windows import WEEKEND, Window, parse_clock, parse_days
from core.timeutil import OSLO


def oslo(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An Oslo wall-clock time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=OSLO).astimezone(UTC)


def steady(start: datetime, end: datetime, kw: float, *, every_min: int = 15) -> list[Sample]:
    """A meter that climbs at `kw` from 0 Wh at start, sampled every few minutes."""
    samples, t = [], start
    while t <= end:
        wh = round((t - start).total_seconds() / 3600 * kw * 1000)
        samples.append(Sample(t, wh, round(kw * 1000)))
        t += timedelta(minutes=every_min)
    return samples


def usage_of(start: datetime, end: datetime, samples: list[Sample], energy_wh: int | None = None):
    total = energy_wh if energy_wh is not None else max(s.energy_wh or 0 for s in samples)
    return build_usage(start, end, energy_wh=total, meter_start_wh=0, samples=samples)


def energy(price: str, window: Window | None = None, **kw) -> ComponentSpec:
    return ComponentSpec(K.ENERGY, Decimal(price), "kWh", window or Window(), **kw)


def kwh_by_line(breakdown) -> list[Decimal]:
    return [line.quantity for line in breakdown.lines]


# --------------------------------------------------------------------------- money rules


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (Fraction(1, 2), 1),
        (Fraction(5, 2), 3),
        (Fraction(249, 100), 2),
        (Fraction(-1, 2), -1),
        (Decimal("1234.5"), 1235),
        (7, 7),
    ],
)
def test_round_half_up_rounds_halves_away_from_zero(value, expected):
    assert round_half_up(value) == expected


@pytest.mark.parametrize(("net", "vat"), [(0, 0), (1, 0), (2, 1), (6, 2), (10, 3), (4000, 1000)])
def test_vat_is_a_quarter_of_the_whole_ore_net_rounded_half_up(net, vat):
    assert vat_of(net) == vat


def test_each_line_rounds_its_net_then_adds_vat_and_totals_are_sums_of_lines():
    start = oslo(2026, 5, 4, 12, 0)
    end = start + timedelta(hours=1)
    # 7.123 kWh at 40 øre = 284.92 øre net -> 285, VAT 71.25 -> 71; 60 min at 1.1 øre = 66
    usage = usage_of(start, end, [Sample(start, 0, 7000), Sample(end, 7123, 7000)])
    tariff = TariffSpec((energy("40"), ComponentSpec(K.TIME, Decimal("1.1"), "min")))
    b = price_usage(usage, tariff)
    assert [(line.net_ore, line.vat_ore, line.total_ore) for line in b.lines] == [
        (285, 71, 356),
        (66, 17, 83),
    ]
    assert (b.net_ore, b.vat_ore, b.total_ore) == (351, 88, 439)


# --------------------------------------------------------------------------- windows


def test_energy_is_split_at_a_window_boundary_by_interpolating_the_meter():
    # 15:00-17:00 local at 11 kW; the day price ends at 16:00.
    start, end = oslo(2026, 5, 6, 15, 0), oslo(2026, 5, 6, 17, 0)
    usage = usage_of(start, end, [Sample(start, 0, 11000), Sample(end, 22000, 11000)])
    day = Window(start_minute=parse_clock("08:00"), end_minute=parse_clock("16:00"))
    evening = Window(start_minute=parse_clock("16:00"), end_minute=parse_clock("08:00"))
    b = price_usage(usage, TariffSpec((energy("100", day), energy("300", evening))))
    assert kwh_by_line(b) == [Decimal("11.000"), Decimal("11.000")]
    assert b.net_ore == 11 * 100 + 11 * 300


def test_spring_forward_night_window_holds_only_the_hours_that_exist():
    # 29 March 2026: clocks jump from 02:00 to 03:00. 00:00-03:00 local is two real hours.
    start, end = oslo(2026, 3, 29, 0, 0), oslo(2026, 3, 29, 6, 0)
    assert end - start == timedelta(hours=5)
    usage = usage_of(start, end, steady(start, end, 10))
    night = Window(start_minute=0, end_minute=180)
    rest = Window(start_minute=180, end_minute=0)
    b = price_usage(usage, TariffSpec((energy("50", night), energy("200", rest))))
    assert kwh_by_line(b) == [Decimal("20.000"), Decimal("30.000")]


def test_autumn_back_repeated_hour_is_inside_its_window_twice():
    # 25 October 2026: 02:00-03:00 local happens twice, so that window lasts two real hours.
    start, end = oslo(2026, 10, 25, 0, 0), oslo(2026, 10, 25, 6, 0)
    assert end - start == timedelta(hours=7)
    usage = usage_of(start, end, steady(start, end, 6))
    two_to_three = Window(start_minute=120, end_minute=180)
    b = price_usage(usage, TariffSpec((ComponentSpec(K.TIME, Decimal(1), "min", two_to_three),)))
    assert kwh_by_line(b) == [Decimal("120.000")]


def test_weekend_price_follows_the_local_weekday_not_utc():
    # Friday 23:30 to Saturday 00:30 Oslo (21:30-22:30 UTC, all on Friday in UTC).
    start, end = oslo(2026, 6, 5, 23, 30), oslo(2026, 6, 6, 0, 30)
    usage = usage_of(start, end, steady(start, end, 8))
    b = price_usage(usage, TariffSpec((energy("100", Window(weekdays=WEEKEND)),)))
    assert kwh_by_line(b) == [Decimal("4.000")]


def test_window_parsing_and_descriptions():
    assert parse_days("mon-fri") == 0b0011111
    assert parse_days("sat,sun") == WEEKEND == parse_days("helg")
    assert parse_days("fri-mon") == 0b1110001
    window = Window(parse_days("weekdays"), parse_clock("07:30"), parse_clock("24:00"))
    assert window.describe("nb") == "hverdager 07:30\u201324:00"
    assert window.describe("en") == "weekdays 07:30\u201324:00"
    assert Window().describe("en") is None


# --------------------------------------------------------------------------- time and idle


def _charge_then_idle(start: datetime) -> tuple:
    """60 min at 11 kW, then 90 min plugged in at 0 W."""
    full = start + timedelta(minutes=60)
    end = full + timedelta(minutes=90)
    samples = steady(start, full - timedelta(minutes=5), 11, every_min=5) + [
        Sample(full + timedelta(minutes=m), 11000, 0) for m in range(0, 91, 5)
    ]
    return usage_of(start, end, samples), end


def test_idle_fee_counts_time_without_power_after_the_grace_period():
    usage, _ = _charge_then_idle(oslo(2026, 5, 6, 18, 0))
    parking = ComponentSpec(K.PARKING, Decimal(100), "min", grace_minutes=30)
    b = price_usage(usage, TariffSpec((parking,)))
    assert kwh_by_line(b) == [Decimal("60.000")]  # 90 idle minutes - 30 free
    assert (b.charging_s, b.idle_s) == (3600, 5400)


def test_time_component_counts_only_charging_minutes():
    usage, _ = _charge_then_idle(oslo(2026, 5, 6, 18, 0))
    b = price_usage(usage, TariffSpec((ComponentSpec(K.TIME, Decimal(60), "h"),)))
    assert kwh_by_line(b) == [Decimal("1.000")]
    assert b.net_ore == 60


def test_idle_is_read_from_a_flat_meter_when_a_charger_reports_no_power():
    start = oslo(2026, 5, 6, 18, 0)
    samples = [
        Sample(start, 0),
        Sample(start + timedelta(minutes=30), 5000),
        Sample(start + timedelta(minutes=90), 5000),
    ]
    usage = usage_of(start, start + timedelta(minutes=90), samples)
    b = price_usage(usage, TariffSpec((ComponentSpec(K.PARKING, Decimal(1), "min"),)))
    assert kwh_by_line(b) == [Decimal("60.000")]


def test_no_idle_fee_without_evidence_of_idling():
    # Only the start and stop readings: the car counts as charging all along.
    start = oslo(2026, 5, 6, 18, 0)
    end = start + timedelta(hours=10)
    usage = build_usage(start, end, energy_wh=5000, meter_start_wh=100, samples=[])
    b = price_usage(usage, TariffSpec((ComponentSpec(K.PARKING, Decimal(1), "min"),)))
    assert b.lines == [] and b.total_ore == 0


def test_a_meter_going_backwards_never_makes_energy_negative():
    start = oslo(2026, 5, 6, 18, 0)
    samples = [Sample(start + timedelta(minutes=m), wh) for m, wh in [(10, 4000), (20, 1000)]]
    usage = build_usage(
        start, start + timedelta(minutes=30), energy_wh=5000, meter_start_wh=0, samples=samples
    )
    assert [e for _, e in usage.curve] == sorted(e for _, e in usage.curve)
    assert usage.energy_between(start, start + timedelta(minutes=30)) == 5000


# --------------------------------------------------------------------------- per session


def test_cap_limits_a_component_per_session():
    usage, _ = _charge_then_idle(oslo(2026, 5, 6, 18, 0))
    parking = ComponentSpec(K.PARKING, Decimal(100), "min", cap_ore=Decimal(2000))
    b = price_usage(usage, TariffSpec((parking,)))
    assert (b.lines[0].net_ore, b.lines[0].capped) == (2000, True)


def test_power_band_prices_by_the_highest_power_of_the_session():
    start = oslo(2026, 5, 6, 12, 0)
    usage = usage_of(
        start, start + timedelta(hours=1), steady(start, start + timedelta(hours=1), 40)
    )
    slow = energy("300", max_power_kw=Decimal(22))
    fast = energy("500", min_power_kw=Decimal(22))
    b = price_usage(usage, TariffSpec((slow, fast)))
    assert [line.unit_price_ore for line in b.lines] == [Decimal(500)]
    assert b.max_power_w == 40000


def test_session_fee_is_charged_once_when_the_session_starts_inside_its_window():
    start = oslo(2026, 5, 6, 7, 50)
    usage = usage_of(
        start, start + timedelta(hours=2), steady(start, start + timedelta(hours=2), 7)
    )
    office = Window(start_minute=parse_clock("08:00"), end_minute=parse_clock("16:00"))
    fee_in_office = ComponentSpec(K.SESSION, Decimal(1000), "session", office)
    fee_always = ComponentSpec(K.SESSION, Decimal(400), "session")
    b = price_usage(usage, TariffSpec((fee_in_office, fee_always)))
    assert [(line.quantity, line.net_ore) for line in b.lines] == [(Decimal("1.000"), 400)]


def test_lines_come_in_afir_order_kwh_then_minutes_then_session():
    usage, _ = _charge_then_idle(oslo(2026, 5, 6, 18, 0))
    tariff = TariffSpec(
        (
            ComponentSpec(K.SESSION, Decimal(100), "session"),
            ComponentSpec(K.PARKING, Decimal(1), "min"),
            ComponentSpec(K.TIME, Decimal(1), "min"),
            energy("100"),
        )
    )
    assert [line.kind for line in price_usage(usage, tariff).lines] == [
        "energy",
        "time",
        "parking",
        "session",
    ]


def test_a_zero_length_session_prices_its_energy_at_its_instant():
    at = oslo(2026, 5, 6, 9, 0)
    usage = build_usage(at, at, energy_wh=1500, meter_start_wh=0, samples=[])
    office = Window(start_minute=parse_clock("08:00"), end_minute=parse_clock("16:00"))
    b = price_usage(usage, TariffSpec((energy("100", office),)))
    assert kwh_by_line(b) == [Decimal("1.500")]


# --------------------------------------------------------------------------- spot


def _spot(start: datetime, end: datetime, price) -> dict:
    slots, t = {}, quarter_of(start)
    while t < end:
        slots[t] = Decimal(price(t)) if callable(price) else Decimal(price)
        t += timedelta(minutes=15)
    return {"NO1": slots}


def spot_component(**kw) -> ComponentSpec:
    return ComponentSpec(
        K.SPOT_ENERGY, Decimal(kw.pop("markup", "20")), "kWh", spot_area="NO1", **kw
    )


def test_spot_price_follows_each_quarter_hour_plus_the_markup():
    start = oslo(2026, 5, 6, 12, 0)
    end = start + timedelta(hours=1)
    usage = usage_of(start, end, steady(start, end, 4))
    # 100, 110, 120, 130 øre in the four quarters; 1 kWh in each.
    prices = _spot(start, end, lambda t: 100 + 10 * ((t.minute // 15) % 4))
    b = price_usage(usage, TariffSpec((spot_component(),)), prices)
    line = b.lines[0]
    assert (line.quantity, line.net_ore, line.spot_area) == (Decimal("4.000"), 4 * 20 + 460, "NO1")
    assert line.unit_price_ore == Decimal("135.0000")


def test_negative_spot_price_counts_as_zero_by_default():
    start = oslo(2026, 5, 6, 12, 0)
    end = start + timedelta(hours=1)
    usage = usage_of(start, end, steady(start, end, 4))
    b = price_usage(usage, TariffSpec((spot_component(),)), _spot(start, end, "-50"))
    assert b.lines[0].net_ore == 4 * 20


def test_negative_spot_price_can_lower_the_price_but_never_below_zero():
    start = oslo(2026, 5, 6, 12, 0)
    end = start + timedelta(hours=1)
    usage = usage_of(start, end, steady(start, end, 4))
    passing = TariffSpec((spot_component(spot_negative="pass"),))
    assert price_usage(usage, passing, _spot(start, end, "-5")).lines[0].net_ore == 4 * 15
    assert price_usage(usage, passing, _spot(start, end, "-50")).lines[0].net_ore == 0


def test_missing_spot_price_uses_the_fallback_and_says_so():
    start = oslo(2026, 5, 6, 12, 0)
    end = start + timedelta(hours=1)
    usage = usage_of(start, end, steady(start, end, 4))
    prices = _spot(start, end, "100")
    del prices["NO1"][quarter_of(start + timedelta(minutes=30))]
    tariff = TariffSpec((spot_component(spot_fallback_ore=Decimal(200)),))
    b = price_usage(usage, tariff, prices)
    assert b.lines[0].net_ore == 4 * 20 + 3 * 100 + 200
    assert b.notes == ["spot_fallback:NO1"]


def test_missing_spot_price_without_fallback_refuses_to_guess():
    start = oslo(2026, 5, 6, 12, 0)
    usage = usage_of(
        start, start + timedelta(hours=1), steady(start, start + timedelta(hours=1), 4)
    )
    with pytest.raises(SpotPriceMissing) as error:
        price_usage(usage, TariffSpec((spot_component(),)), {})
    assert error.value.area == "NO1" and error.value.slot == quarter_of(start)
