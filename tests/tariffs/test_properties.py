"""Properties of pricing that must hold for any session and any tariff (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

from hypothesis import given, settings
from hypothesis import strategies as st

from core.models.billing import ComponentKind as K
from core.tariffs.engine import (
    ComponentSpec,
    TariffSpec,
    price_usage,
    quarter_of,
    round_half_up,
)
from core.tariffs.usage import Sample, build_usage
from core.tariffs.windows import Window

# Sessions start around the 2026 daylight-saving changes and on an ordinary day.
BASES = [
    datetime(2026, 3, 28, 18, tzinfo=UTC),
    datetime(2026, 10, 24, 18, tzinfo=UTC),
    datetime(2026, 6, 5, 6, tzinfo=UTC),
]
SPOT_AREA = "NO2"


@st.composite
def usages(draw: st.DrawFn):
    start = draw(st.sampled_from(BASES)) + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    duration = draw(st.integers(60, 30 * 3600))
    end = start + timedelta(seconds=duration)
    offsets = sorted(draw(st.lists(st.integers(1, duration - 1), max_size=12, unique=True)))
    meter, samples = 5_000, []
    for offset in offsets:
        meter += draw(st.integers(0, 15_000))
        power = draw(st.one_of(st.none(), st.integers(0, 50_000)))
        samples.append(Sample(start + timedelta(seconds=offset), meter, power))
    total = meter - 5_000 + draw(st.integers(0, 15_000))
    return build_usage(start, end, energy_wh=total, meter_start_wh=5_000, samples=samples)


minutes = st.integers(0, 1440)
windows = st.one_of(
    st.just(Window()),
    st.builds(Window, weekdays=st.integers(1, 127)),
    st.builds(Window, weekdays=st.integers(1, 127), start_minute=minutes, end_minute=minutes),
)
prices = st.decimals(min_value=0, max_value=2000, places=2)


def additive_components() -> st.SearchStrategy[ComponentSpec]:
    """Components whose cost is a sum over time: no fee, cap, grace or power band."""
    return st.one_of(
        st.builds(ComponentSpec, st.just(K.ENERGY), prices, st.just("kWh"), windows),
        st.builds(ComponentSpec, st.just(K.TIME), prices, st.sampled_from(["min", "h"]), windows),
        st.builds(
            ComponentSpec, st.just(K.PARKING), prices, st.sampled_from(["min", "h"]), windows
        ),
        st.builds(
            ComponentSpec,
            st.just(K.SPOT_ENERGY),
            prices,
            st.just("kWh"),
            windows,
            spot_area=st.just(SPOT_AREA),
        ),
    )


def any_components() -> st.SearchStrategy[ComponentSpec]:
    return st.one_of(
        additive_components(),
        st.builds(ComponentSpec, st.just(K.SESSION), prices, st.just("session"), windows),
        st.builds(
            ComponentSpec,
            st.just(K.PARKING),
            prices,
            st.just("min"),
            windows,
            grace_minutes=st.integers(0, 120),
            cap_ore=st.one_of(st.none(), prices),
        ),
        st.builds(
            ComponentSpec,
            st.just(K.ENERGY),
            prices,
            st.just("kWh"),
            windows,
            cap_ore=st.one_of(st.none(), prices),
            min_power_kw=st.one_of(st.none(), st.just(Decimal(11))),
            max_power_kw=st.one_of(st.none(), st.just(Decimal(50))),
        ),
    )


def spot_prices_for(usage, seed: int) -> dict:
    """Spot prices (some negative) for every quarter hour of the usage."""
    slots, t, i = {}, quarter_of(usage.start), seed
    while t <= usage.end:
        slots[t] = Decimal((i * 7919) % 400 - 50) / 2
        t += timedelta(minutes=15)
        i += 1
    return {SPOT_AREA: slots}


@settings(max_examples=150, deadline=None)
@given(usages(), st.lists(any_components(), max_size=6), st.integers(0, 1000))
def test_total_is_always_the_sum_of_the_lines(usage, components, seed):
    b = price_usage(usage, TariffSpec(tuple(components)), spot_prices_for(usage, seed))
    assert b.net_ore == sum(line.net_ore for line in b.lines)
    assert b.vat_ore == sum(line.vat_ore for line in b.lines)
    assert b.total_ore == b.net_ore + b.vat_ore == sum(line.total_ore for line in b.lines)
    for line in b.lines:
        assert line.total_ore == line.net_ore + line.vat_ore
        assert line.net_ore >= 0
        assert abs(Fraction(line.vat_ore) - Fraction(line.net_ore, 4)) <= Fraction(1, 2)


@settings(max_examples=150, deadline=None)
@given(usages(), additive_components(), prices)
def test_a_capped_component_never_costs_more_than_its_cap(usage, component, cap):
    capped = replace(component, cap_ore=cap)
    b = price_usage(usage, TariffSpec((capped,)), spot_prices_for(usage, 1))
    assert all(line.net_ore <= round_half_up(cap) for line in b.lines)


@settings(max_examples=200, deadline=None)
@given(usages(), st.lists(additive_components(), min_size=1, max_size=5), st.data())
def test_splitting_a_session_changes_its_total_only_by_rounding(usage, components, data):
    seconds = int((usage.end - usage.start).total_seconds())
    cut = usage.start + timedelta(seconds=data.draw(st.integers(1, seconds - 1)))
    tariff = TariffSpec(tuple(components))
    spot = spot_prices_for(usage, 3)
    left, right = usage.split(cut)
    whole = price_usage(usage, tariff, spot)
    a, b = price_usage(left, tariff, spot), price_usage(right, tariff, spot)
    assert left.energy_wh + right.energy_wh == usage.energy_wh
    # Each line is off its exact value by at most 1/2 øre net, 1/2 øre VAT on top of
    # 1/4 of the net error: 9/8 øre.
    lines = len(whole.lines) + len(a.lines) + len(b.lines)
    assert abs(whole.total_ore - (a.total_ore + b.total_ore)) * 8 <= 9 * lines


@settings(max_examples=100, deadline=None)
@given(usages(), st.lists(windows, max_size=4))
def test_free_groups_pay_nothing(usage, free_windows):
    assert price_usage(usage, TariffSpec(())).total_ore == 0
    zero = tuple(
        ComponentSpec(kind, Decimal(0), unit, w)
        for w in free_windows
        for kind, unit in ((K.ENERGY, "kWh"), (K.TIME, "min"), (K.SESSION, "session"))
    )
    assert price_usage(usage, TariffSpec(zero)).total_ore == 0


@settings(max_examples=150, deadline=None)
@given(usages(), minutes, minutes)
def test_a_window_and_its_complement_share_all_the_energy(usage, start, end):
    if start % 1440 == end % 1440:
        end = (start + 60) % 1440
    inside = ComponentSpec(K.ENERGY, Decimal(1), "kWh", Window(start_minute=start, end_minute=end))
    outside = ComponentSpec(K.ENERGY, Decimal(1), "kWh", Window(start_minute=end, end_minute=start))
    b = price_usage(usage, TariffSpec((inside, outside)))
    exact = sum((line.quantity for line in b.lines), Decimal(0))
    assert abs(exact - Decimal(int(usage.energy_wh)) / 1000) <= Decimal("0.001")
