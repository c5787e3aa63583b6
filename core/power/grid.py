"""A site's electrical layout as allocation constraints: fuses per line, wiring, peak power.

Norway has two kinds of low-voltage networks:
- TN 400 V: three lines and a neutral; a one-phase charger loads one line (230 V to
  neutral), a three-phase one all three (3 x 230 V x I).
- IT 230 V: three lines, no neutral; a one-phase charger sits between two lines and
  loads both with its full current (230 V x I), a three-phase one all three
  (sqrt(3) x 230 V x I).

A charger's *rotation* says which site line its own L1, L2 and L3 are on ("L2L3L1"):
installers rotate chargers so that one-phase loads spread over the lines. A one-phase car
on a three-phase charger draws on the charger's L1 (TN) or L1-L2 (IT) only, so once its
meter values show one phase it is counted there.

Everything here is pure: `build` turns a `SiteLayout` into allocator input, `evaluate`
gives the load per line for a set of limits.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from core.power.allocator import Allocation, Constraint, Point, allocate

LINES = ("L1", "L2", "L3")
ROTATIONS = tuple("".join(p) for p in itertools.permutations(LINES))
SQRT3 = math.sqrt(3)


class Network(StrEnum):
    TN = "TN"
    IT = "IT"


@functools.lru_cache(maxsize=64)
def parse_rotation(rotation: str) -> tuple[int, int, int]:
    """ "L2L3L1" -> (1, 2, 0): the site line of the charger's L1, L2, L3."""
    text = rotation.strip().upper().replace("-", "").replace(" ", "").replace(",", "")
    if text not in ROTATIONS:
        raise ValueError(f"rotation must be one of {', '.join(ROTATIONS)}, not {rotation!r}")
    a, b, c = (LINES.index(text[i : i + 2]) for i in (0, 2, 4))
    return a, b, c


@dataclass(frozen=True)
class Grid:
    """The site's connection: main fuse per line, network, and what to keep free."""

    fuse_a: float
    phases: int = 3  # lines of the connection: 1 or 3
    network: Network = Network.TN
    voltage: int = 400  # line to line for IT and three-phase TN; 230 on a one-phase TN
    margin_a: float = 0.0  # kept free on every line
    min_a: float = 6.0  # IEC 61851: below this a car does not charge
    peak_w: float | None = None  # the power cap (capacity tariff), chargers and building

    @property
    def lines(self) -> int:
        return 3 if self.phases >= 3 else 1

    @property
    def phase_voltage(self) -> float:
        """What one phase gives a one-phase load: to neutral (TN), between lines (IT)."""
        if self.network == Network.IT:
            return float(self.voltage)
        return self.voltage / SQRT3 if self.voltage >= 380 else float(self.voltage)


@dataclass(frozen=True)
class Wiring:
    phases: int = 3  # the charger's phases: 1 or 3
    rotation: str = "L1L2L3"

    def lines(self, grid: Grid, car_phases: int | None = None) -> tuple[int, ...]:
        """The site lines a current of I on this charger loads (each with I)."""
        return _lines(self.phases, self.rotation, grid.lines, grid.network, car_phases)

    def watts_per_amp(self, grid: Grid, car_phases: int | None = None) -> float:
        used = min(self.phases, car_phases) if car_phases else self.phases
        if grid.lines == 1 or used <= 1:
            return grid.phase_voltage
        if grid.network == Network.IT:
            return SQRT3 * grid.voltage
        return used * grid.phase_voltage


@functools.lru_cache(maxsize=1024)
def _lines(
    phases: int, rotation: str, n_lines: int, network: Network, car_phases: int | None
) -> tuple[int, ...]:
    if n_lines == 1:
        return (0,)
    order = parse_rotation(rotation)
    used = min(phases, car_phases) if car_phases else phases
    if used >= 3 or (used == 2 and network == Network.IT):
        return tuple(sorted(order))
    if used == 2 or network == Network.IT:
        # A two-phase car on TN draws on the charger's L1 and L2; a one-phase load on IT
        # sits between the charger's L1 and L2.
        return tuple(sorted(order[:2]))
    return (order[0],)


@dataclass(frozen=True)
class GroupFuse:
    """A sub-distribution board inside the site, with its own fuse per line."""

    name: str
    fuse_a: float


@dataclass(frozen=True)
class LoadPoint:
    """One EVSE as the allocator sees it."""

    key: Hashable
    wiring: Wiring = Wiring()
    demand_a: float = 0.0  # the most it can use now; 0: nothing to give it
    min_a: float | None = None  # None: the grid's
    priority: int = 0
    queue: float = 0.0
    group: str | None = None  # a GroupFuse it is behind
    circuit: Hashable | None = None  # EVSEs of one charger share its circuit
    circuit_a: float | None = None  # the circuit's breaker, per line
    car_phases: int | None = None  # measured: 1 when a one-phase car draws on one line


@dataclass(frozen=True)
class FixedLoad:
    """Current the allocator cannot change: an offline charger at its last limit, one
    that refuses profiles at its maximum."""

    wiring: Wiring
    current_a: float
    group: str | None = None
    car_phases: int | None = None


