"""Benchmark: the driver API's `chargersNear` over a generated Norway-like fleet.

    .venv/bin/python -m bench.graphql [--db sqlite|postgresql] [--pg-url URL]
        [--chargers N] [--queries N] [--duration S] [--concurrency C] [--quick]

1. A fleet (`bench.fleet`, seeded) goes into a fresh, migrated database: a SQLite file in
   a temporary directory, or PostgreSQL (schema `public` dropped and recreated first).
2. The query itself: `chargersNear` executed in-process through the strawberry schema
   with a real DB session per query, at points drawn from towns and corridors (radius
   10 km, first 20; some with availableOnly or minPowerKw 50). The search + pricing alone
   (no GraphQL) is timed as well. Figures: p50/p95/p99/max ms.
3. End to end: uvicorn serving `Runtime.build(settings).http_app()` in a process of its
   own (one worker), a load generator in another (httpx.AsyncClient, fixed concurrency)
   POSTing the same queries to /graphql for a fixed time. Figures: requests/s, p50/p99
   ms, errors, CPU of the server and of the load generator.

All traffic stays on 127.0.0.1; every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import psutil

from bench._graphql_http import (
    BenchError,
    HttpFigures,
    Latency,
    measure_http,
    settings_for,
)
from bench.fleet import FleetSummary, QueryPoint, generate_fleet, query_points

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
GOAL_P99_MS = 25.0
GOAL_RPS = 300.0

QUERY = """
query Near($lat: Float!, $lon: Float!, $r: Float!, $f: ChargerFilter, $first: Int) {
  chargersNear(lat: $lat, lon: $lon, radiusKm: $r, filter: $f, first: $first) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id code online distanceKm
      site { id name address city latitude longitude }
      connectors { id evseId type maxKw status available price { perKwhOre configured } } } }
  }
}"""

# Share of each query kind, in tenths: plain, availableOnly, minPowerKw 50.
VARIANTS = ("plain",) * 6 + ("available",) * 2 + ("fast",) * 2


@dataclass(frozen=True)
class Options:
    db: str = "sqlite"
    pg_url: str = PG_DEFAULT
    chargers: int = 100_000
    fast: int | None = None  # default: 5 % of chargers
    seed: int = 1
    queries: int = 1_000  # in-process, measured (after a warm-up of queries // 5)
    radius_km: float = 10.0
    first: int = 20
    duration: float = 20.0  # HTTP load, seconds (after `warmup` seconds)
    warmup: float = 3.0
    concurrency: int = 16
    max_requests: int = 1_000_000
    json_path: str = ""
    keep: bool = False
    uvloop: bool = False  # the server's event loop (`ladeflyt serve` uses asyncio's)


@dataclass
class InProcessFigures:
    queries: int = 0
    errors: int = 0
    first_error: str = ""
    graphql: Latency = field(default_factory=lambda: Latency.of([]))
    by_variant: dict[str, Latency] = field(default_factory=dict)
    by_kind: dict[str, Latency] = field(default_factory=dict)
    search_only: Latency = field(default_factory=lambda: Latency.of([]))
    # The search alone, plain queries, by how many chargers are within the radius.
    search_by_total: dict[str, Latency] = field(default_factory=dict)
    search_and_prices: Latency = field(default_factory=lambda: Latency.of([]))
    mean_hits: float = 0.0
    mean_total: float = 0.0
    max_total: int = 0
    # CPU of this process per GraphQL query (Python + SQLite's thread; not PostgreSQL's).
    cpu_ms_per_query: float = 0.0


@dataclass
class Figures:
    db: str
    machine: str
    fleet: dict[str, Any]
    setup_seconds: float
    in_process: InProcessFigures
    http: HttpFigures

    def goals(self) -> dict[str, bool]:
        return {
            f"query p99 <= {GOAL_P99_MS:.0f} ms": self.in_process.graphql.p99_ms <= GOAL_P99_MS,
            f"end to end >= {GOAL_RPS:.0f} req/s": self.http.rps >= GOAL_RPS,
        }


# ---------------------------------------------------------------------- the queries


@dataclass(frozen=True)
class Request:
    variant: str  # plain | available | fast
    point: QueryPoint
    variables: dict[str, Any]


def requests_for(points: list[QueryPoint], radius_km: float, first: int) -> list[Request]:
    """One request per point; every tenth point pattern: 6 plain, 2 available, 2 fast."""
    out = []
    for i, p in enumerate(points):
        variant = VARIANTS[i % len(VARIANTS)]
        f: dict[str, Any] | None = None
        if variant == "available":
            f = {"availableOnly": True}
        elif variant == "fast":
            f = {"minPowerKw": 50}
        variables = {"lat": p.lat, "lon": p.lon, "r": radius_km, "first": first, "f": f}
        out.append(Request(variant, p, variables))
    return out


TOTAL_BUCKETS = ("0-999", "1000-4999", "5000+")


def _bucket(total: int) -> str:
    return (
        TOTAL_BUCKETS[0] if total < 1000 else TOTAL_BUCKETS[1] if total < 5000 else TOTAL_BUCKETS[2]
    )


# ---------------------------------------------------------------------- database


async def reset_postgres(url: str) -> None:
    from sqlalchemy import text

    from core.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def prepare(opts: Options, tmp: Path) -> tuple[str, FleetSummary]:
    """A fresh migrated database with the fleet in it; returns its URL and the summary."""
    from core.migrate import upgrade

    if opts.db == "postgresql":
        url = opts.pg_url
        asyncio.run(reset_postgres(url))
    else:
        url = f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
    upgrade(url)
    fast = opts.fast if opts.fast is not None else opts.chargers // 20
    summary = asyncio.run(generate_fleet(url, opts.chargers, fast, opts.seed))
    return url, summary


# ---------------------------------------------------------------------- in-process


async def measure_in_process(url: str, requests: list[Request], warmup: int) -> InProcessFigures:
    """Time each request through the strawberry schema, then the search (+ prices) alone."""
    from api.graphql import pricing
    from api.graphql.context import Context, DriverServices
    from api.graphql.schema import build_schema
    from core.chargers.search import SearchFilter, chargers_near
    from ladeflyt.runtime import Runtime

    settings = settings_for(url)
    runtime = Runtime.build(settings)
    ctx = runtime.gateway_ctx
    # What `Runtime.http_app()` hands the GraphQL router, field by field by name.
    parts: dict[str, Any] = {"sessions": ctx.sessions, "commands": ctx.commands}
    parts |= {"events": ctx.events, **vars(runtime)}
    services = DriverServices(
        **{f.name: parts[f.name] for f in fields(DriverServices) if f.name in parts}
    )
    schema = build_schema(settings)
    figs = InProcessFigures()
    times: list[float] = []
    per_variant: dict[str, list[float]] = {}
    per_kind: dict[str, list[float]] = {}
    hits = totals = 0
    cpu = 0.0
    try:
        for n, req in enumerate(requests[:warmup] + requests):
            if n == warmup:
                cpu = time.process_time()
            async with ctx.sessions() as session:
                t0 = time.perf_counter()
                result = await schema.execute(
                    QUERY,
                    variable_values=req.variables,
                    context_value=Context(services, session, "127.0.0.1"),
                )
                elapsed = time.perf_counter() - t0
            if n < warmup:
                continue
            figs.queries += 1
            if result.errors or result.data is None:
                figs.errors += 1
                figs.first_error = figs.first_error or str(result.errors)[:300]
                continue
            times.append(elapsed)
            per_variant.setdefault(req.variant, []).append(elapsed)
            per_kind.setdefault(req.point.kind, []).append(elapsed)
            near = result.data["chargersNear"]
            hits += len(near["edges"])
            totals += near["totalCount"]
            figs.max_total = max(figs.max_total, near["totalCount"])
        figs.cpu_ms_per_query = round((time.process_time() - cpu) / max(1, figs.queries) * 1000, 2)
        figs.graphql = Latency.of(times)
        figs.by_variant = {k: Latency.of(v) for k, v in sorted(per_variant.items())}
        figs.by_kind = {k: Latency.of(v) for k, v in sorted(per_kind.items())}
        figs.mean_hits = round(hits / max(1, len(times)), 2)
        figs.mean_total = round(totals / max(1, len(times)), 1)
        search_times: list[float] = []
        priced_times: list[float] = []
        by_total: dict[str, list[float]] = {}
        for req in requests:
            v = req.variables
            f = v["f"] or {}
            search = SearchFilter(
                min_power_kw=f.get("minPowerKw"), available_only=bool(f.get("availableOnly"))
            )
            async with ctx.sessions() as session:
                t0 = time.perf_counter()
                page = await chargers_near(
                    session, v["lat"], v["lon"], v["r"], search, first=v["first"]
                )
                t1 = time.perf_counter()
                await pricing.prices_for_hits(session, page.hits, None)
                t2 = time.perf_counter()
            search_times.append(t1 - t0)
            priced_times.append(t2 - t0)
            if req.variant == "plain":
                by_total.setdefault(_bucket(page.total), []).append(t1 - t0)
        figs.search_only = Latency.of(search_times)
        figs.search_by_total = {k: Latency.of(by_total[k]) for k in TOTAL_BUCKETS if k in by_total}
        figs.search_and_prices = Latency.of(priced_times)
    finally:
        await runtime.engine.dispose()
    return figs


# ---------------------------------------------------------------------- one run


def run(opts: Options, echo: Callable[[str], None] = print) -> Figures:
    import orjson

    tmp = Path(tempfile.mkdtemp(prefix="ladeflyt-bench-graphql-"))
    try:
        t0 = time.perf_counter()
        url, fleet = prepare(opts, tmp)
        setup = time.perf_counter() - t0
        for line in fleet.lines():
            echo(line)
        points = query_points(max(opts.queries, 10), seed=opts.seed + 6)
        requests = requests_for(points, opts.radius_km, opts.first)
        echo(f"in-process: {len(requests)} queries (+{len(requests) // 5} warm-up)")
        inproc = asyncio.run(measure_in_process(url, requests, len(requests) // 5))
        bodies = [orjson.dumps({"query": QUERY, "variables": r.variables}) for r in requests]
        echo(f"HTTP: {opts.concurrency} clients for {opts.warmup:g}+{opts.duration:g} s")
        http = measure_http(
            url,
            bodies,
            concurrency=opts.concurrency,
            warmup=opts.warmup,
            duration=opts.duration,
            max_requests=opts.max_requests,
            use_uvloop=opts.uvloop,
        )
        return Figures(
            db=opts.db,
            machine=machine(),
            fleet=asdict(fleet) | {"url": "(temporary)" if opts.db == "sqlite" else fleet.url},
            setup_seconds=round(setup, 1),
            in_process=inproc,
            http=http,
        )
    finally:
        if opts.keep:
            echo(f"kept {tmp}")
        else:
            shutil.rmtree(tmp, ignore_errors=True)


def machine() -> str:
    load1, load5, _ = os.getloadavg()
    return (
        f"{platform.machine()}, {psutil.cpu_count()} cores, "
        f"{psutil.virtual_memory().total / 2**30:.0f} GiB, Python {platform.python_version()}, "
        f"load average {load1:.1f}/{load5:.1f} at the end"
    )


def report(figs: Figures, echo: Callable[[str], None] = print) -> None:
    ip, h = figs.in_process, figs.http
    echo(f"== chargersNear, {figs.db}, {figs.fleet['chargers']} chargers ({figs.machine})")
    echo(f"in-process GraphQL ({ip.queries} queries, {ip.errors} errors): {ip.graphql.text()}")
    for name, lat in ip.by_variant.items():
        echo(f"  {name:10s} {lat.text()}")
    for name, lat in ip.by_kind.items():
        echo(f"  {name:10s} {lat.text()}")
    echo(f"  search only          {ip.search_only.text()}")
    for name, lat in ip.search_by_total.items():
        echo(f"    plain, {name:9s} within {lat.text()}")
    echo(f"  search + prices      {ip.search_and_prices.text()}")
    echo(f"  hits/query {ip.mean_hits}, totalCount mean {ip.mean_total}, max {ip.max_total}")
    echo(f"  CPU of the benchmark process per GraphQL query: {ip.cpu_ms_per_query:.1f} ms")
    echo(
        f"HTTP ({h.concurrency} clients, {h.elapsed:.1f} s): {h.rps:.1f} req/s, "
        f"p50 {h.p50_ms:.2f} ms, p99 {h.p99_ms:.2f} ms, max {h.max_ms:.2f} ms, "
        f"{h.requests} ok, {h.errors} errors"
    )
    echo(
        f"  CPU: server {h.server_cpu_pct:.0f} % of a core "
        f"({h.server_cpu_ms_per_request:.1f} ms per request), load generator "
        f"{h.load_cpu_pct:.0f} %, PostgreSQL {h.db_cpu_pct:.0f} %, "
        f"machine {h.machine_busy_pct:.0f} % busy"
    )
    if h.first_error or ip.first_error:
        echo(f"  first error: {h.first_error or ip.first_error}")
    for goal, met in figs.goals().items():
        echo(f"goal {goal}: {'met' if met else 'NOT met'}")


def quick(echo: Callable[[str], None] = print, **overrides: Any) -> Figures:
    """A smoke run: small fleet, short load (SQLite unless told otherwise)."""
    opts = replace(
        Options(chargers=3_000, queries=60, duration=2.0, warmup=0.5, concurrency=8), **overrides
    )
    figs = run(opts, echo)
    report(figs, echo)
    return figs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.graphql", description=__doc__)
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--pg-url", default=PG_DEFAULT, help="its schema public is dropped first!")
    p.add_argument("--chargers", type=int, default=100_000)
    p.add_argument("--fast", type=int, default=None, help="DC chargers (default 5 %%)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--queries", type=int, default=1_000, help="in-process, measured")
    p.add_argument("--duration", type=float, default=20.0, help="seconds of HTTP load")
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--json", dest="json_path", default="", metavar="FILE")
    p.add_argument("--keep", action="store_true", help="keep the temporary SQLite file")
    p.add_argument("--uvloop", action="store_true", help="run the server on uvloop")
    p.add_argument("--quick", action="store_true", help="smoke test: 3,000 chargers, 2 s")
    args = p.parse_args(argv)
    opts = Options(
        db=args.db,
        pg_url=args.pg_url,
        chargers=args.chargers,
        fast=args.fast,
        seed=args.seed,
        queries=args.queries,
        duration=args.duration,
        warmup=args.warmup,
        concurrency=args.concurrency,
        json_path=args.json_path,
        keep=args.keep,
        uvloop=args.uvloop,
    )
    if args.quick:
        opts = replace(opts, chargers=3_000, queries=60, duration=2.0, warmup=0.5, concurrency=8)
    try:
        figs = run(opts)
    except BenchError as exc:
        print(f"benchmark failed: {exc}", file=sys.stderr)
        return 1
    report(figs)
    if opts.json_path:
        Path(opts.json_path).write_text(json.dumps(asdict(figs), indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
