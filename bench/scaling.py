"""Benchmark: throughput with 1, 2 and 4 gateway processes on PostgreSQL and Redis.

    .venv/bin/python -m bench.scaling [--pg-url URL] [--chargers N] [--duration S]
        [--gateways 1,2,4] [--json FILE]

For each count, a fresh database (schema `public` dropped: use a database of its own), a
private redis-server on a free port, that many gateway processes (the real `Runtime` with
the Redis bus, as `ladeflyt gateway` runs it) and one load process per gateway, each
driving its share of the chargers in a closed loop (boot, StartTransaction, then
MeterValues back to back). Figures: MeterValues/s persisted (rows added to meter_samples),
answered/s, reply p50/p99, the gateways' CPU, and the ratio to one process. Every loop is
bounded; all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import json
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from array import array
from dataclasses import asdict, dataclass

import psutil

from bench._load import LoadConfig, LoadResult, load_main
from bench._servers import BENCH_TAG, ServerConfig, ladeflyt_main
from bench.ocpp_gateway import BenchError, _Child, _pct, _prepare

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/ladeflyt_bench_scaling"


def _ensure_database(url: str) -> None:
    """Create the benchmark's database if it does not exist (its schema is dropped later)."""
    import asyncio

    from sqlalchemy import text
    from sqlalchemy.engine import make_url
    from sqlalchemy.pool import NullPool

    from core.db import create_engine

    name = make_url(url).database
    admin = make_url(url).set(database="postgres").render_as_string(hide_password=False)

    async def create() -> None:
        engine = create_engine(admin, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                found = await conn.scalar(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                )
                if not found:
                    await conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            await engine.dispose()

    asyncio.run(create())


@dataclass
class Round:
    gateways: int
    chargers: int
    connected: int = 0
    connect_seconds: float = 0.0
    elapsed: float = 0.0
    persisted_per_s: float = 0.0
    replies_per_s: float = 0.0
    errors: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    gateway_cpu_pct: float = 0.0
    ratio: float = 0.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _redis(workdir: str) -> tuple[subprocess.Popen[bytes], int]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise BenchError("redis-server is not installed")
    port = _free_port()
    proc = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--dir", workdir],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.05)
    proc.kill()
    raise BenchError("redis-server did not start")


def _cpu(procs: list[psutil.Process]) -> float:
    total = 0.0
    for proc in procs:
        times = proc.cpu_times()
        total += times.user + times.system
    return total


def run_round(pg_url: str, n: int, chargers: int, duration: float) -> Round:
    ids = tuple(f"SCALE-{i:05d}" for i in range(chargers))
    _prepare(pg_url, ids, True)
    result = Round(n, chargers)
    workdir = tempfile.mkdtemp(prefix="ladeflyt-bench-scaling-")
    redis, port = _redis(workdir)
    gateways: list[_Child] = []
    loaders: list[_Child] = []
    try:
        cfg = ServerConfig(database_url=pg_url, redis_url=f"redis://127.0.0.1:{port}/0")
        gateways = [_Child(f"gateway-{i}", ladeflyt_main, cfg) for i in range(n)]
        ready = [g.expect("ready", 180) for g in gateways]
        procs = [psutil.Process(pid) for _, _, pid in ready]
        base = time.time() - 30 * 86_400
        for i, (_, gw_port, _) in enumerate(ready):
            share = ids[i::n]
            load = LoadConfig(
                url=f"ws://127.0.0.1:{gw_port}/ocpp",
                ids=share,
                version="1.6",
                mode="closed",
                duration=duration,
                rate=0.0,
                phase=i / n,
                id_tag=BENCH_TAG,
                base_epoch=base,
            )
            loaders.append(_Child(f"load-{i}", load_main, load))
        for loader in loaders:
            _, connected, _failures, seconds, error = loader.expect("connected", 300)
            if error:
                print(f"  load: {error}", file=sys.stderr)
            result.connected += connected
            result.connect_seconds = max(result.connect_seconds, seconds)
        time.sleep(1.0)
        gateways[0].send("stats")
        before = gateways[0].expect("stats", 60)[1]
        cpu0 = _cpu(procs)
        for loader in loaders:
            loader.send("go")
        results: list[LoadResult] = [loader.expect("done", duration + 120)[1] for loader in loaders]
        cpu1 = _cpu(procs)
        gateways[0].send("stats")
        after = gateways[0].expect("stats", 60)[1]
        lat = array("d")
        replies = 0
        for r in results:
            lat.frombytes(r.latencies)
            replies += r.replies
            result.errors += r.errors + r.timeouts
        result.elapsed = max(r.elapsed for r in results)
        result.replies_per_s = replies / result.elapsed
        result.persisted_per_s = (after["meter_samples"] - before["meter_samples"]) / result.elapsed
        if lat:
            ordered = array("d", sorted(lat))
            result.p50_ms, result.p99_ms = _pct(ordered, 0.5), _pct(ordered, 0.99)
        result.gateway_cpu_pct = 100 * (cpu1 - cpu0) / result.elapsed
    finally:
        for loader in loaders:
            loader.stop(60)
        for gateway in gateways:
            gateway.stop()
        redis.kill()
        redis.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)
    return result


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pg-url", default=PG_DEFAULT, help="its schema public is dropped first!")
    p.add_argument("--chargers", type=int, default=200)
    p.add_argument("--duration", type=float, default=10.0)
    p.add_argument("--gateways", default="1,2,4")
    p.add_argument("--json", dest="json_path", default="")
    a = p.parse_args()
    counts = [int(x) for x in a.gateways.split(",")]
    _ensure_database(a.pg_url)
    print(f"{a.chargers} chargers, closed loop, {a.duration:g} s per round, PostgreSQL + Redis")
    rounds: list[Round] = []
    for n in counts:
        r = run_round(a.pg_url, n, a.chargers, a.duration)
        r.ratio = r.persisted_per_s / rounds[0].persisted_per_s if rounds else 1.0
        rounds.append(r)
        print(
            f"{n} gateway(s): {r.persisted_per_s:,.0f} persisted/s, {r.replies_per_s:,.0f} "
            f"answered/s, p50 {r.p50_ms:.0f} ms, p99 {r.p99_ms:.0f} ms, gateways' CPU "
            f"{r.gateway_cpu_pct:.0f} %, {r.connected}/{r.chargers} connected in "
            f"{r.connect_seconds:.1f} s, errors {r.errors}, ratio to 1 process {r.ratio:.2f}",
            flush=True,
        )
    if a.json_path:
        with open(a.json_path, "w") as f:
            json.dump([asdict(r) for r in rounds], f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
