"""Who may draw how much: current for charge points under shared limits, pure and fast.

The problem is abstract here: *points* (one EVSE each) draw a current `x` (amperes per
phase); *constraints* (a fuse's line, a peak-power cap) have a capacity and a coefficient
per point (how much of that constraint one ampere of the point uses: 1 on each line the
point loads, its watts per ampere on a power cap). `core.power.grid` builds the problem
from a site's wiring.

The rules, in order:
1. Priorities are strict: a higher priority is admitted and filled before a lower one
   gets anything.
2. A point gets 0 or at least its minimum (6 A, the IEC 61851 floor): within a priority,
   points are admitted at their minimum in queue order (who waited longest first) while
   every constraint still has room; the rest wait their turn (the service rotates the
   queue).
3. The admitted points are then filled max-min fairly ("water-filling"): the level rises
   for all of them alike; a point stops at its cap (what it can use), and every point of a
   constraint that runs full stops there.
4. Limits are rounded down to 0.1 A (what chargers accept), never up.

The result never exceeds a constraint's capacity. A capacity that is already negative (a
fixed load above the fuse) admits nobody through it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple

from core.observe import ALLOCATION_ROUNDS

EPS = 1e-9
STEP_A = 0.1  # chargers take limits with one decimal


class Reason(StrEnum):
    """Why a point got what it got."""

    NO_DEMAND = "no_demand"  # nothing plugged in, the car is full, or paused by a plan
    AT_DEMAND = "at_demand"  # all it can use (the car, the charger or its measured draw)
    SHARED = "shared"  # its fair share of a constraint that is full
    WAITING = "waiting"  # the minimum did not fit: it waits its turn in the rotation
    TOO_SMALL = "too_small"  # it cannot draw even the minimum (hardware below 6 A)


@dataclass(frozen=True)
class Constraint:
    name: str  # "site:L1", "group:garasje-B:L2", "peak"
    capacity: float  # what is left for the points (A per line, or W for a power cap)


class Point(NamedTuple):
    key: Hashable
    demand: float  # the most it can use now (A); 0: it wants nothing
    min_a: float = 6.0
    priority: int = 0  # higher goes first
    queue: float = 0.0  # rotation order within a priority: lower goes first
    # (constraint index, use per ampere) for every constraint the point loads.
    loads: tuple[tuple[int, float], ...] = ()


class Share(NamedTuple):
    limit_a: float
    reason: Reason
    bound_by: str | None = None  # the constraint that stopped it (SHARED / WAITING)


@dataclass
class Allocation:
    shares: list[Share]  # in the order of the points
    used: list[float] = field(default_factory=list)  # per constraint, after rounding

    def limits(self) -> list[float]:
        return [s.limit_a for s in self.shares]


def floor_step(value: float) -> float:
    """Round down to 0.1 A (never up: a limit rounded up could pass a fuse)."""
    return math.floor(value * 10 + 1e-6) / 10 if value > 0 else 0.0


def allocate(constraints: Sequence[Constraint], points: Sequence[Point]) -> Allocation:
    ALLOCATION_ROUNDS.inc()  # one round of load balancing, for /metrics
    remaining = [c.capacity for c in constraints]
    shares: list[Share | None] = [None] * len(points)
    levels: dict[int, list[int]] = defaultdict(list)
    floors: dict[float, float] = {}
    for p in points:
        if p.min_a not in floors:
            floors[p.min_a] = floor_step(p.min_a)
    for i, p in enumerate(points):
        minimum = floors[p.min_a]
        if p.demand <= EPS:
            shares[i] = Share(0.0, Reason.NO_DEMAND)
        elif minimum <= 0:
            shares[i] = Share(0.0, Reason.TOO_SMALL)
        else:
            levels[p.priority].append(i)
    for priority in sorted(levels, reverse=True):
        admitted: list[int] = []
        for i in sorted(levels[priority], key=lambda j: (points[j].queue, j)):
            p = points[i]
            m = floors[p.min_a]
            blocked = -1
            for k, c in p.loads:
                if remaining[k] < c * m - EPS:
                    blocked = k
                    break
            if blocked >= 0:
                shares[i] = Share(0.0, Reason.WAITING, constraints[blocked].name)
                continue
            for k, c in p.loads:
                remaining[k] -= c * m
            admitted.append(i)
        _fill(constraints, points, admitted, remaining, shares, floors)
    result = [s if s is not None else Share(0.0, Reason.NO_DEMAND) for s in shares]
    used = [0.0] * len(constraints)
    for p, s in zip(points, result, strict=True):
        for k, c in p.loads:
            used[k] += c * s.limit_a
    return Allocation(result, used)


def _fill(
    constraints: Sequence[Constraint],
    points: Sequence[Point],
    admitted: list[int],
    remaining: list[float],
    shares: list[Share | None],
    floors: dict[float, float],
) -> None:
    """Water-filling from each point's minimum (already taken from `remaining`) up to its
    cap, for the admitted points of one priority. Updates `remaining` and `shares`."""
    if not admitted:
        return
    floor = {i: floors[points[i].min_a] for i in admitted}
    cap = {i: max(points[i].demand, floor[i]) for i in admitted}
    # Points wanting no more than their minimum are done.
    active: set[int] = set()
    pending: list[int] = []  # minimum above the current level: they join when it gets there
    for i in admitted:
        if cap[i] <= floor[i] + EPS:
            shares[i] = Share(floor[i], Reason.AT_DEMAND)
        else:
            pending.append(i)
    if not pending:
        return
    pending.sort(key=lambda i: floor[i], reverse=True)  # pop() gives the lowest floor
    level = floor[pending[-1]]
    slope = [0.0] * len(constraints)
    members: dict[int, list[int]] = defaultdict(list)
    by_cap: list[int] = []

    def join(i: int) -> None:
        active.add(i)
        for k, c in points[i].loads:
            slope[k] += c
            members[k].append(i)

    def stop(i: int, value: float, reason: Reason, bound_by: str | None = None) -> None:
        active.discard(i)
        for k, c in points[i].loads:
            slope[k] -= c
        # The level above the floor was taken from `remaining` as the level rose.
        shares[i] = Share(floor_step(value), reason, bound_by)

    while pending and floor[pending[-1]] <= level + EPS:
        join(pending.pop())
    by_cap = sorted(active, key=lambda i: cap[i], reverse=True)
    while active or pending:
        if not active:  # nobody rising: the level jumps to the next minimum
            level = floor[pending[-1]]
            while pending and floor[pending[-1]] <= level + EPS:
                join(pending.pop())
            by_cap = sorted(active, key=lambda i: cap[i], reverse=True)
        next_cap = cap[by_cap[-1]] if by_cap else math.inf
        next_join = floor[pending[-1]] if pending else math.inf
        next_bind, bind_k = math.inf, -1
        for k, s in enumerate(slope):
            if s > EPS:
                t = level + max(remaining[k], 0.0) / s
                if t < next_bind:
                    next_bind, bind_k = t, k
        target = min(next_cap, next_join, next_bind)
        if target is math.inf:  # pragma: no cover - caps are finite
            break
        rise = target - level
        for k, s in enumerate(slope):
            if s > EPS:
                remaining[k] -= s * rise
        level = target
        if next_bind <= target + EPS:
            name = constraints[bind_k].name
            for i in members[bind_k]:
                if i in active:
                    stop(i, level, Reason.SHARED, name)
            by_cap = [i for i in by_cap if i in active]
        while by_cap and cap[by_cap[-1]] <= level + EPS:
            i = by_cap.pop()
            if i in active:
                stop(i, cap[i], Reason.AT_DEMAND)
        joined = False
        while pending and floor[pending[-1]] <= level + EPS:
            join(pending.pop())
            joined = True
        if joined:
            by_cap = sorted(active, key=lambda i: cap[i], reverse=True)
    for i in active:  # pragma: no cover - the loop ends with every point stopped
        stop(i, level, Reason.SHARED)
