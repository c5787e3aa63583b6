"""The route-planning benchmark still runs end to end (tiny fleet; no timing thresholds)."""

from __future__ import annotations

from bench.routeplan import quick


def test_quick_routeplan_benchmark_produces_figures() -> None:
    lines: list[str] = []
    figures = quick(echo=lines.append, chargers=1_500, fast=400, runs=3)

    keys = {(f.trip, f.route, f.phase) for f in figures}
    assert keys == {
        (trip, route, phase)
        for trip in ("Oslo-Trondheim", "Oslo-Bergen")
        for route in ("polyline", "great-circle")
        for phase in ("plan", "candidates", "search")
    }
    for f in figures:
        assert f.runs == 3
        assert 0 < f.p50_ms <= f.p95_ms <= f.p99_ms <= f.max_ms, f
        assert f.candidates > 0
    planned = [f for f in figures if f.route == "polyline" and f.phase == "plan"]
    assert all(" stops (" in f.outcome for f in planned), planned
    assert any(line.startswith("fleet seed") for line in lines)
