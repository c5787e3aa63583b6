"""The gateway benchmark still runs end to end (tiny numbers; no timing thresholds)."""

from __future__ import annotations

from bench.ocpp_gateway import quick


def test_quick_benchmark_produces_figures() -> None:
    lines: list[str] = []
    figs = quick(echo=lines.append, chargers=3, duration=1.0, connect_concurrency=3)

    assert [(f.target, f.mode) for f in figs] == [("ladeflyt", "closed"), ("bare", "closed")]
    for f in figs:
        assert f.connected == 3, f.first_error
        assert f.errors == 0 and f.timeouts == 0, f.first_error
        assert f.replies > 0 and f.replies_per_s > 0
        assert f.p50_ms is not None and f.p50_ms > 0
        assert f.p99_ms is not None and f.p99_ms >= f.p50_ms
        assert f.rss_before > 0 and f.rss_connected > 0
    ours = figs[0]
    assert ours.persisted is not None and ours.persisted > 0
    assert ours.persisted_per_s is not None and ours.persisted_per_s > 0
    assert any(line.startswith("ratio ladeflyt/bare") for line in lines)
