"""The live-cost benchmark still runs end to end (one session per age; no timing thresholds)."""

from __future__ import annotations

from bench.live_cost import quick


def test_quick_live_cost_benchmark_produces_figures() -> None:
    lines: list[str] = []
    figures = quick(echo=lines.append)
    assert {(f.age, f.method) for f in figures} == {
        (age, method) for age in ("1 minute", "10 hours") for method in ("full", "live")
    }
    samples = {f.age: f.samples for f in figures}
    assert samples["10 hours"] == 120 and samples["1 minute"] == 0
    assert all(f.events == 2 and 0 < f.wall_p50_ms <= f.wall_p95_ms for f in figures)
    assert len(lines) == 4
