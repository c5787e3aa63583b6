"""Chargers along the route from the database, and whole plans through the service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from core.db import create_engine, session_factory
from core.routeplan.candidates import CorridorQuery, load_candidates
from core.routeplan.model import Route, encode_polyline
from core.routeplan.planner import Availability, Objective
from core.routeplan.schemas import (
    NoFeasibleRoute,
    NoRouteReason,
    PlanInputError,
    PlanRequest,
    RoutePlan,
    VehicleSpec,
)
from core.routeplan.service import plan_route, prepare, stop_cost_ore
from tests.routeplan.places import END, POLYLINE, START, Plug, Spot, at_km, place, route_points

CAR = VehicleSpec(battery_kwh=60, consumption_wh_per_km=180, connector_types=("CCS2", "Type2"))
QUERY = CorridorQuery(
    corridor_km=5.0,
    connector_types=frozenset({"CCS2", "Type2"}),
    min_power_kw=50,
    max_ac_kw=11,
    max_dc_kw=100,
)


@pytest.fixture
async def session(db_url: str) -> AsyncIterator[AsyncSession]:
    engine = create_engine(db_url)
    try:
        async with session_factory(engine)() as s:
            yield s
            await s.rollback()
    finally:
        await engine.dispose()


def request(start_soc: float = 80, **kw: Any) -> PlanRequest:
    values: dict[str, Any] = {
        "origin": START,
        "destination": END,
        "vehicle": CAR,
        "start_soc": start_soc,
        "polyline": POLYLINE,
        **kw,
    }
    return PlanRequest(**values)


async def test_only_usable_public_chargers_near_the_route_are_candidates(session):
    ids = await place(
        session,
        Spot(100),  # ok
        Spot(110, east_km=3.0),  # ok, 3 km off the route
        Spot(120, east_km=8.0),  # outside the 5 km corridor
        Spot(130, public=False),
        Spot(140, registration="Pending"),
        Spot(150, charger_status="Unavailable"),
        Spot(160, plugs=[Plug(status="Faulted")]),
        Spot(170, plugs=[Plug(type="CHAdeMO", kw=50)]),  # the car has no CHAdeMO
        Spot(180, plugs=[Plug(type="Type2", kw=22)]),  # below 50 kW
        Spot(190, plugs=[Plug(kw=150)], max_kw=40),  # the charger caps its plug
        Spot(200, plugs=[Plug(type="cCCS2", kw=50)]),  # OCPP 2.x spelling
    )
    route = Route.through(route_points())
    corridor = await load_candidates(session, route, QUERY)
    found = corridor.usable
    assert [c.charger_id for c in found] == [ids[0], ids[1], ids[10]]
    # The CHAdeMO-only charger is kept apart: it can explain a gap, never be planned with.
    assert [c.charger_id for c in corridor.other_plugs] == [ids[7]]
    first, second, third = found
    assert first.position_km == pytest.approx(100, abs=0.5)
    assert first.offset_km == pytest.approx(0, abs=0.01)
    assert second.offset_km == pytest.approx(3.0, abs=0.05)
    assert second.detour_km == pytest.approx(3.0 * QUERY.detour_factor, abs=0.1)
    assert third.connector_type == "CCS2" and third.power_kw == 50


async def test_each_charger_offers_its_best_plug_and_its_availability(session):
    ids = await place(
        session,
        Spot(50, plugs=[Plug("Type2", 22), Plug("CCS2", 150, "Charging"), Plug("CCS2", 150)]),
        Spot(60, plugs=[Plug("CCS2", 150, "Charging"), Plug("CCS2", 150, "SuspendedEV")]),
        Spot(70, online=False),
    )
    corridor = await load_candidates(session, Route.through(route_points()), QUERY)
    found = {c.charger_id: c for c in corridor.usable}
    assert (found[ids[0]].connector_type, found[ids[0]].power_kw, found[ids[0]].dc) == (
        "CCS2",
        150,
        True,
    )
    assert found[ids[0]].availability is Availability.AVAILABLE
    assert found[ids[1]].availability is Availability.OCCUPIED
    assert found[ids[2]].availability is Availability.UNKNOWN


async def test_plan_from_the_database_has_integer_costs_at_the_site_price(session):
    ids = await place(session, Spot(150, price=459), Spot(152, price=None, plugs=[Plug(kw=50)]))
    result = await plan_route(session, request(80, min_soc_at_arrival=10), user_id=None)
    assert isinstance(result, RoutePlan), result
    (stop,) = result.stops
    assert stop.charger_id == ids[0]
    assert stop.price_ore_per_kwh == 459
    energy_wh = round(stop.energy_kwh * 1000)
    assert stop.cost_ore == stop_cost_ore(energy_wh, 459) == (energy_wh * 459 + 500) // 1000
    assert isinstance(stop.cost_ore, int) and result.cost_ore == stop.cost_ore
    assert result.cost_complete
    assert result.arrival_soc >= 10
    assert result.total_minutes == pytest.approx(
        result.driving_minutes + result.charging_minutes + result.stop_overhead_minutes, abs=0.2
    )
    assert result.polyline == POLYLINE


async def selects_during(session: AsyncSession, work: Any) -> tuple[Any, list[str]]:
    statements: list[str] = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    engine = session.bind
    assert isinstance(engine, AsyncEngine)
    event.listen(engine.sync_engine, "before_cursor_execute", count)
    try:
        result = await work
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", count)
    return result, [s for s in statements if s.lstrip().upper().startswith("SELECT")]


async def test_planning_costs_a_few_queries_with_or_without_a_plan(session):
    await place(session, *(Spot(20.0 * k) for k in range(1, 15)))
    result, selects = await selects_during(session, plan_route(session, request(30), user_id=7))
    assert isinstance(result, RoutePlan) and len(result.stops) >= 1
    # One for the candidates, then the driver's tariff for the stops (not per stop).
    assert len(selects) <= 6, selects
    far = request(30, max_soc=21, min_soc_at_stop=15)  # cannot get from one to the next
    result, selects = await selects_during(session, plan_route(session, far, user_id=None))
    assert isinstance(result, NoFeasibleRoute)
    assert len(selects) == 1, selects


async def test_without_a_polyline_the_great_circle_times_the_detour_factor_is_used(session):
    await place(session, Spot(150, east_km=10))
    result = await plan_route(session, request(80, polyline=None, detour_factor=1.2), None)
    assert isinstance(result, RoutePlan)
    straight = (END[0] - START[0]) * 111.195
    (stop,) = result.stops
    assert result.distance_km == pytest.approx(1.2 * straight + 2 * stop.detour_km, abs=1.0)
    assert stop.distance_from_origin_km == pytest.approx(150 * 1.2, abs=1.0)


async def test_gap_too_long_says_where(session):
    await place(session, Spot(20), Spot(270))
    result = await plan_route(session, request(80), None)
    assert isinstance(result, NoFeasibleRoute)
    assert result.reason is NoRouteReason.GAP_TOO_LONG
    assert result.gap_from_km == pytest.approx(20, abs=0.5)
    assert result.gap_to_km == pytest.approx(270, abs=0.5)
    assert "km 20" in result.message and "km 270" in result.message


async def test_connector_mismatch_when_only_other_plugs_would_close_the_gap(session):
    await place(
        session,
        Spot(20),
        Spot(150, plugs=[Plug("CHAdeMO", 50)]),
        Spot(270),
    )
    result = await plan_route(session, request(80), None)
    assert isinstance(result, NoFeasibleRoute)
    assert result.reason is NoRouteReason.CONNECTOR_MISMATCH
    assert result.connector_types == ("CHAdeMO",)
    assert "CHAdeMO" in result.message


async def test_ac_only_car_among_fast_ccs_chargers_is_told_its_plug_is_the_problem(session):
    await place(session, *(Spot(40.0 * k) for k in range(1, 8)))
    ac_only = VehicleSpec(60, 180, ("Type2",), max_ac_kw=11, max_dc_kw=0)
    result = await plan_route(session, request(50, vehicle=ac_only, min_charger_kw=11), None)
    assert isinstance(result, NoFeasibleRoute)
    assert result.reason is NoRouteReason.CONNECTOR_MISMATCH
    assert result.connector_types == ("CCS2",)


async def test_cost_objective_through_the_service(session):
    ids = await place(session, Spot(150, price=800), Spot(151, price=350, plugs=[Plug(kw=50)]))
    by_time = await plan_route(session, request(80), None)
    by_cost = await plan_route(session, request(80, objective=Objective.COST), None)
    assert isinstance(by_time, RoutePlan) and isinstance(by_cost, RoutePlan)
    assert [s.charger_id for s in by_time.stops] == [ids[0]]
    assert [s.charger_id for s in by_cost.stops] == [ids[1]]
    assert by_cost.cost_ore < by_time.cost_ore


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"origin": (91.0, 10.0)}, "origin"),
        ({"polyline": "not a polyline!"}, "polyline"),
        ({"polyline": encode_polyline([START, at_km(100)])}, "polyline"),
        ({"start_soc": 120}, "startSocPercent"),
        ({"max_soc": 12}, "maxSocPercent"),
        ({"vehicle": VehicleSpec(0, 180, ("CCS2",))}, "vehicle.batteryKwh"),
        ({"vehicle": VehicleSpec(60, 180, ("Tesla",))}, "vehicle.connectorTypes"),
        ({"vehicle": VehicleSpec(60, 180, ("CCS2",), curve=((10, 0.0),))}, "vehicle.chargingCurve"),
        ({"via": ((60.5, 10.0),) * 11}, "via"),
        ({"polyline": None, "destination": (30.0, 10.0)}, "destination"),
    ],
)
def test_requests_that_cannot_be_planned_name_the_field(changes, field):
    prepare(request())  # the unchanged request is fine
    with pytest.raises(PlanInputError) as caught:
        prepare(request(**changes))
    assert caught.value.field == field
