"""Charging stops along a route: an A* label-setting search over (charger, SoC) states.

The model
---------
The route is one line, measured in road km from the origin (0) to the destination (L).
Every candidate charger sits at a position along it (its projection on the route) with
a detour (road km, each way) and a power: the best compatible connector, capped by the
car's AC or DC limit. Driving uses ``c`` SoC points per road km; charging follows the
car's curve, ``power(SoC) = min(curve(SoC), cap)``, integrated exactly (model.py).

Between stops the car drives on the route, so ``q = SoC + c * position`` stays constant
and a "road" state is (node, q): node 0 is the origin, 1..n the candidates in route
order, n+1 the destination. A road label only ever moves to the next node, so the graph
is local — a charger links to its neighbour on the route, never to every other charger —
and a leg is only followed while the SoC stays above the minimum (edges within range).
Stopping at a candidate (detour there and back, the per-stop overhead and, for occupied
or unknown chargers, a penalty) starts a "charging" chain of states (candidate, level):
each step charges to the next level; leaving at a level puts a road label back on the
route. Departure levels sit on one grid in q space (``soc_step`` wide; the arrival SoC
is kept exactly) plus ``max_soc`` itself, so labels meet on shared q values and the
number of states stays ~ nodes x levels. Because chains are charged step by step on the
real curve, two short stops in the fast part of the curve beat one long stop into the
slow part whenever that is true.

Labels are settled in A* order (the heuristic: remaining driving time plus the missing
energy at the car's best reachable power, or at the cheapest price; consistent, so the
first label popped at the destination is optimal). A road label is dropped when another
label at the same node has at least its q at no more cost (dominance); a charging state
is settled once. Objectives: TIME (hours; cost in øre breaks near-ties, 100 NOK ~ 36 s)
or COST (øre, plus the driver's time at ``value_of_time_ore_per_hour``, 60 NOK/h by
default, so that it does not add a stop to save a few kroner). Occupied/unknown-status
chargers add minutes to the objective only, never to the reported times. Chargers
without a known price rank at ``unpriced_ore_per_kwh``.

Limits
------
- Speed is one average for the whole trip; no elevation, wind, traffic or ferries.
  Consumption is linear in distance (one Wh/km times a speed/temperature factor).
- The detour to a charger is the straight-line distance from its projection on the route
  times a road factor, driven at the same speed and energy use, out and back.
- Departure SoCs are restricted to a grid (``soc_step``) plus ``max_soc``: the optimum can
  charge up to one step more than strictly needed at a stop.
- Chargers are points on a line: a charger projects onto its nearest route segment, and
  a route that doubles back on itself is not handled specially.
- Availability is now, not at arrival; occupancy is a fixed penalty, not a queue model.
- Chargers in one ``cluster_km`` cell of the route are pruned by dominance (better or
  equal power, penalty, detour and price): exact for chargers at the same place, an
  approximation within the cell otherwise. ``max_labels`` bounds the work per request.
- Battery temperature, preconditioning and charger power sharing are not modelled;
  energy billed is battery energy / ``charging_efficiency``.
"""

from __future__ import annotations

import heapq
import itertools
import math
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.routeplan.model import ChargeTimeTable, Vehicle, charge_time_table

EPS = 1e-9
# TIME scores hours, and cost breaks near-ties (1e-6 h per øre: 100 NOK ~ 36 s).
TIME_WEIGHTS = (1.0, 1e-6)


class Objective(StrEnum):
    TIME = "time"
    COST = "cost"


class Availability(StrEnum):
    AVAILABLE = "available"
    OCCUPIED = "occupied"
    UNKNOWN = "unknown"


class InfeasibleReason(StrEnum):
    GAP_TOO_LONG = "gap_too_long"
    SEARCH_LIMIT = "search_limit"


@dataclass(frozen=True)
class Candidate:
    key: int  # the caller's id for this charger
    position_km: float  # road km from the origin to its projection on the route
    detour_km: float  # road km from the route to the charger (each way)
    power_kw: float  # best compatible connector
    dc: bool
    price_ore_per_kwh: int | None = None
    availability: Availability = Availability.AVAILABLE


