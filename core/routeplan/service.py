"""Plan a trip for a driver: validate, load chargers along the route, price them, search."""

from __future__ import annotations

import asyncio
import math
from collections.abc import Sequence
from dataclasses import replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.chargers.search import haversine_km
from core.models import Connector
from core.routeplan import planner
from core.routeplan.candidates import (
    CandidateCharger,
    CorridorChargers,
    CorridorQuery,
    load_candidates,
)
from core.routeplan.model import (
    ChargingCurve,
    LatLon,
    PolylineError,
    Route,
    Vehicle,
    canonical_connector,
    decode_polyline,
    encode_polyline,
    great_circle_path,
)
from core.routeplan.schemas import (
    NoFeasibleRoute,
    NoRouteReason,
    PlanInputError,
    PlannedStop,
    PlanRequest,
    RoutePlan,
    VehicleSpec,
)
from core.sessions.costs import connector_quotes
from core.users.account import CONNECTOR_TYPES

MAX_VIA, MAX_POLYLINE_CHARS, MAX_POLYLINE_POINTS = 10, 200_000, 50_000
MAX_ROUTE_KM = 3_000.0
ENDPOINT_TOLERANCE_KM = 10.0  # a polyline must start/end this close to origin/destination
CORRIDOR_KM_POLYLINE, CORRIDOR_KM_GREAT_CIRCLE = 5.0, 25.0
DEFAULT_MIN_CHARGER_KW = 50.0
# Planning a few chargers is quick; beyond this, search off the event loop.
THREAD_ABOVE_CANDIDATES = 40


async def plan_route(
    session: AsyncSession, request: PlanRequest, user_id: int | None
) -> RoutePlan | NoFeasibleRoute:
    """The best charging stops for this trip, or why there are none.

    Raises PlanInputError for a request that cannot be planned as given.
    """
    vehicle, route = prepare(request)
    query = corridor_query(request, vehicle)
    corridor = await load_candidates(session, route, query)
    found = corridor.usable
    prices = await prices_ore_per_kwh(session, found, user_id)
    candidates = [_candidate(c, prices[c.charger_id]) for c in found]
    options = plan_options(request)
    if len(candidates) > THREAD_ABOVE_CANDIDATES:
        result = await asyncio.to_thread(
            planner.plan, vehicle, route.length_km, candidates, options
        )
    else:
        result = planner.plan(vehicle, route.length_km, candidates, options)
    if isinstance(result, planner.Infeasible):
        return _explain(route, corridor, query, vehicle, options, candidates, result)
    by_id = {c.charger_id: c for c in found}
    # The stops are priced at this driver's tariff (the search ranked by list prices).
    stops = [by_id[s.candidate.key].charger_id for s in result.stops]
    prices.update(await driver_prices_ore_per_kwh(session, stops, user_id))
    return _route_plan(result, by_id, prices, route, len(found))


async def prices_ore_per_kwh(
    session: AsyncSession, chargers: Sequence[CandidateCharger], user_id: int | None
) -> dict[int, int | None]:
    """Price per kWh (øre incl. VAT) this driver would pay, by charger id; None: unknown.

    For now the site's list price for everyone; the tariff engine will price the
    driver's customer group here (hence the session and the user id).
    """
    return {c.charger_id: c.list_price_ore_per_kwh for c in chargers}


async def driver_prices_ore_per_kwh(
    session: AsyncSession, charger_ids: Sequence[int], user_id: int | None
) -> dict[int, int]:
    """This driver's price per kWh (øre incl. VAT) from the tariff engine, by charger id,
    for the chargers that have one (a headline energy price)."""
    if not charger_ids:
        return {}
    rows = await session.execute(
        select(func.min(Connector.id), Connector.charger_id)
        .where(Connector.charger_id.in_(set(charger_ids)))
        .group_by(Connector.charger_id)
    )
    connector_of = {connector_id: charger_id for connector_id, charger_id in rows}
    quotes = await connector_quotes(session, list(connector_of), user_id)
    return {
        connector_of[pk]: quote.headline_ore_per_kwh
        for pk, quote in quotes.items()
        if quote.price_configured and quote.headline_ore_per_kwh is not None
    }


