"""Properties of the allocator for random sites, phase layouts and demands (hypothesis):
no constraint is ever exceeded, nobody gets less than the minimum unless zero, the
allocation is fair within a priority, and nobody waits who could have been admitted."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.power.allocator import Allocation, Reason, floor_step
from core.power.grid import (
    ROTATIONS,
    FixedLoad,
    Grid,
    GroupFuse,
    LoadPoint,
    Network,
    Problem,
    SiteLayout,
    Wiring,
    line_loads,
    solve,
)

TOL = 1e-6


@st.composite
def layouts(draw: st.DrawFn) -> SiteLayout:
    network = draw(st.sampled_from(list(Network)))
    phases = draw(st.sampled_from([1, 3, 3, 3]))
    voltage = 230 if network == Network.IT else draw(st.sampled_from([400, 400, 230]))
    min_a = draw(st.sampled_from([6.0, 6.0, 8.0, 10.0]))
    peak = draw(st.none() | st.floats(2_000, 400_000))
    grid = Grid(
        fuse_a=draw(st.integers(10, 400)),
        phases=phases,
        network=network,
        voltage=voltage,
        margin_a=draw(st.sampled_from([0.0, 2.0, 3.0, 5.0])),
        min_a=min_a,
        peak_w=peak,
    )
    groups = [
        GroupFuse(f"g{i}", draw(st.integers(10, 200))) for i in range(draw(st.integers(0, 2)))
    ]
    group_names = [None] + [g.name for g in groups]

    def wiring() -> Wiring:
        return Wiring(draw(st.sampled_from([1, 3, 3])), draw(st.sampled_from(ROTATIONS)))

    n = draw(st.integers(0, 20))
    points = []
    for i in range(n):
        charger = i // draw(st.sampled_from([1, 1, 2]))
        points.append(
            LoadPoint(
                key=i,
                wiring=wiring(),
                demand_a=draw(
                    st.sampled_from([0.0, 3.0, 6.0, 10.0, 16.0, 32.0]) | st.floats(0, 63)
                ),
                min_a=draw(st.none() | st.sampled_from([6.0, 7.5])),
                priority=draw(st.integers(0, 2)),
                queue=draw(st.floats(0, 1000)),
                group=draw(st.sampled_from(group_names)),
                circuit=charger if draw(st.booleans()) else None,
                circuit_a=draw(st.sampled_from([16.0, 32.0])),
                car_phases=draw(st.sampled_from([None, None, 1, 3])),
            )
        )
    fixed = [
        FixedLoad(wiring(), draw(st.floats(0, 40)), draw(st.sampled_from(group_names)))
        for _ in range(draw(st.integers(0, 3)))
    ]
    other = tuple(draw(st.floats(0, 60)) for _ in range(3))
    return SiteLayout(
        grid,
        points,
        fixed,
        groups,
        other_a=(other[0], other[1], other[2]),
        other_w=sum(other) * 230,
    )


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layouts())
def test_allocations_are_safe_never_below_the_minimum_fair_and_full(layout: SiteLayout) -> None:
    """One generated site, every property (generating the sites is the slow part)."""
    problem, allocation = solve(layout)
    no_constraint_is_exceeded(layout, problem, allocation)
    nobody_gets_less_than_the_minimum_unless_zero(problem, allocation)
    fair_within_a_priority(problem, allocation)
    nobody_waits_who_fitted_and_full_constraints_are_full(problem, allocation)


def no_constraint_is_exceeded(layout: SiteLayout, problem: Problem, allocation: Allocation) -> None:
    for k, constraint in enumerate(problem.constraints):
        assert allocation.used[k] <= max(constraint.capacity, 0.0) + TOL, constraint.name
    # And on the site's own lines, with the fixed and other loads counted as well.
    limits = allocation.limits()
    grid = layout.grid
    room = grid.fuse_a - grid.margin_a
    for line, load in enumerate(line_loads(layout, limits)):
        before = line_loads(layout, [0.0] * len(limits))[line]
        if before <= room:
            assert load <= room + TOL


def nobody_gets_less_than_the_minimum_unless_zero(problem: Problem, allocation: Allocation) -> None:
    for p, share in zip(problem.points, allocation.shares, strict=True):
        assert share.limit_a == 0 or share.limit_a >= floor_step(p.min_a) - TOL
        assert share.limit_a <= max(p.demand, floor_step(p.min_a)) + TOL
        if p.demand == 0:
            assert share.limit_a == 0
        # Limits are whole tenths of an ampere.
        assert abs(share.limit_a * 10 - round(share.limit_a * 10)) < 1e-6


def fair_within_a_priority(problem: Problem, allocation: Allocation) -> None:
    """Two admitted points of one priority that load the same constraints alike: the one
    with less is at all it can use (up to the 0.1 A rounding)."""
    pts, shares = problem.points, allocation.shares
    for i, (p, a) in enumerate(zip(pts, shares, strict=True)):
        for j, (q, b) in enumerate(zip(pts, shares, strict=True)):
            if i == j or p.priority != q.priority or a.limit_a == 0 or b.limit_a == 0:
                continue
            if sorted(p.loads) != sorted(q.loads) or p.min_a != q.min_a:
                continue
            if a.limit_a < b.limit_a - 0.1 - TOL:
                cap = max(p.demand, floor_step(p.min_a))
                assert a.limit_a >= cap - 0.1 - TOL, (a, b)
                assert a.reason == Reason.AT_DEMAND


def nobody_waits_who_fitted_and_full_constraints_are_full(
    problem: Problem, allocation: Allocation
) -> None:
    pts, shares = problem.points, allocation.shares
    caps = [c.capacity for c in problem.constraints]
    for i, (p, share) in enumerate(zip(pts, shares, strict=True)):
        if share.reason == Reason.WAITING:
            order = (p.queue, i)
            blocked = False
            for k, c in p.loads:
                higher = [j for j, q in enumerate(pts) if q.priority > p.priority]
                same = [
                    j
                    for j, q in enumerate(pts)
                    if q.priority == p.priority and shares[j].limit_a > 0 and (q.queue, j) < order
                ]
                taken = sum(
                    c2 * shares[j].limit_a for j in higher for k2, c2 in pts[j].loads if k2 == k
                )
                taken += sum(
                    c2 * floor_step(pts[j].min_a)
                    for j in same
                    for k2, c2 in pts[j].loads
                    if k2 == k
                )
                rounding = sum(c2 * 0.1 for j in higher for k2, c2 in pts[j].loads if k2 == k)
                if caps[k] - taken < c * floor_step(p.min_a) + rounding + TOL:
                    blocked = True
            assert blocked, f"point {i} waits but its minimum fitted"
        elif share.reason == Reason.SHARED:
            # Stopped by a constraint: that constraint is full, up to the rounding.
            k = next(k for k, c in enumerate(problem.constraints) if c.name == share.bound_by)
            members = sum(c for q in pts for k2, c in q.loads if k2 == k)
            assert caps[k] - allocation.used[k] <= 0.1 * members + TOL


def test_three_phase_site_shares_a_small_fuse_evenly() -> None:
    layout = SiteLayout(
        Grid(fuse_a=63, margin_a=3),
        [LoadPoint(key=i, demand_a=32) for i in range(6)],
    )
    _, allocation = solve(layout)
    assert allocation.limits() == [10.0] * 6


def test_cars_that_cannot_get_the_minimum_wait_in_queue_order() -> None:
    layout = SiteLayout(
        Grid(fuse_a=40, margin_a=3),  # 37 A: six cars at 6 A, the seventh waits
        [LoadPoint(key=i, demand_a=32, queue=10 - i) for i in range(7)],
    )
    _, allocation = solve(layout)
    limits = allocation.limits()
    assert limits[0] == 0 and allocation.shares[0].reason == Reason.WAITING
    assert all(x == 6.1 for x in limits[1:])


def test_one_phase_chargers_on_it_load_two_lines() -> None:
    # IT 230 V, 32 A: three one-phase chargers on L1-L2, L2-L3 and L3-L1 each load two lines.
    grid = Grid(fuse_a=32, network=Network.IT, voltage=230)
    points = [
        LoadPoint(key=r, wiring=Wiring(1, r), demand_a=32) for r in ("L1L2L3", "L2L3L1", "L3L1L2")
    ]
    layout = SiteLayout(grid, points)
    _, allocation = solve(layout)
    assert allocation.limits() == [16.0, 16.0, 16.0]
    assert line_loads(layout, allocation.limits()) == [32.0, 32.0, 32.0]
    # On TN, the same chargers load one line each: all of them get their 32 A.
    tn = SiteLayout(Grid(fuse_a=32), points)
    assert solve(tn)[1].limits() == [32.0, 32.0, 32.0]


def test_priorities_go_first_and_measured_draw_leaves_room_for_others() -> None:
    layout = SiteLayout(
        Grid(fuse_a=50),
        [
            LoadPoint(key="service", demand_a=32, priority=1),
            LoadPoint(key="resident-a", demand_a=32),
            LoadPoint(key="leaf", demand_a=8),  # measured: the car takes only ~8 A
        ],
    )
    _, allocation = solve(layout)
    assert allocation.limits() == [32.0, 10.0, 8.0]


def test_peak_power_cap_limits_the_sum() -> None:
    grid = Grid(fuse_a=200, peak_w=22_000)
    layout = SiteLayout(grid, [LoadPoint(key=i, demand_a=32) for i in range(4)])
    _, allocation = solve(layout)
    # 22 kW over four three-phase cars at 3 x 230.9 V: 7.9 A each.
    assert allocation.limits() == [7.9] * 4