@dataclass(frozen=True)
class PlanOptions:
    start_soc: float
    min_soc_at_stop: float = 10.0
    min_soc_at_arrival: float = 10.0
    max_soc: float = 80.0
    stop_overhead_min: float = 3.0
    speed_kmh: float = 70.0
    objective: Objective = Objective.TIME
    soc_step: float = 2.0
    occupied_penalty_min: float = 15.0
    unknown_penalty_min: float = 5.0
    unpriced_ore_per_kwh: int = 900  # how a charger without a price ranks (cost objective)
    # COST scores øre and values the driver's time at this much per hour, so that it
    # does not add a stop to save a few kroner.
    value_of_time_ore_per_hour: float = 6_000.0
    cluster_km: float = 2.0
    max_labels: int = 500_000

    def __post_init__(self) -> None:
        if not 0 <= self.min_soc_at_stop < self.max_soc <= 100 or self.soc_step <= 0:
            raise ValueError("need 0 <= min SoC at stops < max SoC <= 100 and a positive step")
        if not 0 <= self.min_soc_at_arrival <= 100 or self.speed_kmh <= 0:
            raise ValueError("arrival SoC must be within 0..100 and speed positive")

    @property
    def weights(self) -> tuple[float, float]:
        """Score per hour and per øre."""
        if self.objective is Objective.TIME:
            return TIME_WEIGHTS
        return self.value_of_time_ore_per_hour, 1.0


@dataclass(frozen=True)
class Stop:
    candidate: Candidate
    arrival_soc: float
    departure_soc: float
    charging_hours: float
    battery_kwh: float  # into the battery
    grid_kwh: float  # metered at the charger


@dataclass(frozen=True)
class Plan:
    stops: tuple[Stop, ...]
    route_km: float
    driven_km: float  # route plus detours
    driving_hours: float
    charging_hours: float
    overhead_hours: float
    arrival_soc: float
    score: float
    candidates: int  # after pruning
    labels: int  # labels settled

    @property
    def total_hours(self) -> float:
        return self.driving_hours + self.charging_hours + self.overhead_hours


@dataclass(frozen=True)
class Infeasible:
    reason: InfeasibleReason
    gap_from_km: float  # where the car last fills up before the gap (0: the origin)
    gap_to_km: float  # the next charger (or the destination) it cannot reach
    reach_km: float  # how far it gets from there
    candidates: int
    labels: int


def effective_kw(vehicle: Vehicle, candidate: Candidate) -> float:
    return min(candidate.power_kw, vehicle.power_limit_kw(candidate.dc), vehicle.curve.peak_kw)


def penalty_min(options: PlanOptions, availability: Availability) -> float:
    if availability is Availability.OCCUPIED:
        return options.occupied_penalty_min
    if availability is Availability.UNKNOWN:
        return options.unknown_penalty_min
    return 0.0


def prune_candidates(
    candidates: Sequence[Candidate], vehicle: Vehicle, options: PlanOptions, route_km: float
) -> list[Candidate]:
    """Usable candidates in route order, dominated ones in the same cell removed."""
    cell = options.cluster_km
    buckets: dict[float, list[tuple[tuple[float, ...], Candidate]]] = {}
    for c in candidates:
        kw = effective_kw(vehicle, c)
        if kw <= 0 or not 0 <= c.position_km <= route_km:
            continue
        price = c.price_ore_per_kwh
        vector = (
            -kw,
            penalty_min(options, c.availability),
            c.detour_km,
            float(options.unpriced_ore_per_kwh if price is None else price),
        )
        key = math.floor(c.position_km / cell) if cell > 0 else c.position_km
        buckets.setdefault(key, []).append((vector, c))
    kept: list[Candidate] = []
    for items in buckets.values():
        items.sort(key=lambda item: (item[0], item[1].key))
        front: list[tuple[float, ...]] = []
        for worth, c in items:
            # Sorted lexicographically, only an earlier item can dominate a later one.
            if not any(all(a <= b for a, b in zip(f, worth, strict=True)) for f in front):
                front.append(worth)
                kept.append(c)
    kept.sort(key=lambda c: (c.position_km, c.key))
    return kept