def stop_cost_ore(energy_wh: int, price_ore_per_kwh: int) -> int:
    """Cost of a stop in øre, rounded half up, as a session is priced."""
    return (energy_wh * price_ore_per_kwh + 500) // 1000


# ---------------------------------------------------------------------- building blocks


def prepare(request: PlanRequest) -> tuple[Vehicle, Route]:
    """The car and the route of a valid request; PlanInputError for an invalid one."""
    validate(request)
    route = build_route(request)
    if route.length_km > MAX_ROUTE_KM:
        raise PlanInputError("destination", f"routes are at most {MAX_ROUTE_KM:.0f} km")
    return build_vehicle(request.vehicle), route


def validate(r: PlanRequest) -> None:
    for name, point in (("origin", r.origin), ("destination", r.destination)):
        _check_point(name, point)
    if len(r.via) > MAX_VIA:
        raise PlanInputError("via", f"at most {MAX_VIA} via points")
    for point in r.via:
        _check_point("via", point)
    if r.polyline is not None and len(r.polyline) > MAX_POLYLINE_CHARS:
        raise PlanInputError("polyline", f"a polyline is at most {MAX_POLYLINE_CHARS} chars")
    if r.polyline_precision not in (5, 6):
        raise PlanInputError("polylinePrecision", "polyline precision is 5 or 6")
    _check_range("detourFactor", r.detour_factor, 1.0, 3.0)
    if r.corridor_km is not None:
        _check_range("corridorKm", r.corridor_km, 0.5, 50.0)
    _check_vehicle(r.vehicle)
    _check_range("startSocPercent", r.start_soc, 0.0, 100.0)
    _check_range("minSocAtStopPercent", r.min_soc_at_stop, 0.0, 50.0)
    _check_range("minSocAtArrivalPercent", r.min_soc_at_arrival, 0.0, 90.0)
    _check_range("maxSocPercent", r.max_soc, 20.0, 100.0)
    if r.max_soc <= r.min_soc_at_stop + 5:
        raise PlanInputError("maxSocPercent", "max SoC must be > 5 points above the stop minimum")
    _check_range("stopOverheadMinutes", r.stop_overhead_min, 0.0, 120.0)
    _check_range("averageSpeedKmh", r.speed_kmh, 10.0, 150.0)
    if r.min_charger_kw is not None:
        _check_range("minChargerKw", r.min_charger_kw, 0.0, 1000.0)


def _check_point(name: str, point: LatLon) -> None:
    lat, lon = point
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise PlanInputError(name, "lat must be within ±90 and lon within ±180")


def _check_range(name: str, value: float, lo: float, hi: float) -> None:
    if not (math.isfinite(value) and lo <= value <= hi):
        raise PlanInputError(name, f"{name} must be within {lo:g}..{hi:g}")


def _check_vehicle(v: VehicleSpec) -> None:
    _check_range("vehicle.batteryKwh", v.battery_kwh, 5.0, 300.0)
    _check_range("vehicle.consumptionWhPerKm", v.consumption_wh_per_km, 50.0, 1000.0)
    _check_range("vehicle.consumptionFactor", v.consumption_factor, 0.5, 3.0)
    _check_range("vehicle.maxAcKw", v.max_ac_kw, 0.0, 43.0)
    _check_range("vehicle.maxDcKw", v.max_dc_kw, 0.0, 1000.0)
    if v.max_ac_kw <= 0 and v.max_dc_kw <= 0:
        raise PlanInputError("vehicle.maxDcKw", "the car must charge on AC or DC")
    names = {canonical_connector(t) for t in v.connector_types}
    if not names or not names <= set(CONNECTOR_TYPES):
        raise PlanInputError(
            "vehicle.connectorTypes", f"connector types are among {', '.join(CONNECTOR_TYPES)}"
        )
    if v.curve is not None:
        if not 2 <= len(v.curve) <= 101:
            raise PlanInputError("vehicle.chargingCurve", "a charging curve has 2-101 points")
        try:
            ChargingCurve.from_points(v.curve)
        except ValueError as exc:
            raise PlanInputError("vehicle.chargingCurve", str(exc)) from None
        if len({s for s, _ in v.curve}) != len(v.curve):
            raise PlanInputError("vehicle.chargingCurve", "one point per SoC value")
        if any(kw > 1000 for _, kw in v.curve):
            raise PlanInputError("vehicle.chargingCurve", "charging power is at most 1000 kW")


