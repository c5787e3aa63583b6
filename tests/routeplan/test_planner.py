"""The planner on trips small enough to check by hand."""

from __future__ import annotations

import pytest

from core.routeplan.model import ChargingCurve
from core.routeplan.planner import (
    Availability,
    Infeasible,
    InfeasibleReason,
    Objective,
    Plan,
    PlanOptions,
    TripModel,
    plan,
    prune_candidates,
)
from tests.routeplan.builders import car, charger, exhaustive, rescore


def planned(result: Plan | Infeasible) -> Plan:
    assert isinstance(result, Plan), result
    return result


def test_short_trip_needs_no_stop():
    result = planned(plan(car(), 100, [charger(1, 50)], PlanOptions(start_soc=80, speed_kmh=80)))
    # 60 kWh, 180 Wh/km: 0.3 % per km, 80 % - 30 = 50 % on arrival.
    assert result.stops == ()
    assert result.arrival_soc == pytest.approx(50.0)
    assert result.driving_hours == pytest.approx(100 / 80)
    assert result.charging_hours == 0 and result.overhead_hours == 0


def test_one_stop_charges_just_enough_at_the_curve_and_chargers_power():
    options = PlanOptions(start_soc=80, soc_step=1.0, stop_overhead_min=5, speed_kmh=100)
    result = planned(plan(car(max_dc_kw=100), 300, [charger(7, 150, kw=150)], options))
    (stop,) = result.stops
    # Arrive with 80 - 0.3 * 150 = 35 %; 150 km more and 10 % left need 55 %.
    assert stop.candidate.key == 7
    assert stop.arrival_soc == pytest.approx(35.0)
    assert stop.departure_soc == pytest.approx(55.0)
    # 20 % of 60 kWh = 12 kWh at the car's flat 100 kW (the charger could do 150).
    assert stop.charging_hours == pytest.approx(12 / 100)
    assert stop.battery_kwh == pytest.approx(12.0)
    assert stop.grid_kwh == pytest.approx(12 / 0.92)
    assert result.arrival_soc == pytest.approx(10.0)
    assert result.total_hours == pytest.approx(3.0 + 0.12 + 5 / 60)


def test_ac_charger_runs_at_the_cars_onboard_charger_limit():
    options = PlanOptions(start_soc=80, soc_step=1.0, stop_overhead_min=0)
    ac = charger(1, 150, kw=22, dc=False)
    (stop,) = planned(plan(car(max_ac_kw=11), 300, [ac], options)).stops
    assert stop.charging_hours == pytest.approx(12 / 11)


def test_detour_costs_energy_both_ways_and_time():
    options = PlanOptions(start_soc=80, soc_step=1.0, stop_overhead_min=0, speed_kmh=100)
    result = planned(plan(car(), 300, [charger(1, 150, detour=5.0)], options))
    (stop,) = result.stops
    # 5 km there: 1.5 % less on arrival; and 5 km back before the 150 km.
    assert stop.arrival_soc == pytest.approx(33.5)
    assert stop.departure_soc == pytest.approx(56.5)
    assert result.driven_km == pytest.approx(310)


def test_gap_between_chargers_too_long_is_reported_with_where():
    # Charged to 80 %, the car goes (80 - 10) / 0.3 = 233 km: 100 -> 400 km is too far.
    result = plan(car(), 500, [charger(1, 100), charger(2, 400)], PlanOptions(start_soc=80))
    assert isinstance(result, Infeasible)
    assert result.reason is InfeasibleReason.GAP_TOO_LONG
    assert result.gap_from_km == pytest.approx(100)
    assert result.gap_to_km == pytest.approx(400)
    assert result.reach_km == pytest.approx(100 + 70 / 0.3)


def test_start_soc_too_low_for_the_first_charger_is_a_gap_from_the_start():
    result = plan(car(), 300, [charger(1, 100)], PlanOptions(start_soc=20))
    assert isinstance(result, Infeasible)
    assert result.gap_from_km == 0 and result.gap_to_km == pytest.approx(100)