class TripModel:
    """The search graph's arithmetic for one trip: positions, levels, times and scores."""

    def __init__(
        self,
        vehicle: Vehicle,
        route_km: float,
        candidates: Sequence[Candidate],
        options: PlanOptions,
    ) -> None:
        self.vehicle, self.options, self.route_km = vehicle, options, route_km
        self.cands = list(candidates)  # in route order
        n = self.n = len(self.cands)
        self.dest = n + 1
        self.c = vehicle.soc_per_km
        self.w_time, self.w_cost = options.weights
        self.kwh_per_pct = vehicle.battery_kwh / 100.0
        self.pos = [0.0] + [x.position_km for x in self.cands] + [route_km]
        self.det_soc = [0.0] + [x.detour_km * self.c for x in self.cands] + [0.0]
        # Leaving candidate i at SoC g puts q = g + base[i] on the road.
        self.base = [self.c * p - d for p, d in zip(self.pos, self.det_soc, strict=True)]
        speed, overhead = options.speed_kmh, options.stop_overhead_min / 60.0
        self.fixed = [0.0] * (n + 2)  # score of stopping: detour, overhead, penalty
        self.cost_per_pct = [0.0] * (n + 2)  # score per SoC point charged (money)
        self.tables: list[ChargeTimeTable | None] = [None] * (n + 2)
        by_cap: dict[float, ChargeTimeTable] = {}
        prices: list[float] = []
        for i, x in enumerate(self.cands, start=1):
            hours = 2 * x.detour_km / speed + overhead + penalty_min(options, x.availability) / 60
            self.fixed[i] = self.w_time * hours
            price = self.rank_price(x)
            prices.append(price)
            per_pct = self.kwh_per_pct / vehicle.charging_efficiency
            self.cost_per_pct[i] = self.w_cost * price * per_pct
            cap = round(effective_kw(vehicle, x), 3)
            if cap not in by_cap:
                by_cap[cap] = charge_time_table(vehicle.curve, vehicle.battery_kwh, cap)
            self.tables[i] = by_cap[cap]
        # Heuristic: per missing SoC point, at best the fastest power and cheapest price.
        best_kw = max(by_cap, default=1.0)
        cheapest = min(prices, default=0.0)
        self.h_per_pct = self.w_time * self.kwh_per_pct / best_kw + (
            self.w_cost * cheapest * self.kwh_per_pct / vehicle.charging_efficiency
        )
        self.need_q = options.min_soc_at_arrival + self.c * route_km
        self.min_pass = min(options.min_soc_at_stop, options.min_soc_at_arrival)
        self.level_cache: list[tuple[list[float], list[float]] | None] = [None] * (n + 2)

    def rank_price(self, candidate: Candidate) -> float:
        price = candidate.price_ore_per_kwh
        return float(self.options.unpriced_ore_per_kwh if price is None else price)

    def levels(self, i: int) -> tuple[list[float], list[float]]:
        """Departure SoCs at candidate i (grid in q space, then max_soc) and hours to each."""
        cached = self.level_cache[i]
        if cached is not None:
            return cached
        step, base, top = self.options.soc_step, self.base[i], self.options.max_soc
        j = math.ceil((self.options.min_soc_at_stop + base) / step - EPS)
        socs: list[float] = []
        while (level := j * step - base) <= top + EPS:
            socs.append(min(level, top))
            j += 1
        if not socs or socs[-1] < top - EPS:
            socs.append(top)
        table = self.tables[i]
        assert table is not None
        hours = [table.hours_to(s) for s in socs]
        self.level_cache[i] = (socs, hours)
        return socs, hours

    def charge_hours(self, i: int, from_soc: float, to_soc: float) -> float:
        table = self.tables[i]
        assert table is not None
        return table.hours(from_soc, to_soc)

    def charge_score(self, i: int, from_soc: float, to_soc: float) -> float:
        return self.w_time * self.charge_hours(i, from_soc, to_soc) + self.cost_per_pct[i] * (
            to_soc - from_soc
        )

    def drive_score(self, km: float) -> float:
        return self.w_time * km / self.options.speed_kmh

    def h(self, node: int, q: float) -> float:
        missing = self.need_q - q
        rest = self.w_time * (self.route_km - self.pos[node]) / self.options.speed_kmh
        return rest + self.h_per_pct * missing if missing > 0 else rest

    def find_gap(self) -> tuple[float, float, float] | None:
        """(last fill-up km, next unreachable km, reach km) if no plan exists at all."""
        o, c = self.options, self.c
        best_q, last_from, reached = o.start_soc, 0.0, [False] * (self.n + 2)
        for i in range(1, self.n + 1):
            arrival = best_q - self.c * self.pos[i] - self.det_soc[i]
            if arrival >= o.min_soc_at_stop - EPS:
                reached[i] = True
                top_q = o.max_soc + self.base[i]
                if arrival < o.max_soc - EPS and top_q > best_q + EPS:
                    best_q, last_from = top_q, self.pos[i]
        if best_q - c * self.route_km >= o.min_soc_at_arrival - EPS:
            return None
        reach = min(max((best_q - self.min_pass) / c, last_from), self.route_km)
        # The next charger beyond the point where the car runs down to its minimum (ones
        # before it that it cannot reach are too far off the route).
        unreached = [p for i, p in enumerate(self.pos) if 0 < i <= self.n and not reached[i]]
        gap_to = min((p for p in unreached if p >= reach), default=self.route_km)
        return last_from, gap_to, reach