def build_vehicle(v: VehicleSpec) -> Vehicle:
    peak = max(v.max_dc_kw, v.max_ac_kw)
    curve = (
        ChargingCurve.from_points(v.curve)
        if v.curve is not None
        else ChargingCurve.from_shape(v.curve_shape, peak)
    )
    return Vehicle(
        battery_kwh=v.battery_kwh,
        consumption_wh_per_km=v.consumption_wh_per_km,
        max_ac_kw=v.max_ac_kw,
        max_dc_kw=v.max_dc_kw,
        curve=curve,
        connector_types=frozenset(canonical_connector(t) for t in v.connector_types),
        consumption_factor=v.consumption_factor,
    )


def build_route(r: PlanRequest) -> Route:
    """The app's polyline as given, or the great-circle path times the detour factor."""
    if r.polyline is None:
        return Route.through(great_circle_path([r.origin, *r.via, r.destination]), r.detour_factor)
    try:
        points = decode_polyline(r.polyline, r.polyline_precision)
    except PolylineError as exc:
        raise PlanInputError("polyline", str(exc)) from None
    if not 2 <= len(points) <= MAX_POLYLINE_POINTS:
        raise PlanInputError("polyline", f"a polyline has 2-{MAX_POLYLINE_POINTS} points")
    for name, end, point in (
        ("origin", points[0], r.origin),
        ("destination", points[-1], r.destination),
    ):
        if haversine_km(*end, *point) > ENDPOINT_TOLERANCE_KM:
            raise PlanInputError("polyline", f"the polyline does not reach the {name}")
    return Route.through(points, 1.0)


def corridor_query(r: PlanRequest, vehicle: Vehicle) -> CorridorQuery:
    corridor = r.corridor_km
    if corridor is None:
        corridor = CORRIDOR_KM_GREAT_CIRCLE if r.polyline is None else CORRIDOR_KM_POLYLINE
    min_kw = r.min_charger_kw
    if min_kw is None:
        min_kw = min(DEFAULT_MIN_CHARGER_KW, max(vehicle.max_ac_kw, vehicle.max_dc_kw))
    return CorridorQuery(
        corridor_km=corridor,
        connector_types=vehicle.connector_types,
        min_power_kw=min_kw,
        max_ac_kw=vehicle.max_ac_kw,
        max_dc_kw=vehicle.max_dc_kw,
    )


def plan_options(r: PlanRequest) -> planner.PlanOptions:
    return planner.PlanOptions(
        start_soc=r.start_soc,
        min_soc_at_stop=r.min_soc_at_stop,
        min_soc_at_arrival=r.min_soc_at_arrival,
        max_soc=r.max_soc,
        stop_overhead_min=r.stop_overhead_min,
        speed_kmh=r.speed_kmh,
        objective=r.objective,
    )


def _candidate(c: CandidateCharger, price: int | None) -> planner.Candidate:
    return planner.Candidate(
        key=c.charger_id,
        position_km=c.position_km,
        detour_km=c.detour_km,
        power_kw=c.power_kw,
        dc=c.dc,
        price_ore_per_kwh=price,
        availability=c.availability,
    )