def test_two_short_stops_beat_one_long_stop_when_the_curve_drops():
    # 100 kWh, 200 Wh/km: 0.2 % per km and 1 % per kWh. Fast (100 kW) up to 50 %, 20 kW above.
    curve = ChargingCurve.from_points([(0, 100), (50, 100), (51, 20), (100, 20)])
    vehicle = car(100, 200, max_dc_kw=100, curve=curve)
    options = PlanOptions(start_soc=60, max_soc=100, soc_step=1.0, stop_overhead_min=5)
    result = planned(plan(vehicle, 500, [charger(1, 250), charger(2, 375)], options))
    # One stop at km 250 (arrive 10 %) would need 60 %: 40 kWh fast + 1 ramp + 9 kWh slow,
    # ~52 min. Two stops charge 50 kWh in the fast part: 30 min (+5 min overhead).
    assert [s.candidate.key for s in result.stops] == [1, 2]
    assert all(s.departure_soc <= 50 + 1e-9 for s in result.stops)
    assert result.charging_hours == pytest.approx(0.5)
    one_stop = planned(plan(vehicle, 500, [charger(1, 250)], options))
    assert one_stop.charging_hours > 0.85
    assert result.total_hours < one_stop.total_hours


def test_occupied_charger_is_avoided_when_an_available_one_is_close():
    busy = charger(1, 150, availability=Availability.OCCUPIED)
    free = charger(2, 150, detour=1.0)
    options = PlanOptions(start_soc=80, occupied_penalty_min=15)
    assert planned(plan(car(), 300, [busy, free], options)).stops[0].candidate.key == 2
    indifferent = PlanOptions(start_soc=80, occupied_penalty_min=0)
    assert planned(plan(car(), 300, [busy, free], indifferent)).stops[0].candidate.key == 1


def test_cost_objective_prefers_the_cheap_slow_charger_time_the_fast_one():
    fast = charger(1, 150, kw=150, price=800)
    cheap = charger(2, 152, kw=50, price=400)
    vehicle = car(max_dc_kw=150)
    by_time = planned(plan(vehicle, 300, [fast, cheap], PlanOptions(start_soc=80)))
    assert [s.candidate.key for s in by_time.stops] == [1]
    options = PlanOptions(start_soc=80, objective=Objective.COST)
    by_cost = planned(plan(vehicle, 300, [fast, cheap], options))
    assert [s.candidate.key for s in by_cost.stops] == [2]
    assert by_cost.total_hours > by_time.total_hours


def test_dominated_chargers_at_the_same_place_are_pruned():
    vehicle = car()
    options = PlanOptions(start_soc=80, cluster_km=1.0)
    kept = prune_candidates(
        [
            charger(1, 150.2, kw=150),
            charger(2, 150.4, kw=50),  # slower, same price and detour: dominated
            charger(3, 150.6, kw=50, price=300),  # slower but cheaper: kept
            charger(4, 152.0, kw=50),  # another cell
        ],
        vehicle,
        options,
        300,
    )
    assert [c.key for c in kept] == [1, 3, 4]


def test_chargers_the_car_cannot_use_are_dropped():
    vehicle = car(max_ac_kw=0)
    kept = prune_candidates(
        [charger(1, 10, kw=22, dc=False), charger(2, 20)], vehicle, PlanOptions(start_soc=80), 300
    )
    assert [c.key for c in kept] == [2]


def test_search_limit_is_reported_not_a_wrong_answer():
    options = PlanOptions(start_soc=20, max_labels=5)
    result = plan(car(), 500, [charger(i, 20.0 * i) for i in range(1, 25)], options)
    assert isinstance(result, Infeasible) and result.reason is InfeasibleReason.SEARCH_LIMIT


def test_reported_score_is_what_the_stops_add_up_to():
    vehicle = car()
    cands = [charger(i, 37.0 * i, kw=(50, 150, 350)[i % 3], price=400 + 37 * i) for i in range(12)]
    for objective in Objective:
        options = PlanOptions(start_soc=30, objective=objective, stop_overhead_min=4)
        result = planned(plan(vehicle, 450, cands, options))
        assert result.score == pytest.approx(rescore(vehicle, result, options), rel=1e-9)


def test_planner_matches_exhaustive_search_on_a_hand_made_trip():
    vehicle = car(50, 170, max_dc_kw=120)
    cands = [
        charger(1, 60, kw=50, price=450),
        charger(2, 110, kw=150, price=700, detour=2.0),
        charger(3, 180, kw=350, price=650, availability=Availability.UNKNOWN),
        charger(4, 230, kw=75, price=500),
        charger(5, 300, kw=150, price=600, availability=Availability.OCCUPIED),
    ]
    for objective in Objective:
        options = PlanOptions(
            start_soc=40, soc_step=10.0, objective=objective, cluster_km=0.0, max_soc=90
        )
        result = planned(plan(vehicle, 380, cands, options))
        model = TripModel(vehicle, 380, prune_candidates(cands, vehicle, options, 380), options)
        best = exhaustive(model)
        assert best is not None
        assert result.score == pytest.approx(best.score, rel=1e-9)
