"""What a route-planning request asks and what it answers, independent of any transport."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from core.routeplan.model import CurveShape, LatLon
from core.routeplan.planner import Availability, Objective


class PlanInputError(ValueError):
    """The request cannot be planned as given; `field` names the input (API spelling)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class VehicleSpec:
    battery_kwh: float  # usable
    consumption_wh_per_km: float
    connector_types: tuple[str, ...]
    max_ac_kw: float = 11.0
    max_dc_kw: float = 100.0
    consumption_factor: float = 1.0  # speed/temperature multiplier
    curve: tuple[tuple[float, float], ...] | None = None  # (SoC %, kW); None: curve_shape
    curve_shape: CurveShape = CurveShape.TYPICAL


@dataclass(frozen=True)
class PlanRequest:
    origin: LatLon
    destination: LatLon
    vehicle: VehicleSpec
    start_soc: float
    via: tuple[LatLon, ...] = ()
    # The route from the app's map provider (Google encoded polyline); without it the
    # great-circle path through origin, via points and destination, times detour_factor.
    polyline: str | None = None
    polyline_precision: int = 5
    detour_factor: float = 1.3
    corridor_km: float | None = None  # default: 5 km with a polyline, 25 km without
    min_soc_at_stop: float = 10.0
    min_soc_at_arrival: float = 10.0
    max_soc: float = 80.0
    stop_overhead_min: float = 3.0
    objective: Objective = Objective.TIME
    speed_kmh: float = 70.0
    min_charger_kw: float | None = None  # default: 50 kW, or less for a car that can't


@dataclass(frozen=True)
class PlannedStop:
    charger_id: int
    charge_point_id: str
    site_id: int
    site_name: str
    address: str
    city: str
    latitude: float
    longitude: float
    connector_type: str
    power_kw: float  # the connector's power (the car may take less)
    availability: Availability
    distance_from_origin_km: float
    detour_km: float  # each way
    arrival_soc: float
    departure_soc: float
    charging_minutes: float
    energy_kwh: float  # metered at the charger
    price_ore_per_kwh: int | None
    cost_ore: int | None


@dataclass(frozen=True)
class RoutePlan:
    stops: tuple[PlannedStop, ...]
    distance_km: float  # driven, detours included
    driving_minutes: float
    charging_minutes: float
    stop_overhead_minutes: float
    total_minutes: float
    cost_ore: int  # sum over stops with a known price
    cost_complete: bool  # every stop has a known price
    energy_kwh: float
    arrival_soc: float
    polyline: str  # the route planned on (precision 5)
    candidates: int  # chargers considered after filtering


class NoRouteReason(StrEnum):
    GAP_TOO_LONG = "gap_too_long"
    CONNECTOR_MISMATCH = "connector_mismatch"
    SEARCH_LIMIT = "search_limit"


@dataclass(frozen=True)
class NoFeasibleRoute:
    reason: NoRouteReason
    message: str
    gap_from_km: float | None = None  # the last place the car can charge before the gap
    gap_to_km: float | None = None  # the charger (or destination) it cannot reach
    reach_km: float | None = None  # how far it gets from there
    connector_types: tuple[str, ...] = ()  # connectors that would close the gap