def _route_plan(
    plan: planner.Plan,
    by_id: dict[int, CandidateCharger],
    prices: dict[int, int | None],
    route: Route,
    considered: int,
) -> RoutePlan:
    stops: list[PlannedStop] = []
    for s in plan.stops:
        c = by_id[s.candidate.key]
        price = prices[c.charger_id]
        energy_wh = round(s.grid_kwh * 1000)
        stops.append(
            PlannedStop(
                charger_id=c.charger_id,
                charge_point_id=c.charge_point_id,
                site_id=c.site_id,
                site_name=c.site_name,
                address=c.address,
                city=c.city,
                latitude=c.latitude,
                longitude=c.longitude,
                connector_type=c.connector_type,
                power_kw=c.power_kw,
                availability=c.availability,
                distance_from_origin_km=round(c.position_km, 1),
                detour_km=round(c.detour_km, 1),
                arrival_soc=round(s.arrival_soc, 1),
                departure_soc=round(s.departure_soc, 1),
                charging_minutes=round(s.charging_hours * 60, 1),
                energy_kwh=round(energy_wh / 1000, 3),
                price_ore_per_kwh=price,
                cost_ore=None if price is None else stop_cost_ore(energy_wh, price),
            )
        )
    costs = [s.cost_ore for s in stops]
    return RoutePlan(
        stops=tuple(stops),
        distance_km=round(plan.driven_km, 1),
        driving_minutes=round(plan.driving_hours * 60, 1),
        charging_minutes=round(plan.charging_hours * 60, 1),
        stop_overhead_minutes=round(plan.overhead_hours * 60, 1),
        total_minutes=round(plan.total_hours * 60, 1),
        cost_ore=sum(c for c in costs if c is not None),
        cost_complete=all(c is not None for c in costs),
        energy_kwh=round(sum(s.energy_kwh for s in stops), 3),
        arrival_soc=round(plan.arrival_soc, 1),
        polyline=encode_polyline(route.points),
        candidates=considered,
    )


def _explain(
    route: Route,
    corridor: CorridorChargers,
    query: CorridorQuery,
    vehicle: Vehicle,
    options: planner.PlanOptions,
    candidates: list[planner.Candidate],
    result: planner.Infeasible,
) -> NoFeasibleRoute:
    """Why there is no plan: too far between chargers, or chargers the car cannot plug into."""
    if result.reason is planner.InfeasibleReason.SEARCH_LIMIT:
        return NoFeasibleRoute(
            NoRouteReason.SEARCH_LIMIT,
            "This route has too many charging options to plan in time: add via points or "
            "raise the minimum charger power.",
        )
    gap = (result.gap_from_km, result.gap_to_km, result.reach_km)
    others = corridor.other_plugs
    if others:
        # Would the car make it if it could plug into those too (charging the way it can)?
        dc = vehicle.max_dc_kw >= vehicle.max_ac_kw
        extra = [replace(_candidate(c, c.list_price_ore_per_kwh), dc=dc) for c in others]
        pooled = planner.prune_candidates(candidates + extra, vehicle, options, route.length_km)
        if planner.TripModel(vehicle, route.length_km, pooled, options).find_gap() is None:
            lo, hi = gap[0], gap[1]
            helpful = sorted({c.connector_type for c in others if lo <= c.position_km <= hi})
            types = tuple(helpful or sorted({c.connector_type for c in others}))
            return NoFeasibleRoute(
                NoRouteReason.CONNECTOR_MISMATCH,
                f"The chargers that would close the gap after km {lo:.0f} have "
                f"{', '.join(types)} connectors, which this car cannot use.",
                *gap,
                connector_types=types,
            )
    if gap[0] == 0:
        where = f"from the start at {options.start_soc:.0f} %"
    else:
        where = f"charged to {options.max_soc:.0f} % at km {gap[0]:.0f}"
    return NoFeasibleRoute(
        NoRouteReason.GAP_TOO_LONG,
        f"The gap to the next charger is too long: {where}, the car reaches about "
        f"km {gap[2]:.0f} of {route.length_km:.0f}, the next charger it could use is at "
        f"km {gap[1]:.0f} (chargers under {query.min_power_kw:g} kW not considered).",
        *gap,
    )
