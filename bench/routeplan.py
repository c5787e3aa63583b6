"""Benchmark: route planning (`core.routeplan`) on a generated Norway-like fleet.

    .venv/bin/python -m bench.routeplan [--db sqlite|postgresql] [--pg-url URL]
        [--chargers N] [--fast N] [--runs N] [--quick] [--write PATH]

1. A fleet (`bench.fleet.generate_fleet`, seeded: 100,000 chargers, 5,000 of them DC,
   clustered in towns and along the corridors of norway_corridors.json) goes into a fresh,
   migrated database: a SQLite file in a temporary directory, or a PostgreSQL database of
   its own (created, and dropped afterwards).
2. Trips: Oslo -> Trondheim (E6) and Oslo -> Bergen (E16) with a 60 kWh car (180 Wh/km,
   120 kW DC, typical curve, CCS2 + Type2) leaving at 20 % SoC. Each trip is planned with
   the route as the app sends it (the corridor's towns densified to 1 km, as an encoded
   polyline) and without one (great circle x 1.3).
3. Each plan runs `runs` times after 3 warm-ups, each in a fresh DB session like a request:
   "plan" is `plan_route` end to end (validation, candidate query, projection, pricing,
   search, result); "candidates" the DB query and projection alone; "search" the pure
   planner on the loaded candidates. Figures: p50/p95/p99/max ms.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import platform
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench._database import FreshDatabase
from core.db import create_engine, session_factory
from core.routeplan import planner
from core.routeplan.candidates import load_candidates
from core.routeplan.model import CurveShape, encode_polyline
from core.routeplan.schemas import NoFeasibleRoute, PlanRequest, RoutePlan, VehicleSpec
from core.routeplan.service import corridor_query, plan_options, plan_route, prepare

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
CORRIDORS = Path(
    os.environ.get("LADEFLYT_CORRIDORS_JSON", "/work/shared/data/norway_corridors.json")
)
GOAL_P95_MS = 300.0
TRIPS = {"Oslo-Trondheim": "E6 Oslo-Trondheim", "Oslo-Bergen": "E16 Oslo-Bergen"}
CAR = VehicleSpec(
    battery_kwh=60,
    consumption_wh_per_km=180,
    connector_types=("CCS2", "Type2"),
    max_ac_kw=11,
    max_dc_kw=120,
    curve_shape=CurveShape.TYPICAL,
)
START_SOC = 20.0
WARMUP = 3


@dataclass(frozen=True)
class Options:
    db: str = "sqlite"
    pg_url: str = PG_DEFAULT
    chargers: int = 100_000
    fast: int = 5_000
    seed: int = 1
    runs: int = 100


@dataclass(frozen=True)
class Figures:
    trip: str
    route: str  # polyline | great-circle
    phase: str  # plan | candidates | search
    runs: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    cpu_p50_ms: float  # process CPU per run, median
    cpu_p95_ms: float
    outcome: str  # "3 stops, 412 min, kr 445,20" or the NoFeasibleRoute reason
    candidates: int  # chargers found along the route


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(math.ceil(pct / 100 * len(ordered)), 1)
    return ordered[rank - 1]


def corridor_points(name: str, step_km: float = 1.0) -> list[tuple[float, float]]:
    """The corridor's towns with points every ~step_km between them (straight lines)."""
    from core.chargers.search import haversine_km

    towns = json.loads(CORRIDORS.read_text(encoding="utf-8"))["corridors"][name]
    points: list[tuple[float, float]] = []
    for (_, lat1, lon1), (_, lat2, lon2) in itertools.pairwise(towns):
        steps = max(1, math.ceil(haversine_km(lat1, lon1, lat2, lon2) / step_km))
        points.extend(
            (lat1 + (lat2 - lat1) * i / steps, lon1 + (lon2 - lon1) * i / steps)
            for i in range(steps)
        )
    points.append((towns[-1][1], towns[-1][2]))
    return points


def requests() -> list[tuple[str, str, PlanRequest]]:
    out = []
    for trip, corridor in TRIPS.items():
        points = corridor_points(corridor)
        base = PlanRequest(
            origin=points[0], destination=points[-1], vehicle=CAR, start_soc=START_SOC
        )
        out.append((trip, "polyline", _with(base, polyline=encode_polyline(points))))
        out.append((trip, "great-circle", base))
    return out


def _with(request: PlanRequest, **changes: Any) -> PlanRequest:
    from dataclasses import replace

    return replace(request, **changes)


