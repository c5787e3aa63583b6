"""The options of a benchmark run, the figures of each run, and how they are printed and
judged against the goals."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version as pkg_version

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
MiB = 1024 * 1024
GOAL_PERSISTED = {"postgresql": 1000.0, "sqlite": 500.0}
GOAL_P99_MS = 100.0
GOAL_CONNECTIONS, GOAL_RSS_MIB = 10_000, 600.0


@dataclass(frozen=True)
class Options:
    db: str = "sqlite"
    pg_url: str = PG_DEFAULT
    chargers: int = 200
    duration: float = 20.0
    mode: str = "closed"  # closed | open | both | connect
    rate: float = 0.0  # open loop, msgs/s over all chargers; 0: half the closed-loop rate
    target: str = "both"  # ladeflyt | bare | both
    ocpp: str = "1.6"
    v2_message: str = "MeterValues"
    load_procs: int = 1
    repeat: int = 1  # runs per system and mode, interleaved; goals use the median
    pin: bool = False  # server process on one CPU, load processes on the others
    connect_concurrency: int = 100
    bare_sync_validation: bool = False
    py_spy: str = ""
    json_path: str = ""


@dataclass
class Figures:
    target: str
    mode: str
    db: str
    ocpp: str
    chargers: int
    connected: int = 0
    connect_failures: int = 0
    connect_seconds: float = 0.0
    duration: float = 0.0
    elapsed: float = 0.0
    rate: float = 0.0
    sent: int = 0
    replies: int = 0
    errors: int = 0
    timeouts: int = 0
    late: int = 0
    persisted: int | None = None
    persisted_per_s: float | None = None
    replies_per_s: float = 0.0
    p50_ms: float | None = None
    p99_ms: float | None = None
    max_ms: float | None = None
    p99_corrected_ms: float | None = None
    rss_before: int = 0
    rss_connected: int = 0
    rss_after: int = 0
    rss_per_connection: float = 0.0
    server_cpu_pct: float = 0.0
    server_sys_pct: float = 0.0
    load_cpu_pct: float = 0.0
    db_cpu_pct: float = 0.0  # PostgreSQL's processes
    other_cpu_pct: float = 0.0  # every other process on the machine
    avg_batch: float | None = None
    first_error: str = ""

    @property
    def throughput(self) -> float:
        """MeterValues/s: persisted for Ladeflyt, answered for the bare server."""
        if self.persisted_per_s is not None:
            return self.persisted_per_s
        return self.replies_per_s


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def format_figures(f: Figures) -> str:
    head = f"== {f.target}: OCPP {f.ocpp}, db {f.db}, {f.mode}"
    if f.mode == "open":
        head += f" at {f.rate:.0f} msg/s"
    if f.mode != "connect":
        head += f", {f.duration:g} s"
    lines = [
        head + " ==",
        f"chargers connected        {f.connected} / {f.chargers}"
        f" ({f.connect_failures} failed, connect + boot took {f.connect_seconds:.1f} s)",
    ]
    if f.mode != "connect":
        persisted = (
            "- (persists nothing)"
            if f.persisted is None
            else f"{f.persisted_per_s:.1f}  ({f.persisted} rows / {f.elapsed:.2f} s)"
        )
        lines += [
            f"MeterValues/s persisted   {persisted}",
            f"CALLRESULTs/s             {f.replies_per_s:.1f}  ({f.replies} of {f.sent} sent,"
            f" {f.errors} errors, {f.timeouts} timeouts)",
            f"reply latency ms          p50 {_ms(f.p50_ms)}  p99 {_ms(f.p99_ms)}"
            f"  max {_ms(f.max_ms)}",
        ]
        if f.mode == "open":
            lines.append(
                f"open loop                 p99 from scheduled send {_ms(f.p99_corrected_ms)} ms,"
                f" {f.late} sends late"
            )
        batch = "" if f.avg_batch is None else f", avg group commit {f.avg_batch:.1f} units"
        lines.append(
            f"CPU                       server {f.server_cpu_pct:.0f} % of a core"
            f" ({f.server_sys_pct:.0f} % system),"
            f" load generator {f.load_cpu_pct:.0f} %, PostgreSQL {f.db_cpu_pct:.0f} %,"
            f" other processes {f.other_cpu_pct:.0f} %{batch}"
        )
    rss = (
        f"gateway RSS MiB           before {f.rss_before / MiB:.1f},"
        f" {f.connected} connected {f.rss_connected / MiB:.1f}"
    )
    if f.rss_after:
        rss += f", after load {f.rss_after / MiB:.1f}"
    lines += [rss, f"RSS per connection        {f.rss_per_connection / 1024:.1f} KiB"]
    if f.first_error:
        lines.append(f"first error               {f.first_error}")
    return "\n".join(lines)


def median(
    figs: list[Figures], target: str, mode: str, key: Callable[[Figures], float]
) -> tuple[Figures | None, str]:
    """The run with the median `key` among the repeats, and a note on their spread."""
    runs = sorted((f for f in figs if f.target == target and f.mode == mode), key=key)
    if not runs:
        return None, ""
    mid = runs[(len(runs) - 1) // 2]
    if len(runs) == 1:
        return mid, ""
    return mid, f" [median of {len(runs)} runs: {key(runs[0]):.1f} .. {key(runs[-1]):.1f}]"


def goals(figs: list[Figures], opts: Options) -> list[str]:
    out: list[str] = []

    def find(target: str, mode: str) -> Figures | None:
        return median(figs, target, mode, lambda f: f.throughput)[0]

    ours, bare = find("ladeflyt", "closed"), find("bare", "closed")
    spread = median(figs, "ladeflyt", "closed", lambda f: f.throughput)[1]
    if ours and bare and bare.throughput > 0:
        ratio = ours.throughput / bare.throughput
        out.append(
            f"ratio ladeflyt/bare (closed loop, persisted vs answered): {ratio:.2f}"
            f" ({ours.throughput:.1f} / {bare.throughput:.1f} msg/s)"
            f"  goal >= 1.0: {'met' if ratio >= 1.0 else 'NOT met'}"
        )
    if ours:
        need = GOAL_PERSISTED.get(opts.db, 0.0)
        got = ours.throughput
        out.append(
            f"persisted MeterValues/s on {opts.db}: {got:.1f}{spread}"
            f"  goal >= {need:.0f}: {'met' if got >= need else 'NOT met'}"
        )
    opened, p99_spread = median(figs, "ladeflyt", "open", lambda f: f.p99_ms or 0.0)
    if opened and opened.p99_ms is not None:
        ok = opened.p99_ms <= GOAL_P99_MS and opened.timeouts == 0
        out.append(
            f"open loop at {opened.rate:.0f} msg/s: p99 {opened.p99_ms:.1f} ms"
            f" (from schedule {_ms(opened.p99_corrected_ms)} ms),"
            f" {opened.replies_per_s:.1f} msg/s answered{p99_spread}"
            f"  goal p99 <= {GOAL_P99_MS:.0f} ms: {'met' if ok else 'NOT met'}"
        )
    held = find("ladeflyt", "connect")
    if held:
        mib = held.rss_connected / MiB
        ok = held.connected >= GOAL_CONNECTIONS and mib < GOAL_RSS_MIB
        out.append(
            f"{held.connected} chargers connected to one gateway process, RSS {mib:.1f} MiB"
            f"  goal {GOAL_CONNECTIONS} under {GOAL_RSS_MIB:.0f} MiB: {'met' if ok else 'NOT met'}"
        )
    return out


def environment(opts: Options) -> str:
    versions = ", ".join(
        f"{p} {pkg_version(p)}" for p in ("ocpp", "websockets", "sqlalchemy", "orjson")
    )
    return (
        f"python {platform.python_version()}, {versions}; {os.cpu_count()} CPUs;"
        f" load processes {opts.load_procs}"
        + ("; server pinned to CPU 0, load to the others" if opts.pin else "")
    )