def plan(
    vehicle: Vehicle,
    route_km: float,
    candidates: Sequence[Candidate],
    options: PlanOptions,
) -> Plan | Infeasible:
    """The best plan (by the objective) for driving route_km with these candidates."""
    model = TripModel(
        vehicle, route_km, prune_candidates(candidates, vehicle, options, route_km), options
    )
    gap = model.find_gap()
    if gap is not None:
        return Infeasible(InfeasibleReason.GAP_TOO_LONG, *gap, model.n, 0)
    return _search(model)


ROAD, CHARGE = 0, 1


def _search(m: TripModel) -> Plan | Infeasible:
    """A* over road labels (node, q) and charging states (candidate, level).

    Labels are tuples (g, kind, node, value, parent, just_left) in one list; value is q on
    the road or the level index while charging. Superseded labels are marked dead and
    skipped when popped. Only charging labels wait on the heap: road labels are expanded
    as they are made (see drive).
    """
    o = m.options
    c, pos, dest, base, det_soc = m.c, m.pos, m.dest, m.base, m.det_soc
    fixed, cost_per_pct, tables, w_time = m.fixed, m.cost_per_pct, m.tables, m.w_time
    need_q, h_per_pct = m.need_q, m.h_per_pct
    min_stop, min_arr, min_pass, top = (
        o.min_soc_at_stop,
        o.min_soc_at_arrival,
        m.min_pass,
        o.max_soc,
    )
    per_km = w_time / o.speed_kmh
    rest = [per_km * (m.route_km - p) for p in pos]  # remaining drive score, by node
    labels: list[tuple[float, int, int, float, int, bool]] = []
    alive: list[bool] = []
    heap: list[tuple[float, int]] = []
    front_q: list[list[float]] = [[] for _ in pos]  # per node: q ascending
    front_g: list[list[float]] = [[] for _ in pos]  # ... and g ascending with it
    front_id: list[list[int]] = [[] for _ in pos]
    best: dict[int, tuple[float, int]] = {}  # charging state -> (g, label)
    push, pop = heapq.heappush, heapq.heappop
    levels = m.level_cache

    def add_road(node: int, q: float, g: float, parent: int, left: bool) -> int:
        """A road label at node unless dominated there (-1); it dominates others away."""
        fq, fg, fid = front_q[node], front_g[node], front_id[node]
        k = bisect_left(fq, q - EPS)
        n = len(fq)
        if k < n and fg[k] <= g + EPS:
            return -1  # a label with at least this q costs no more
        lo = k  # labels with less q and no less cost are dominated by this one
        while lo > 0 and fg[lo - 1] >= g - EPS:
            lo -= 1
        hi = k + 1 if k < n and fq[k] <= q + EPS else k
        for dead in fid[lo:hi]:
            alive[dead] = False
        lid = len(labels)
        labels.append((g, ROAD, node, q, parent, left))
        alive.append(True)
        fq[lo:hi], fg[lo:hi], fid[lo:hi] = [q], [g], [lid]
        return lid

    def push_charge(i: int, k: int, g: float, parent: int, q: float) -> None:
        key = i * 4096 + k
        seen = best.get(key)
        if seen is not None:
            if seen[0] <= g + EPS:
                return
            alive[seen[1]] = False
        lid = len(labels)
        labels.append((g, CHARGE, i, k, parent, False))
        alive.append(True)
        best[key] = (g, lid)
        missing = need_q - q
        push(heap, (g + rest[i] + (h_per_pct * missing if missing > 0 else 0.0), lid))

    def drive(lid: int) -> tuple[int, int]:
        """Expand road label lid and its successors along the route: (goal or -1, count).

        Driving leaves f = g + h unchanged (the heuristic counts the same drive time), so
        each next road label would be popped right away: it is expanded without the heap.
        Every node passed may start a stop (a charging label, onto the heap).
        """
        g, _, node, q, _, left = labels[lid]
        count = 0
        while True:
            count += 1
            if node == dest:
                return lid, count
            if node and not left:
                arrival = q - c * pos[node] - det_soc[node]
                if min_stop - EPS <= arrival < top - EPS:
                    socs, hours = levels[node] or m.levels(node)
                    k = bisect_left(socs, arrival - EPS)
                    table = tables[node]
                    assert table is not None
                    dt = hours[k] - table.hours_to(arrival)
                    g2 = (
                        g
                        + fixed[node]
                        + (w_time * dt if dt > 0.0 else 0.0)
                        + cost_per_pct[node] * (socs[k] - arrival)
                    )
                    push_charge(node, k, g2, lid, socs[k] + base[node])
            nxt = node + 1
            if q - c * pos[nxt] < (min_arr if nxt == dest else min_pass) - EPS:
                return -1, count  # out of range before the next charger
            g += per_km * (pos[nxt] - pos[node])
            lid = add_road(nxt, q, g, lid, False)
            if lid < 0:
                return -1, count
            node, left = nxt, False

    goal, settled = drive(add_road(0, o.start_soc, 0.0, -1, False))
    if goal >= 0:
        return _plan(m, labels, goal, settled)
    while heap:
        lid = pop(heap)[1]
        if not alive[lid]:
            continue
        settled += 1
        if settled > o.max_labels:
            return Infeasible(InfeasibleReason.SEARCH_LIMIT, 0.0, 0.0, 0.0, m.n, settled)
        g, _, node, value, _, _ = labels[lid]  # only charging labels wait on the heap
        k = int(value)
        socs, hours = levels[node] or m.levels(node)
        road = add_road(node, socs[k] + base[node], g, lid, True)
        if road >= 0:
            goal, count = drive(road)
            settled += count
            if goal >= 0:
                return _plan(m, labels, goal, settled)
        if k + 1 < len(socs):
            g2 = (
                g
                + w_time * (hours[k + 1] - hours[k])
                + cost_per_pct[node] * (socs[k + 1] - socs[k])
            )
            push_charge(node, k + 1, g2, lid, socs[k + 1] + base[node])
    gap = m.find_gap() or (0.0, 0.0, 0.0)
    return Infeasible(InfeasibleReason.GAP_TOO_LONG, *gap, m.n, settled)


