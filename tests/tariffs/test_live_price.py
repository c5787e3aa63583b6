"""The running price of a live session (core.tariffs.live) is the full price to the øre, at
every update, for any session and tariff: windows crossed, grace periods, caps, power
bands, spot prices, meters that go backwards, samples that arrive late."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.models.billing import ComponentKind as K
from core.tariffs.engine import ComponentSpec, TariffSpec, price_usage, quarter_of
from core.tariffs.errors import SpotPriceMissing
from core.tariffs.live import RunningPrice, Stale
from core.tariffs.schemas import CostBreakdown
from core.tariffs.usage import Sample, build_usage
from core.tariffs.windows import Window
from tests.tariffs.builders import oslo
from tests.tariffs.test_properties import BASES, SPOT_AREA, any_components

METER_START = 5_000


@st.composite
def live_sessions(draw: st.DrawFn) -> tuple[datetime, int | None, list[list[Sample]], list]:
    """A session as the gateway sees it: batches of samples (now and then one arriving
    after newer ones), and at each update the time it is priced at and its energy."""
    start = draw(st.sampled_from(BASES)) + timedelta(minutes=draw(st.integers(0, 24 * 60)))
    duration = draw(st.integers(60, 30 * 3600))
    offsets = sorted(draw(st.lists(st.integers(0, duration), max_size=40, unique=True)))
    meter_start = None if draw(st.integers(0, 9)) == 0 else METER_START
    meter, samples = METER_START, []
    for offset in offsets:
        meter += draw(st.integers(-500, 15_000))  # now and then backwards
        energy = None if draw(st.integers(0, 9)) == 0 else meter
        power = draw(st.one_of(st.none(), st.integers(0, 50_000)))
        samples.append(Sample(start + timedelta(seconds=offset), energy, power))
    cuts = sorted(draw(st.lists(st.integers(0, len(samples)), max_size=12)))
    batches = [samples[a:b] for a, b in zip([0, *cuts], [*cuts, len(samples)], strict=True)]
    if len(batches) > 2 and batches[1] and draw(st.booleans()):
        batches[2].append(batches[1].pop())  # arrives after newer ones
    updates = []
    for batch in batches:
        seen = batch[-1].at if batch else start
        now = seen + timedelta(seconds=draw(st.integers(0, 900)))
        updates.append((now, draw(st.integers(-3_000, 3_000))))
    return start, meter_start, batches, updates


def _spot(start: datetime, hours: int, holes: int) -> dict:
    slots, t, i = {}, quarter_of(start), 0
    while t <= start + timedelta(hours=hours):
        if not holes or i % holes:
            slots[t] = Decimal((i * 7919) % 400 - 50) / 2
        t += timedelta(minutes=15)
        i += 1
    return {SPOT_AREA: slots}


def _full(
    tariff: TariffSpec, start: datetime, meter_start: int | None, samples: list[Sample], *args
) -> CostBreakdown | SpotPriceMissing:
    end, energy, spot = args
    usage = build_usage(
        start,
        end,
        energy_wh=energy,
        meter_start_wh=meter_start,
        samples=[s for s in samples if s.at <= end],
    )
    try:
        return price_usage(usage, tariff, spot)
    except SpotPriceMissing as missing:
        return missing


def _running(running: RunningPrice, *args) -> CostBreakdown | SpotPriceMissing:
    try:
        return running.price(*args)
    except SpotPriceMissing as missing:
        return missing


@settings(max_examples=120, deadline=None)
@given(
    live_sessions(),
    st.lists(any_components(), min_size=1, max_size=5),
    st.sampled_from([0, 0, 7]),
    st.one_of(st.none(), st.just(Decimal(40))),
)
def test_running_price_is_the_full_price_at_every_update(session, components, holes, fallback):
    start, meter_start, batches, updates = session
    spot_parts = [
        replace(c, spot_fallback_ore=fallback) if c.kind == K.SPOT_ENERGY else c for c in components
    ]
    tariff = TariffSpec(tuple(spot_parts))
    spot = _spot(start, 32, holes)
    running = RunningPrice(tariff, start, meter_start)
    seen: list[Sample] = []
    last_at, last_wh = None, None
    for batch, (now, drift) in zip(batches, updates, strict=True):
        seen += batch
        for s in batch:  # what the gateway keeps on the session (core.sessions.service)
            if last_at is None or s.at >= last_at:
                last_at = s.at
                last_wh = s.energy_wh if s.energy_wh is not None else last_wh
        end = max(now, start, last_at or start)
        energy = max((last_wh or METER_START) - METER_START + drift, 0)
        try:
            running.add(batch)
            got = _running(running, end, energy, spot)
        except Stale:
            running = RunningPrice(tariff, start, meter_start)
            running.add(seen)
            got = _running(running, end, energy, spot)
        want = _full(tariff, start, meter_start, seen, end, energy, spot)
        if isinstance(want, SpotPriceMissing):
            assert isinstance(got, SpotPriceMissing)
            assert (got.area, got.slot) == (want.area, want.slot)
        else:
            assert got == want


def test_a_long_session_keeps_few_samples_behind_its_frontier():
    """Ten hours of minute samples across a night window and a weekday/weekend change: each
    update prices only the newest stretch, and the price is the full price."""
    tariff = TariffSpec(
        (
            ComponentSpec(
                K.ENERGY, Decimal(200), "kWh", Window(start_minute=22 * 60, end_minute=6 * 60)
            ),
            ComponentSpec(
                K.ENERGY, Decimal(320), "kWh", Window(start_minute=6 * 60, end_minute=22 * 60)
            ),
            ComponentSpec(K.TIME, Decimal(50), "min", Window(weekdays=0b0011111)),
            ComponentSpec(K.PARKING, Decimal(80), "min", grace_minutes=30, cap_ore=Decimal(30000)),
            ComponentSpec(K.SESSION, Decimal(400), "session"),
        )
    )
    start = oslo(2026, 3, 27, 19, 30)  # Friday evening into Saturday
    running = RunningPrice(tariff, start, METER_START)
    samples: list[Sample] = []
    for minute in range(1, 10 * 60 + 1):
        charging = minute < 7 * 60 or minute > 9 * 60
        wh = METER_START + 180 * min(minute, 7 * 60) + 180 * max(minute - 9 * 60, 0)
        sample = Sample(start + timedelta(minutes=minute), wh, 11_000 if charging else 0)
        samples.append(sample)
        running.add([sample])
        now = sample.at + timedelta(seconds=20)
        got = running.price(now, wh - METER_START, {})
        assert running.pending <= 2
        if minute % 97 == 0 or minute == 10 * 60:
            want = _full(tariff, start, METER_START, samples, now, wh - METER_START, {})
            assert got == want
    assert got.total_ore > 0 and {line.kind for line in got.lines} >= {"energy", "time", "parking"}


def test_a_late_sample_behind_the_frontier_asks_for_a_fresh_start():
    start = oslo(2026, 5, 4, 8)
    running = RunningPrice(TariffSpec((ComponentSpec(K.ENERGY, Decimal(300), "kWh"),)), start, 0)
    running.add([Sample(start + timedelta(minutes=m), 100 * m, 7_000) for m in (1, 2, 3)])
    running.price(start + timedelta(minutes=4), 300, {})
    with pytest.raises(Stale):
        running.add([Sample(start + timedelta(seconds=90), 150, 7_000)])
    with pytest.raises(Stale):
        running.price(start + timedelta(minutes=5), 100, {})  # energy behind what is priced
