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
import contextlib
import json
import math
import multiprocessing
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil

from bench.fleet import FleetSummary, QueryPoint, generate_fleet, query_points

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
GOAL_P99_MS = 25.0
GOAL_RPS = 300.0
JWT_SECRET = "bench-graphql-secret-not-for-production-0123456789"

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


class BenchError(Exception):
    pass


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
    concurrency: int = 32
    max_requests: int = 1_000_000
    json_path: str = ""
    keep: bool = False


@dataclass(frozen=True)
class Latency:
    count: int
    p50_ms: float
    p95_ms: float
    p99_ms: float
    max_ms: float
    mean_ms: float

    @classmethod
    def of(cls, seconds: list[float]) -> Latency:
        if not seconds:
            return cls(0, 0.0, 0.0, 0.0, 0.0, 0.0)
        ordered = sorted(seconds)

        def pct(p: float) -> float:
            index = max(0, min(len(ordered) - 1, math.ceil(p * len(ordered)) - 1))
            return round(ordered[index] * 1000, 3)

        mean = round(sum(ordered) / len(ordered) * 1000, 3)
        return cls(len(ordered), pct(0.50), pct(0.95), pct(0.99), pct(1.0), mean)

    def text(self) -> str:
        return (
            f"p50 {self.p50_ms:.2f}  p95 {self.p95_ms:.2f}  p99 {self.p99_ms:.2f}  "
            f"max {self.max_ms:.2f}  mean {self.mean_ms:.2f} ms  (n={self.count})"
        )


@dataclass
class InProcessFigures:
    queries: int = 0
    errors: int = 0
    first_error: str = ""
    graphql: Latency = field(default_factory=lambda: Latency.of([]))
    by_variant: dict[str, Latency] = field(default_factory=dict)
    by_kind: dict[str, Latency] = field(default_factory=dict)
    search_only: Latency = field(default_factory=lambda: Latency.of([]))
    search_and_prices: Latency = field(default_factory=lambda: Latency.of([]))
    mean_hits: float = 0.0
    mean_total: float = 0.0
    max_total: int = 0


@dataclass
class HttpFigures:
    concurrency: int = 0
    duration: float = 0.0
    elapsed: float = 0.0
    requests: int = 0
    errors: int = 0
    first_error: str = ""
    rps: float = 0.0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    max_ms: float = 0.0
    server_cpu_pct: float = 0.0  # of one core
    load_cpu_pct: float = 0.0
    machine_busy_pct: float = 0.0  # of all cores


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


def settings_for(url: str) -> Any:
    from core.config import Settings

    return Settings(
        database_url=url,
        jwt_secret=JWT_SECRET,
        ocpp_host="127.0.0.1",
        ocpp_port=0,
        graphql_introspection=False,
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
    services = DriverServices(settings, ctx.sessions, ctx.commands, ctx.events, runtime.auth)
    schema = build_schema(settings)
    figs = InProcessFigures()
    times: list[float] = []
    per_variant: dict[str, list[float]] = {}
    per_kind: dict[str, list[float]] = {}
    hits = totals = 0
    try:
        for n, req in enumerate(requests[:warmup] + requests):
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
        figs.graphql = Latency.of(times)
        figs.by_variant = {k: Latency.of(v) for k, v in sorted(per_variant.items())}
        figs.by_kind = {k: Latency.of(v) for k, v in sorted(per_kind.items())}
        figs.mean_hits = round(hits / max(1, len(times)), 2)
        figs.mean_total = round(totals / max(1, len(times)), 1)
        search_times: list[float] = []
        priced_times: list[float] = []
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
        figs.search_only = Latency.of(search_times)
        figs.search_and_prices = Latency.of(priced_times)
    finally:
        await runtime.engine.dispose()
    return figs