def describe(result: RoutePlan | NoFeasibleRoute) -> str:
    if isinstance(result, NoFeasibleRoute):
        return f"no route: {result.reason.value} ({result.message})"
    kroner, ore = divmod(result.cost_ore, 100)
    stops = ", ".join(
        f"km {s.distance_from_origin_km:.0f} {s.arrival_soc:.0f}->{s.departure_soc:.0f} % "
        f"{s.charging_minutes:.0f} min"
        for s in result.stops
    )
    return (
        f"{len(result.stops)} stops ({stops}); {result.distance_km:.0f} km, "
        f"{result.total_minutes:.0f} min total ({result.charging_minutes:.0f} charging), "
        f"kr {kroner},{ore:02d}" + ("" if result.cost_complete else " + stops without a price")
    )


# ---------------------------------------------------------------------- databases


class Database(FreshDatabase):
    """A fresh migrated database with the fleet in it; removed on close."""

    def __init__(self, opts: Options) -> None:
        super().__init__(opts.db, opts.pg_url, "routeplan")
        self.opts = opts

    async def create(self, echo: Callable[[str], None]) -> list[str]:  # type: ignore[override]
        await super().create()
        summary = await fleet(self.url, self.opts)
        for line in summary:
            echo(line)
        return summary


async def fleet(url: str, opts: Options) -> list[str]:
    from bench.fleet import generate_fleet

    summary = await generate_fleet(url, opts.chargers, opts.fast, opts.seed)
    return list(summary.lines())


# ---------------------------------------------------------------------- measuring


@dataclass
class Timings:
    wall_ms: list[float]
    cpu_ms: list[float]  # this process, every thread (SQLite's included, PostgreSQL's not)


async def _timed(runs: int, work: Callable[[], Awaitable[Any]]) -> tuple[Timings, Any]:
    result: Any = None
    for _ in range(WARMUP):
        result = await work()
    timings = Timings([], [])
    for _ in range(runs):
        t0, c0 = time.perf_counter(), time.process_time()
        result = await work()
        timings.wall_ms.append((time.perf_counter() - t0) * 1000)
        timings.cpu_ms.append((time.process_time() - c0) * 1000)
    return timings, result


def _figures(trip: str, route: str, phase: str, t: Timings, outcome: str, found: int) -> Figures:
    return Figures(
        trip,
        route,
        phase,
        len(t.wall_ms),
        round(percentile(t.wall_ms, 50), 1),
        round(percentile(t.wall_ms, 95), 1),
        round(percentile(t.wall_ms, 99), 1),
        round(max(t.wall_ms), 1),
        round(percentile(t.cpu_ms, 50), 1),
        round(percentile(t.cpu_ms, 95), 1),
        outcome,
        found,
    )


async def measure(url: str, runs: int, echo: Callable[[str], None]) -> list[Figures]:
    engine = create_engine(url)
    sessions = session_factory(engine)
    figures: list[Figures] = []
    try:
        for trip, route, request in requests():
            vehicle, path = prepare(request)
            query = corridor_query(request, vehicle)

            async def whole(request: PlanRequest = request) -> RoutePlan | NoFeasibleRoute:
                async with sessions() as s:
                    return await plan_route(s, request, None)

            async def candidates(path: Any = path, query: Any = query) -> list[Any]:
                async with sessions() as s:
                    return (await load_candidates(s, path, query)).usable

            times, result = await _timed(runs, whole)
            outcome = describe(result)
            c_times, found = await _timed(runs, candidates)
            cands = [
                planner.Candidate(
                    c.charger_id,
                    c.position_km,
                    c.detour_km,
                    c.power_kw,
                    c.dc,
                    c.list_price_ore_per_kwh,
                    c.availability,
                )
                for c in found
            ]
            options = plan_options(request)

            async def search(
                vehicle: Any = vehicle,
                km: float = path.length_km,
                cands: Any = cands,
                options: Any = options,
            ) -> Any:
                return planner.plan(vehicle, km, cands, options)

            s_times, searched = await _timed(runs, search)
            for phase, t in (("plan", times), ("candidates", c_times), ("search", s_times)):
                figures.append(_figures(trip, route, phase, t, outcome, len(found)))
            labels = searched.labels
            echo(
                f"{trip:15} {route:12} plan p50 {percentile(times.wall_ms, 50):6.1f} ms "
                f"p95 {percentile(times.wall_ms, 95):6.1f} p99 "
                f"{percentile(times.wall_ms, 99):6.1f} (cpu p50 "
                f"{percentile(times.cpu_ms, 50):6.1f}) | candidates p50 "
                f"{percentile(c_times.wall_ms, 50):6.1f} | search p50 "
                f"{percentile(s_times.wall_ms, 50):6.1f} ({len(found)} chargers, "
                f"{searched.candidates} after pruning, {labels} labels)"
            )
            echo(f"  {outcome}")
    finally:
        await engine.dispose()
    return figures


