"""The chargersNear benchmark still runs end to end (tiny fleet; no timing thresholds)."""

from __future__ import annotations

from bench.fleet import build_fleet, query_points
from bench.graphql import quick


def test_fleet_is_deterministic_and_has_the_asked_for_mix() -> None:
    a = build_fleet(2_000, 100, seed=3)
    b = build_fleet(2_000, 100, seed=3)
    assert a.chargers == b.chargers and a.connectors == b.connectors
    assert len(a.chargers) == 2_000
    assert sum(1 for c in a.chargers if c["max_power_w"] >= 50_000) == 100
    sizes: dict[int, int] = {}
    for c in a.chargers:
        sizes[c["site_id"]] = sizes.get(c["site_id"], 0) + 1
    assert len(sizes) == len(a.sites) and 1 <= min(sizes.values()) <= max(sizes.values()) <= 10
    assert {k["connector_type"] for k in a.connectors} <= {"Type2", "CCS2", "CHAdeMO"}
    points = query_points(20, seed=1)
    assert {p.kind for p in points} == {"town", "corridor"}


def test_quick_benchmark_produces_figures() -> None:
    lines: list[str] = []
    figs = quick(
        echo=lines.append, chargers=1_500, queries=40, duration=1.0, warmup=0.3, concurrency=4
    )

    ip = figs.in_process
    assert ip.queries == 40 and ip.errors == 0, ip.first_error
    assert ip.graphql.count == 40 and ip.graphql.p50_ms > 0
    assert ip.graphql.p99_ms >= ip.graphql.p50_ms
    assert ip.search_only.p50_ms > 0 and ip.mean_hits > 0 and ip.max_total > 0
    http = figs.http
    assert http.requests > 0 and http.errors == 0, http.first_error
    assert http.rps > 0 and http.p50_ms > 0 and http.p99_ms >= http.p50_ms
    assert figs.fleet["chargers"] == 1_500
    assert any(line.startswith("goal query p99") for line in lines)