@dataclass(frozen=True)
class SiteLayout:
    grid: Grid
    points: Sequence[LoadPoint]
    fixed: Sequence[FixedLoad] = ()
    groups: Sequence[GroupFuse] = ()
    # Measured other load at the main meter (building), per site line, and its power.
    other_a: tuple[float, float, float] = (0.0, 0.0, 0.0)
    other_w: float = 0.0


@dataclass
class Problem:
    constraints: list[Constraint]
    points: list[Point]
    capacity: list[float] = field(default_factory=list)  # before fixed/other loads


def build(layout: SiteLayout) -> Problem:
    grid = layout.grid
    n_lines = grid.lines
    constraints: list[Constraint] = []
    capacity: list[float] = []
    index: dict[tuple[str, int], int] = {}

    def add(scope: str, line: int, name: str, cap: float, base: float) -> None:
        index[(scope, line)] = len(constraints)
        constraints.append(Constraint(name, cap))
        capacity.append(base)

    # Fixed and other loads per site line, per group line, and their power.
    site_load = [0.0] * 3
    for line in range(n_lines):
        site_load[line] += layout.other_a[line]
    group_load: dict[str, list[float]] = {g.name: [0.0] * 3 for g in layout.groups}
    fixed_w = 0.0
    for f in layout.fixed:
        for line in f.wiring.lines(grid, f.car_phases):
            site_load[line] += f.current_a
            if f.group in group_load:
                group_load[f.group][line] += f.current_a
        fixed_w += f.current_a * f.wiring.watts_per_amp(grid, f.car_phases)
    for line in range(n_lines):
        base = grid.fuse_a - grid.margin_a
        add("site", line, f"site:{LINES[line]}", base - site_load[line], base)
    for g in layout.groups:
        for line in range(n_lines):
            base = g.fuse_a - grid.margin_a
            add(
                g.name, line, f"group:{g.name}:{LINES[line]}", base - group_load[g.name][line], base
            )
    if grid.peak_w is not None:
        index[("peak", 0)] = len(constraints)
        constraints.append(Constraint("peak", grid.peak_w - layout.other_w - fixed_w))
        capacity.append(grid.peak_w)

    # EVSEs sharing a charger's circuit: a constraint per line when there are several.
    circuits: dict[Hashable, list[LoadPoint]] = {}
    for p in layout.points:
        if p.circuit is not None and p.circuit_a is not None:
            circuits.setdefault(p.circuit, []).append(p)
    for key, members in circuits.items():
        if len(members) < 2:
            continue
        cap = min(m.circuit_a or math.inf for m in members)
        for line in range(n_lines):
            add(f"circuit:{key}", line, f"charger:{key}:{LINES[line]}", cap, cap)

    points: list[Point] = []
    for p in layout.points:
        lines = p.wiring.lines(grid, p.car_phases)
        loads: list[tuple[int, float]] = [(index[("site", line)], 1.0) for line in lines]
        if p.group is not None and (p.group, 0) in index:
            loads += [(index[(p.group, line)], 1.0) for line in lines]
        if p.circuit is not None and (f"circuit:{p.circuit}", 0) in index:
            loads += [(index[(f"circuit:{p.circuit}", line)], 1.0) for line in lines]
        if ("peak", 0) in index:
            loads.append((index[("peak", 0)], p.wiring.watts_per_amp(grid, p.car_phases)))
        demand = p.demand_a
        if p.circuit_a is not None:
            demand = min(demand, p.circuit_a)
        points.append(
            Point(
                key=p.key,
                demand=max(demand, 0.0),
                min_a=grid.min_a if p.min_a is None else p.min_a,
                priority=p.priority,
                queue=p.queue,
                loads=tuple(loads),
            )
        )
    return Problem(constraints, points, capacity)


def solve(layout: SiteLayout) -> tuple[Problem, Allocation]:
    problem = build(layout)
    return problem, allocate(problem.constraints, problem.points)


def line_loads(
    layout: SiteLayout, limits: Sequence[float], *, include_fixed: bool = True
) -> list[float]:
    """Current per site line (L1..L3, or L1 only) for these limits of `layout.points`."""
    grid = layout.grid
    load = [0.0] * grid.lines
    for p, limit in zip(layout.points, limits, strict=True):
        for line in p.wiring.lines(grid, p.car_phases):
            load[line] += limit
    if include_fixed:
        for f in layout.fixed:
            for line in f.wiring.lines(grid, f.car_phases):
                load[line] += f.current_a
        for line in range(grid.lines):
            load[line] += layout.other_a[line]
    return load


def power_w(layout: SiteLayout, limits: Sequence[float]) -> float:
    """Charger power for these limits (fixed loads included, other load not)."""
    grid = layout.grid
    total = sum(
        limit * p.wiring.watts_per_amp(grid, p.car_phases)
        for p, limit in zip(layout.points, limits, strict=True)
    )
    return total + sum(
        f.current_a * f.wiring.watts_per_amp(grid, f.car_phases) for f in layout.fixed
    )
