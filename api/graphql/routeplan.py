"""planRoute: charging stops for a trip, with this driver's prices (core.routeplan)."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import strawberry
from strawberry.types import Info

from api.graphql.context import Context
from api.graphql.results import InvalidInput, Problem
from api.graphql.types import Money, Site
from core.routeplan import schemas as rp
from core.routeplan.model import CurveShape
from core.routeplan.planner import Objective
from core.routeplan.service import plan_route


@strawberry.enum(description="Default charging-curve shapes, scaled to the car's peak power.")
class ChargingCurveShape(Enum):
    TYPICAL = "typical"
    FLAT = "flat"
    LFP = "lfp"


@strawberry.enum
class RouteObjective(Enum):
    TIME = "time"
    COST = "cost"


@strawberry.enum
class ChargerAvailability(Enum):
    AVAILABLE = "available"
    OCCUPIED = "occupied"
    UNKNOWN = "unknown"


@strawberry.enum
class NoRouteReason(Enum):
    GAP_TOO_LONG = "gap_too_long"
    CONNECTOR_MISMATCH = "connector_mismatch"
    SEARCH_LIMIT = "search_limit"


@strawberry.input
class LatLonInput:
    lat: float
    lon: float


@strawberry.input
class CurvePointInput:
    soc_percent: float
    kw: float


@strawberry.input(description="The car as far as planning needs it.")
class RouteVehicleInput:
    battery_kwh: float = strawberry.field(description="Usable battery capacity.")
    consumption_wh_per_km: float
    consumption_factor: float = strawberry.field(
        default=1.0, description="Speed/temperature multiplier: 1.15 motorway, 1.3 winter..."
    )
    max_ac_kw: float = 11.0
    max_dc_kw: float = 100.0
    charging_curve: list[CurvePointInput] | None = strawberry.field(
        default=None, description="Battery power (kW) by SoC; without it, curveShape."
    )
    curve_shape: ChargingCurveShape = ChargingCurveShape.TYPICAL
    connector_types: list[str] = strawberry.field(default_factory=lambda: ["Type2", "CCS2"])


@strawberry.input
class PlanRouteInput:
    origin: LatLonInput
    destination: LatLonInput
    vehicle: RouteVehicleInput
    start_soc_percent: float
    via: list[LatLonInput] = strawberry.field(
        default_factory=list, description="Points to pass, in order (when there is no polyline)."
    )
    polyline: str | None = strawberry.field(
        default=None,
        description="The route from the map provider (encoded polyline). Without it: the "
        "great-circle path through origin, via points and destination times detourFactor.",
    )
    polyline_precision: int = 5
    detour_factor: float = 1.3
    corridor_km: float | None = strawberry.field(
        default=None,
        description="How far off the route chargers may be: 5 km, 25 km without a polyline.",
    )
    min_soc_at_stop_percent: float = 10.0
    min_soc_at_arrival_percent: float = 10.0
    max_soc_percent: float = 80.0
    stop_overhead_minutes: float = 3.0
    optimize_for: RouteObjective = RouteObjective.TIME
    average_speed_kmh: float = 70.0
    min_charger_kw: float | None = strawberry.field(
        default=None, description="Chargers below this power are ignored (default 50 kW)."
    )


@strawberry.type
class RouteStop:
    charger_id: strawberry.ID
    charger_code: str = strawberry.field(description="The id printed on the charger.")
    site: Site
    connector_type: str
    max_kw: float
    availability: ChargerAvailability
    distance_from_origin_km: float
    detour_km: float = strawberry.field(description="Each way, from the route.")
    arrival_soc_percent: float
    departure_soc_percent: float
    charging_minutes: float
    energy_kwh: float = strawberry.field(description="Metered at the charger.")
    price_per_kwh_ore: int | None
    estimated_cost: Money | None = strawberry.field(description="At this driver's price.")

    @classmethod
    def of(cls, s: rp.PlannedStop) -> RouteStop:
        return cls(
            charger_id=strawberry.ID(str(s.charger_id)),
            charger_code=s.charge_point_id,
            site=Site(
                id=strawberry.ID(str(s.site_id)),
                name=s.site_name,
                address=s.address,
                city=s.city,
                latitude=s.latitude,
                longitude=s.longitude,
            ),
            connector_type=s.connector_type,
            max_kw=s.power_kw,
            availability=ChargerAvailability(s.availability.value),
            distance_from_origin_km=s.distance_from_origin_km,
            detour_km=s.detour_km,
            arrival_soc_percent=s.arrival_soc,
            departure_soc_percent=s.departure_soc,
            charging_minutes=s.charging_minutes,
            energy_kwh=s.energy_kwh,
            price_per_kwh_ore=s.price_ore_per_kwh,
            estimated_cost=None if s.cost_ore is None else Money(amount_ore=s.cost_ore),
        )


@strawberry.type(description="Where to stop, for how long, and what it costs.")
class RoutePlan:
    stops: list[RouteStop]
    distance_km: float = strawberry.field(description="Driven, detours to chargers included.")
    driving_minutes: float
    charging_minutes: float
    stop_overhead_minutes: float
    total_minutes: float
    total_cost: Money = strawberry.field(description="Sum over stops with a known price.")
    cost_complete: bool = strawberry.field(description="Every stop has a known price.")
    energy_kwh: float
    arrival_soc_percent: float
    polyline: str = strawberry.field(description="The route planned on (precision 5).")
    chargers_considered: int

    @classmethod
    def of(cls, p: rp.RoutePlan) -> RoutePlan:
        return cls(
            stops=[RouteStop.of(s) for s in p.stops],
            distance_km=p.distance_km,
            driving_minutes=p.driving_minutes,
            charging_minutes=p.charging_minutes,
            stop_overhead_minutes=p.stop_overhead_minutes,
            total_minutes=p.total_minutes,
            total_cost=Money(amount_ore=p.cost_ore),
            cost_complete=p.cost_complete,
            energy_kwh=p.energy_kwh,
            arrival_soc_percent=p.arrival_soc,
            polyline=p.polyline,
            chargers_considered=p.candidates,
        )


@strawberry.type
class NoFeasibleRoute(Problem):
    reason: NoRouteReason
    gap_from_km: float | None = strawberry.field(
        description="The last place the car can charge before the gap (0: the start)."
    )
    gap_to_km: float | None = strawberry.field(
        description="The next charger (or the destination) it cannot reach."
    )
    reach_km: float | None
    connector_types: list[str] = strawberry.field(
        description="Connector types that would close the gap (CONNECTOR_MISMATCH)."
    )

    @classmethod
    def of(cls, n: rp.NoFeasibleRoute) -> NoFeasibleRoute:
        def km(value: float | None) -> float | None:
            return None if value is None else round(value, 1)

        return cls(
            message=n.message,
            reason=NoRouteReason(n.reason.value),
            gap_from_km=km(n.gap_from_km),
            gap_to_km=km(n.gap_to_km),
            reach_km=km(n.reach_km),
            connector_types=list(n.connector_types),
        )


PlanRouteResult = Annotated[
    RoutePlan | NoFeasibleRoute | InvalidInput, strawberry.union("PlanRouteResult")
]


def plan_request(data: PlanRouteInput) -> rp.PlanRequest:
    v = data.vehicle
    return rp.PlanRequest(
        origin=(data.origin.lat, data.origin.lon),
        destination=(data.destination.lat, data.destination.lon),
        vehicle=rp.VehicleSpec(
            battery_kwh=v.battery_kwh,
            consumption_wh_per_km=v.consumption_wh_per_km,
            connector_types=tuple(v.connector_types),
            max_ac_kw=v.max_ac_kw,
            max_dc_kw=v.max_dc_kw,
            consumption_factor=v.consumption_factor,
            curve=(
                None
                if v.charging_curve is None
                else tuple((p.soc_percent, p.kw) for p in v.charging_curve)
            ),
            curve_shape=CurveShape(v.curve_shape.value),
        ),
        start_soc=data.start_soc_percent,
        via=tuple((p.lat, p.lon) for p in data.via),
        polyline=data.polyline,
        polyline_precision=data.polyline_precision,
        detour_factor=data.detour_factor,
        corridor_km=data.corridor_km,
        min_soc_at_stop=data.min_soc_at_stop_percent,
        min_soc_at_arrival=data.min_soc_at_arrival_percent,
        max_soc=data.max_soc_percent,
        stop_overhead_min=data.stop_overhead_minutes,
        objective=Objective(data.optimize_for.value),
        speed_kmh=data.average_speed_kmh,
        min_charger_kw=data.min_charger_kw,
    )


@strawberry.type
class RoutePlanQuery:
    @strawberry.field(
        description="Charging stops for a trip: where, how long, what it costs. "
        "Anonymous drivers get list prices."
    )
    async def plan_route(self, info: Info[Context, None], input: PlanRouteInput) -> PlanRouteResult:
        ctx = info.context
        user = await ctx.user()
        try:
            result = await plan_route(
                ctx.session, plan_request(input), user.id if user is not None else None
            )
        except rp.PlanInputError as exc:
            return InvalidInput(message=exc.message, field=exc.field)
        if isinstance(result, rp.NoFeasibleRoute):
            return NoFeasibleRoute.of(result)
        return RoutePlan.of(result)
