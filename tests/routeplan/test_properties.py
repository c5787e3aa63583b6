"""Properties of every plan, and the planner's optimum against exhaustive search (hypothesis)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.routeplan.model import ChargingCurve, CurveShape, Vehicle
from core.routeplan.planner import (
    EPS,
    Availability,
    Candidate,
    Infeasible,
    InfeasibleReason,
    Objective,
    Plan,
    PlanOptions,
    TripModel,
    effective_kw,
    plan,
    prune_candidates,
)
from tests.routeplan.builders import exhaustive, rescore


@st.composite
def vehicles(draw: st.DrawFn) -> Vehicle:
    battery = draw(st.floats(20, 120))
    max_dc = draw(st.sampled_from([0.0, 50.0, 100.0, 150.0, 250.0]))
    max_ac = draw(st.sampled_from([7.4, 11.0, 22.0]))
    if draw(st.booleans()):
        curve = ChargingCurve.from_shape(draw(st.sampled_from(list(CurveShape))), max(max_dc, 11))
    else:
        tenths = draw(st.lists(st.integers(0, 1000), min_size=1, max_size=6, unique=True))
        socs = [t / 10 for t in tenths]
        curve = ChargingCurve.from_points((s, draw(st.floats(5, 300))) for s in socs)
    return Vehicle(
        battery_kwh=battery,
        consumption_wh_per_km=draw(st.floats(120, 260)),
        max_ac_kw=max_ac,
        max_dc_kw=max_dc,
        curve=curve,
        connector_types=frozenset({"CCS2", "Type2"}),
        consumption_factor=draw(st.sampled_from([1.0, 1.2])),
    )


@st.composite
def trips(draw: st.DrawFn, max_candidates: int, steps: list[float], batteries: float = 3.0):
    vehicle = draw(vehicles())
    # Trips of half a battery to a few batteries, so that most need a stop or more.
    route_km = draw(st.floats(0.5, batteries)) * 100 / vehicle.soc_per_km
    n = draw(st.integers(0, max_candidates))
    spread = draw(st.booleans())  # evenly along the route (jittered), or anywhere
    cands = [
        Candidate(
            key=i,
            position_km=(
                route_km * (i + draw(st.floats(0.2, 0.8))) / n
                if spread
                else draw(st.floats(0, route_km))
            ),
            detour_km=draw(st.sampled_from([0.0, 0.5, 3.0])),
            power_kw=draw(st.sampled_from([11.0, 22.0, 50.0, 150.0, 350.0])),
            dc=draw(st.booleans()),
            price_ore_per_kwh=draw(st.sampled_from([None, 300, 450, 700])),
            availability=draw(st.sampled_from(list(Availability))),
        )
        for i in range(n)
    ]
    min_stop = draw(st.sampled_from([5.0, 10.0, 20.0]))
    options = PlanOptions(
        start_soc=draw(st.floats(min_stop, 100)),
        min_soc_at_stop=min_stop,
        min_soc_at_arrival=draw(st.sampled_from([5.0, 10.0, 15.0])),
        max_soc=draw(st.sampled_from([60.0, 80.0, 90.0, 100.0])),
        stop_overhead_min=draw(st.sampled_from([0.0, 5.0])),
        objective=draw(st.sampled_from(list(Objective))),
        soc_step=draw(st.sampled_from(steps)),
        cluster_km=0.0,
    )
    return vehicle, route_km, cands, options


def check_plan(vehicle: Vehicle, route_km: float, options: PlanOptions, result: Plan) -> None:
    """SoC stays within [minimum, max SoC <= 100 %] and every leg is within range."""
    c = vehicle.soc_per_km
    soc, at_km, prev_detour = options.start_soc, 0.0, 0.0
    for stop in result.stops:
        cand = stop.candidate
        assert cand.position_km >= at_km - EPS  # in route order
        leg_km = prev_detour + (cand.position_km - at_km) + cand.detour_km
        arrival = soc - c * leg_km
        assert arrival == pytest.approx(stop.arrival_soc, abs=1e-6)
        assert stop.arrival_soc >= options.min_soc_at_stop - 1e-6
        assert stop.arrival_soc < stop.departure_soc + 1e-9
        assert stop.departure_soc <= options.max_soc + 1e-9 <= 100 + 1e-9
        assert stop.charging_hours >= 0 and stop.grid_kwh >= stop.battery_kwh >= 0
        soc, at_km, prev_detour = stop.departure_soc, cand.position_km, cand.detour_km
    arrival = soc - c * (prev_detour + route_km - at_km)
    assert arrival == pytest.approx(result.arrival_soc, abs=1e-6)
    assert result.arrival_soc >= options.min_soc_at_arrival - 1e-6
    assert result.score == pytest.approx(rescore(vehicle, result, options), rel=1e-7, abs=1e-7)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trips(max_candidates=25, steps=[1.0, 2.0, 5.0]))
def test_every_plan_keeps_soc_within_limits_and_legs_within_range(trip):
    vehicle, route_km, cands, options = trip
    result = plan(vehicle, route_km, cands, options)
    if isinstance(result, Plan):
        check_plan(vehicle, route_km, options, result)
    else:
        assert result.reason is InfeasibleReason.GAP_TOO_LONG
        assert 0 <= result.gap_from_km <= result.gap_to_km <= route_km + EPS


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trips(max_candidates=5, steps=[10.0, 12.5, 20.0], batteries=2.0))
def test_planner_finds_the_exhaustive_optimum_on_small_trips(trip):
    vehicle, route_km, cands, options = trip
    result = plan(vehicle, route_km, cands, options)
    model = TripModel(
        vehicle, route_km, prune_candidates(cands, vehicle, options, route_km), options
    )
    best = exhaustive(model)
    if best is None:
        assert isinstance(result, Infeasible)
        assert result.reason is InfeasibleReason.GAP_TOO_LONG
        return
    assert isinstance(result, Plan), result
    assert result.score == pytest.approx(best.score, rel=1e-7, abs=1e-7)
    check_plan(vehicle, route_km, options, result)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(trips(max_candidates=3, steps=[12.5, 20.0], batteries=1.5))
def test_pruning_chargers_at_the_same_place_never_changes_the_optimum(trip):
    vehicle, route_km, cands, options = trip
    # Copies at the same place, each worse in one respect: all pruned, optimum unchanged.
    worse = [
        Candidate(
            100 + c.key,
            c.position_km,
            c.detour_km + 1,
            c.power_kw,
            c.dc,
            c.price_ore_per_kwh,
            c.availability,
        )
        for c in cands
    ]
    usable = [c for c in cands + worse if effective_kw(vehicle, c) > 0]
    usable.sort(key=lambda c: (c.position_km, c.key))
    everything = TripModel(vehicle, route_km, usable, options)
    best = exhaustive(everything)
    result = plan(vehicle, route_km, cands + worse, options)
    if best is None:
        assert isinstance(result, Infeasible)
    else:
        assert isinstance(result, Plan)
        assert result.score == pytest.approx(best.score, rel=1e-7, abs=1e-7)
        assert all(s.candidate.key < 100 for s in result.stops)
