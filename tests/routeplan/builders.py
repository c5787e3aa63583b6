"""Small trips for planner tests, and an exhaustive search to check the planner against."""

from __future__ import annotations

import math
from dataclasses import dataclass

from core.routeplan.model import ChargingCurve, CurveShape, Vehicle
from core.routeplan.planner import (
    EPS,
    Availability,
    Candidate,
    Plan,
    PlanOptions,
    TripModel,
    penalty_min,
)


def car(
    battery_kwh: float = 60,
    wh_per_km: float = 180,
    *,
    max_dc_kw: float = 100,
    max_ac_kw: float = 11,
    curve: ChargingCurve | None = None,
    plugs: tuple[str, ...] = ("CCS2", "Type2"),
) -> Vehicle:
    return Vehicle(
        battery_kwh=battery_kwh,
        consumption_wh_per_km=wh_per_km,
        max_ac_kw=max_ac_kw,
        max_dc_kw=max_dc_kw,
        curve=curve or ChargingCurve.from_shape(CurveShape.FLAT, max(max_dc_kw, max_ac_kw)),
        connector_types=frozenset(plugs),
    )


def charger(
    key: int,
    km: float,
    kw: float = 150,
    *,
    detour: float = 0.0,
    price: int | None = 500,
    dc: bool = True,
    availability: Availability = Availability.AVAILABLE,
) -> Candidate:
    return Candidate(key, km, detour, kw, dc, price, availability)


def rescore(vehicle: Vehicle, plan: Plan, options: PlanOptions) -> float:
    """The plan's objective value, recomputed from its stops alone."""
    w_time, w_cost = options.weights
    hours = plan.driven_km / options.speed_kmh + plan.charging_hours
    money = 0.0
    for stop in plan.stops:
        c = stop.candidate
        hours += (options.stop_overhead_min + penalty_min(options, c.availability)) / 60
        price = options.unpriced_ore_per_kwh if c.price_ore_per_kwh is None else c.price_ore_per_kwh
        money += stop.grid_kwh * price
    return w_time * hours + w_cost * money


@dataclass(frozen=True)
class Best:
    score: float
    stops: tuple[int, ...]  # candidate keys


def exhaustive(model: TripModel) -> Best | None:
    """Every sequence of stops with every allowed departure level: the best score.

    Independent of the planner's search: it only shares the model's arithmetic (levels,
    charge times, scores). Exponential; for a handful of candidates.
    """
    o, c = model.options, model.c
    best: list[Best] = []

    def drive(from_node: int, q: float, score: float, stops: tuple[int, ...]) -> None:
        arrival = q - c * model.route_km
        if arrival >= o.min_soc_at_arrival - EPS:
            total = score + model.drive_score(model.route_km - model.pos[from_node])
            if not best or total < best[0].score:
                best[:] = [Best(total, stops)]
        for j in range(from_node + 1, model.n + 1):
            at_route = q - c * model.pos[j]
            soc = at_route - model.det_soc[j]
            if soc < o.min_soc_at_stop - EPS or soc >= o.max_soc - EPS:
                continue
            reach = score + model.drive_score(model.pos[j] - model.pos[from_node])
            for level in model.levels(j)[0]:
                if level < soc - EPS:
                    continue
                cost = reach + model.fixed[j] + model.charge_score(j, soc, max(level, soc))
                drive(j, level + model.base[j], cost, (*stops, model.cands[j - 1].key))

    drive(0, o.start_soc, 0.0, ())
    return best[0] if best else None


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-7, abs_tol=1e-7)