def _plan(
    m: TripModel,
    labels: list[tuple[float, int, int, float, int, bool]],
    goal: int,
    settled: int,
) -> Plan:
    """The plan the goal label stands for, read back along its parents."""
    o = m.options
    chain: list[tuple[float, int, int, float, int, bool]] = []
    lid = goal
    while lid >= 0:
        chain.append(labels[lid])
        lid = labels[lid][4]
    chain.reverse()
    stops: list[Stop] = []
    arrival = 0.0
    for prev, cur in itertools.pairwise(chain):
        i = cur[2]
        if prev[1] == ROAD and cur[1] == CHARGE:
            arrival = prev[3] - m.c * m.pos[i] - m.det_soc[i]
        elif prev[1] == CHARGE and cur[1] == ROAD:
            departure = m.levels(i)[0][int(prev[3])]
            battery = (departure - arrival) * m.kwh_per_pct
            stops.append(
                Stop(
                    m.cands[i - 1],
                    arrival,
                    departure,
                    m.charge_hours(i, arrival, departure),
                    battery,
                    battery / m.vehicle.charging_efficiency,
                )
            )
    driven = m.route_km + 2 * sum(s.candidate.detour_km for s in stops)
    return Plan(
        stops=tuple(stops),
        route_km=m.route_km,
        driven_km=driven,
        driving_hours=driven / o.speed_kmh,
        charging_hours=sum(s.charging_hours for s in stops),
        overhead_hours=len(stops) * o.stop_overhead_min / 60.0,
        arrival_soc=chain[-1][3] - m.c * m.route_km,
        score=labels[goal][0],
        candidates=m.n,
        labels=settled,
    )