async def run(
    opts: Options, echo: Callable[[str], None] = print
) -> tuple[list[Figures], list[str]]:
    db = Database(opts)
    try:
        t0 = time.perf_counter()
        summary = await db.create(echo)
        echo(f"fleet ready in {time.perf_counter() - t0:.1f} s ({opts.db})")
        figures = await measure(db.url, opts.runs, echo)
    finally:
        await db.drop()
    return figures, summary


def quick(echo: Callable[[str], None] = print, **overrides: Any) -> list[Figures]:
    """A small run for the smoke test: tiny fleet, few runs."""
    opts = Options(**{"chargers": 2_000, "fast": 400, "runs": 3, **overrides})
    return asyncio.run(run(opts, echo))[0]


# ---------------------------------------------------------------------- report


def markdown(
    opts: Options,
    figures: list[Figures],
    summary: list[str],
    argv: list[str],
    load: tuple[float, float],
) -> str:
    plan = [f for f in figures if f.phase == "plan"]
    worst_p95 = max((f.p95_ms for f in plan if f.route == "polyline"), default=0.0)
    lines = [
        "## Route planning (`bench/routeplan.py`)",
        "",
        f"Command: `.venv/bin/python -m bench.routeplan {' '.join(argv)}`".rstrip() + "",
        "",
        f"Machine: {os.cpu_count()} CPUs, {platform.platform()}, Python "
        f"{platform.python_version()}; database {opts.db}; {opts.runs} runs per figure "
        f"after {WARMUP} warm-ups, one process, sequential; load average before/after "
        f"{load[0]:.1f}/{load[1]:.1f} (other work on the machine shows in the wall times, "
        "less in the CPU times).",
        "",
        "Fleet: " + " ".join(s.strip() for s in summary[:2]),
        "",
        f"Car: {CAR.battery_kwh:g} kWh, {CAR.consumption_wh_per_km:g} Wh/km, "
        f"{CAR.max_dc_kw:g} kW DC, typical curve, start {START_SOC:g} %, default options "
        "(stop/arrival minimum 10 %, charge to 80 %, 3 min per stop, 70 km/h, chargers >= "
        "50 kW, corridor 5 km with a polyline / 25 km without).",
        "",
        "| trip | route | phase | p50 ms | p95 ms | p99 ms | max ms | CPU p50 | CPU p95 "
        "| chargers |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.trip} | {f.route} | {f.phase} | {f.p50_ms} | {f.p95_ms} | {f.p99_ms} "
            f"| {f.max_ms} | {f.cpu_p50_ms} | {f.cpu_p95_ms} | {f.candidates} |"
        )
    lines += ["", "Plans:", ""]
    for f in plan:
        lines.append(f"- {f.trip}, {f.route}: {f.outcome}")
    verdict = "met" if worst_p95 <= GOAL_P95_MS else "NOT met"
    lines += [
        "",
        f"Goal p95 <= {GOAL_P95_MS:g} ms for a plan (polyline routes): {verdict} "
        f"(worst p95 {worst_p95} ms).",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m bench.routeplan", description=__doc__)
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--pg-url", default=PG_DEFAULT)
    p.add_argument("--chargers", type=int, default=100_000)
    p.add_argument("--fast", type=int, default=5_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--runs", type=int, default=100)
    p.add_argument("--quick", action="store_true", help="2,000 chargers, 3 runs")
    p.add_argument("--write", default="", help="write a markdown report here")
    args = p.parse_args(args_list)
    opts = Options(args.db, args.pg_url, args.chargers, args.fast, args.seed, args.runs)
    if args.quick:
        opts = Options(args.db, args.pg_url, 2_000, 400, args.seed, 3)
    before = os.getloadavg()[0]
    figures, summary = asyncio.run(run(opts))
    report = markdown(opts, figures, summary, args_list, (before, os.getloadavg()[0]))
    if args.write:
        path = Path(args.write)
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        path.write_text(existing + ("\n" if existing else "") + report, encoding="utf-8")
        print(f"wrote {path}")
    for f in figures:
        print(json.dumps(asdict(f), ensure_ascii=False))
    return 0 if figures else 1


if __name__ == "__main__":
    sys.exit(main())
