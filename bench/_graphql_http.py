"""The end-to-end half of `bench.graphql`: uvicorn in one process, httpx in another.

The server process runs `Runtime.build(settings).http_app()` under uvicorn (one worker,
as `ladeflyt serve` configures it); the load process POSTs pre-built GraphQL bodies to
/graphql with a fixed number of clients for a fixed time, after a warm-up, and measures
latency, errors and the CPU both processes used. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from multiprocessing.connection import Connection
from typing import Any
from urllib.parse import urlparse

import psutil

JWT_SECRET = "bench-graphql-secret-not-for-production-0123456789"


class BenchError(Exception):
    pass


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
    server_cpu_ms_per_request: float = 0.0  # capacity of one worker ~ 1000 / this
    db_cpu_pct: float = 0.0  # PostgreSQL's processes for the database (0 for SQLite)


def settings_for(url: str) -> Any:
    from core.config import Settings

    return Settings(
        database_url=url,
        jwt_secret=JWT_SECRET,
        ocpp_host="127.0.0.1",
        ocpp_port=0,
        graphql_introspection=False,
    )


# ---------------------------------------------------------------------- child processes


class Child:
    """A spawned process with a pipe to it; every wait is bounded."""

    def __init__(self, name: str, target: Callable[..., None], *args: Any) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.name = name
        self.conn, theirs = ctx.Pipe()
        self.proc = ctx.Process(target=target, args=(theirs, *args), name=name, daemon=True)
        self.proc.start()
        theirs.close()

    def expect(self, kind: str, timeout: float) -> tuple[Any, ...]:
        if not self.conn.poll(timeout):
            raise BenchError(f"{self.name}: no '{kind}' within {timeout:.0f} s")
        try:
            msg: tuple[Any, ...] = self.conn.recv()
        except EOFError:
            self.proc.join(5)
            raise BenchError(f"{self.name} exited ({self.proc.exitcode})") from None
        if msg[0] != kind:
            raise BenchError(f"{self.name}: expected '{kind}', got {msg!r:.300}")
        return msg

    def stop(self, timeout: float = 20.0) -> None:
        with contextlib.suppress(OSError):
            self.conn.send("stop")
        self.proc.join(timeout)
        if self.proc.is_alive():
            self.proc.terminate()
            self.proc.join(5)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(5)
        self.conn.close()


def server_main(conn: Connection, url: str, use_uvloop: bool) -> None:
    """Process entry: uvicorn (one worker) serving `Runtime.build(settings).http_app()`."""
    import logging

    logging.basicConfig(level=logging.WARNING)
    try:
        if use_uvloop:
            import uvloop

            uvloop.run(_serve(conn, url))
        else:
            asyncio.run(_serve(conn, url))
    except BaseException as exc:
        with contextlib.suppress(Exception):
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


async def _serve(conn: Connection, url: str) -> None:
    import uvicorn

    from ladeflyt.runtime import Runtime

    # Built as `ladeflyt serve` builds it; not started: no OCPP gateway is needed here and
    # start-up would mark every charger offline.
    runtime = Runtime.build(settings_for(url))
    config = uvicorn.Config(
        runtime.http_app(),
        host="127.0.0.1",
        port=0,
        lifespan="off",
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def reader() -> None:  # a thread of its own: blocking recv must not stall the loop
        with contextlib.suppress(EOFError, OSError):
            conn.recv()
        loop.call_soon_threadsafe(stop.set)

    for _ in range(1500):  # 30 s at most
        if server.started or task.done():
            break
        await asyncio.sleep(0.02)
    if not server.started:
        raise BenchError("uvicorn did not start")
    port = server.servers[0].sockets[0].getsockname()[1]
    threading.Thread(target=reader, name="bench-control", daemon=True).start()
    conn.send(("ready", port, os.getpid()))
    await stop.wait()
    server.should_exit = True
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(task, 10)
    await runtime.engine.dispose()


@dataclass(frozen=True)
class LoadConfig:
    port: int
    server_pid: int
    bodies: list[bytes]
    concurrency: int
    warmup: float
    duration: float
    max_requests: int
    database: str = ""  # PostgreSQL database name, for its CPU


def load_main(conn: Connection, cfg: LoadConfig) -> None:
    """Process entry: POST the bodies to /graphql with a fixed concurrency, then report."""
    try:
        conn.send(("result", asyncio.run(_load(cfg))))
    except BaseException as exc:
        with contextlib.suppress(Exception):
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


async def _load(cfg: LoadConfig) -> dict[str, Any]:
    import httpx

    latencies: list[float] = []
    errors = 0
    first_error = ""
    counter = iter(range(cfg.max_requests))
    measuring = False
    headers = {"content-type": "application/json"}
    limits = httpx.Limits(
        max_connections=cfg.concurrency, max_keepalive_connections=cfg.concurrency
    )
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{cfg.port}", limits=limits, timeout=30.0
    ) as client:

        async def worker(stop_at: float) -> None:
            nonlocal errors, first_error
            for n in counter:
                if time.monotonic() >= stop_at:
                    return
                body = cfg.bodies[n % len(cfg.bodies)]
                t0 = time.perf_counter()
                try:
                    response = await client.post("/graphql", content=body, headers=headers)
                    ok = response.status_code == 200 and b'"errors"' not in response.content
                    problem = "" if ok else f"{response.status_code} {response.text[:200]}"
                except httpx.HTTPError as exc:
                    ok, problem = False, f"{type(exc).__name__}: {exc}"
                elapsed = time.perf_counter() - t0
                if not measuring:
                    continue
                if ok:
                    latencies.append(elapsed)
                else:
                    errors += 1
                    first_error = first_error or problem

        start = time.monotonic()
        warm = [asyncio.create_task(worker(start + cfg.warmup)) for _ in range(cfg.concurrency)]
        await asyncio.gather(*warm)
        server = psutil.Process(cfg.server_pid)
        me = psutil.Process()
        s0, m0, b0, d0 = _cpu(server), _cpu(me), _busy(), _postgres_cpu(cfg.database)
        measuring = True
        t0 = time.monotonic()
        tasks = [asyncio.create_task(worker(t0 + cfg.duration)) for _ in range(cfg.concurrency)]
        await asyncio.gather(*tasks)
        elapsed = time.monotonic() - t0
        s1, m1, b1, d1 = _cpu(server), _cpu(me), _busy(), _postgres_cpu(cfg.database)
    lat = Latency.of(latencies)
    return asdict(
        HttpFigures(
            concurrency=cfg.concurrency,
            duration=cfg.duration,
            elapsed=round(elapsed, 3),
            requests=len(latencies),
            errors=errors,
            first_error=first_error,
            rps=round(len(latencies) / elapsed, 1) if elapsed else 0.0,
            p50_ms=lat.p50_ms,
            p99_ms=lat.p99_ms,
            max_ms=lat.max_ms,
            server_cpu_pct=round((s1 - s0) / elapsed * 100, 1),
            server_cpu_ms_per_request=round((s1 - s0) / max(1, len(latencies)) * 1000, 2),
            db_cpu_pct=round(sum(d1.get(pid, t) - t for pid, t in d0.items()) / elapsed * 100, 1),
            load_cpu_pct=round((m1 - m0) / elapsed * 100, 1),
            machine_busy_pct=round((b1 - b0) / elapsed / (psutil.cpu_count() or 1) * 100, 1),
        )
    )


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return float(times.user + times.system)


def _postgres_cpu(database: str) -> dict[int, float]:
    """CPU seconds by pid of the PostgreSQL backends connected to `database`."""
    out: dict[int, float] = {}
    if not database:
        return out
    for p in psutil.process_iter(["name", "cmdline", "cpu_times"]):
        title = " ".join(p.info["cmdline"] or []) + " "
        if (p.info["name"] or "").startswith("postgres") and f" {database} " in title:
            times = p.info["cpu_times"]
            out[p.pid] = float(times.user + times.system) if times else 0.0
    return out


def _busy() -> float:
    t = psutil.cpu_times()
    return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))


def measure_http(
    url: str,
    bodies: list[bytes],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
    max_requests: int = 1_000_000,
    use_uvloop: bool = False,
) -> HttpFigures:
    """Serve `url` in one process, load it from another; the load side's figures."""
    server = Child("server", server_main, url, use_uvloop)
    try:
        _, port, pid = server.expect("ready", 60)
        database = urlparse(url).path.lstrip("/") if url.startswith("postgresql") else ""
        cfg = LoadConfig(port, pid, bodies, concurrency, warmup, duration, max_requests, database)
        load = Child("load", load_main, cfg)
        try:
            _, result = load.expect("result", warmup + duration + 120)
        finally:
            load.stop()
        return HttpFigures(**result)
    finally:
        server.stop()
