"""The two systems under test, each run in a process of its own.

- `ladeflyt_main`: the Ladeflyt gateway exactly as `ladeflyt serve` builds it
  (`Runtime.build(Settings(...))`, `await runtime.start()`), default settings otherwise.
- `bare_main`: a central system built on the `ocpp` package alone: `ChargePoint`
  subclasses with `@on` handlers that answer every message and persist nothing.

`prepare_database` (migrate, then register the chargers and an RFID tag in one
transaction) runs in a short-lived process of its own before the gateway starts, so the
gateway's RSS baseline does not carry the allocator high-water mark of that setup.

A server process reports ("ready", port) on its pipe, then answers "stats" and stops on
"stop" (or when the pipe closes).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import resource
import threading
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

BENCH_TAG = "BENCHTAG"


def raise_nofile() -> int:
    """Raise the soft limit of open files to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1_048_576
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
    return soft


@dataclass(frozen=True)
class ServerConfig:
    database_url: str = ""
    version: str = "1.6"  # bare server: which OCPP version it speaks
    sync_validation: bool = False  # bare server: validate in the loop, not in a thread
    cpus: tuple[int, ...] = ()  # CPU affinity of the server process (empty: any)
    redis_url: str = ""  # Ladeflyt: the Redis bus (several gateway processes)


def pin(cpus: tuple[int, ...]) -> None:
    """Bind this process (all its threads) to `cpus`; no-op when empty or unsupported."""
    if cpus and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, cpus)


# ---------------------------------------------------------------------- database setup


def prepare_database(url: str, ids: tuple[str, ...], reset_schema: bool) -> None:
    """Process entry: (PostgreSQL: drop schema public), migrate, register chargers + tag."""
    from core.migrate import upgrade

    logging.basicConfig(level=logging.WARNING)
    if reset_schema:
        asyncio.run(_reset_schema(url))
    upgrade(url)
    asyncio.run(_register(url, ids))


async def _reset_schema(url: str) -> None:
    from sqlalchemy import text

    from core.db import create_engine

    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


async def _register(url: str, ids: tuple[str, ...]) -> None:
    from core.chargers.service import add_charger
    from core.db import create_engine, session_factory, transaction
    from core.users.service import add_id_token, add_user

    engine = create_engine(url)
    try:
        async with transaction(session_factory(engine)) as session:
            for cp_id in ids:
                await add_charger(session, cp_id, site_name="Bench", connectors=2)
            user = await add_user(session, "+4790000000", name="Bench")
            await add_id_token(session, BENCH_TAG, user)
    finally:
        await engine.dispose()


# ---------------------------------------------------------------------- control pipe


async def _serve_until_stopped(
    conn: Connection, port: int, stats: Callable[[], Awaitable[dict[str, Any]]]
) -> None:
    """Report readiness, then answer "stats" until "stop" (or a closed pipe)."""
    loop = asyncio.get_running_loop()
    orders: asyncio.Queue[Any] = asyncio.Queue()

    def reader() -> None:  # a thread of its own: the default executor stays untouched
        while True:
            try:
                order = conn.recv()
            except (EOFError, OSError):
                order = "stop"
            loop.call_soon_threadsafe(orders.put_nowait, order)
            if order == "stop":
                return

    threading.Thread(target=reader, name="bench-control", daemon=True).start()
    conn.send(("ready", port, os.getpid()))
    while True:
        order = await orders.get()
        if order == "stop":
            return
        if order == "stats":
            conn.send(("stats", await stats()))


def _entry(conn: Connection, main: Coroutine[Any, Any, None], cpus: tuple[int, ...]) -> None:
    raise_nofile()
    pin(cpus)
    logging.basicConfig(level=logging.WARNING)
    try:
        asyncio.run(main)
    except BaseException as exc:
        with contextlib.suppress(Exception):
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


# ---------------------------------------------------------------------- Ladeflyt


def ladeflyt_main(conn: Connection, cfg: ServerConfig) -> None:
    """Process entry: the Ladeflyt gateway on a free port of 127.0.0.1."""
    _entry(conn, _ladeflyt(conn, cfg), cfg.cpus)


async def _ladeflyt(conn: Connection, cfg: ServerConfig) -> None:
    from sqlalchemy import func, select

    from core.config import Settings
    from core.models import MeterSample
    from ladeflyt.runtime import Runtime

    settings = Settings(
        database_url=cfg.database_url,
        ocpp_host="127.0.0.1",
        ocpp_port=0,
        redis_url=cfg.redis_url,
        log_format="text",
    )
    runtime = Runtime.build(settings)
    await runtime.start(ocpp_port=0)
    batcher = runtime.gateway_ctx.batcher

    async def stats() -> dict[str, Any]:
        async with runtime.gateway_ctx.sessions() as session:
            rows = await session.scalar(select(func.count()).select_from(MeterSample))
        return {
            "connections": len(runtime.gateway.connections),
            "meter_samples": int(rows or 0),
            "batches": batcher.stats.batches,
            "units": batcher.stats.units,
            "fallbacks": batcher.stats.fallbacks,
        }

    try:
        await _serve_until_stopped(conn, runtime.gateway.port, stats)
    finally:
        await runtime.stop()


# ---------------------------------------------------------------------- bare `ocpp` CSMS


def bare_main(conn: Connection, cfg: ServerConfig) -> None:
    """Process entry: a central system made of the `ocpp` package alone."""
    _entry(conn, _bare(conn, cfg), cfg.cpus)


def _bare_classes() -> dict[str, type[Any]]:
    from datetime import UTC, datetime

    from ocpp.routing import on
    from ocpp.v16 import ChargePoint as CP16
    from ocpp.v16 import call_result as r16
    from ocpp.v201 import ChargePoint as CP201
    from ocpp.v201 import call_result as r201

    tx_ids = itertools.count(1)

    def now() -> str:
        return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    class Bare16(CP16):
        @on("BootNotification")
        async def boot(self, **kw: Any) -> Any:
            return r16.BootNotification(current_time=now(), interval=300, status="Accepted")

        @on("Heartbeat")
        async def heartbeat(self, **kw: Any) -> Any:
            return r16.Heartbeat(current_time=now())

        @on("StatusNotification")
        async def status(self, **kw: Any) -> Any:
            return r16.StatusNotification()

        @on("Authorize")
        async def authorize(self, **kw: Any) -> Any:
            return r16.Authorize(id_tag_info={"status": "Accepted"})

        @on("StartTransaction")
        async def start_tx(self, **kw: Any) -> Any:
            return r16.StartTransaction(
                transaction_id=next(tx_ids), id_tag_info={"status": "Accepted"}
            )

        @on("StopTransaction")
        async def stop_tx(self, **kw: Any) -> Any:
            return r16.StopTransaction(id_tag_info={"status": "Accepted"})

        @on("MeterValues")
        async def meter_values(self, **kw: Any) -> Any:
            return r16.MeterValues()

    class Bare201(CP201):
        @on("BootNotification")
        async def boot(self, **kw: Any) -> Any:
            return r201.BootNotification(current_time=now(), interval=300, status="Accepted")

        @on("Heartbeat")
        async def heartbeat(self, **kw: Any) -> Any:
            return r201.Heartbeat(current_time=now())

        @on("StatusNotification")
        async def status(self, **kw: Any) -> Any:
            return r201.StatusNotification()

        @on("Authorize")
        async def authorize(self, **kw: Any) -> Any:
            return r201.Authorize(id_token_info={"status": "Accepted"})

        @on("TransactionEvent")
        async def transaction_event(self, **kw: Any) -> Any:
            if kw.get("id_token"):
                return r201.TransactionEvent(id_token_info={"status": "Accepted"})
            return r201.TransactionEvent()

        @on("MeterValues")
        async def meter_values(self, **kw: Any) -> Any:
            return r201.MeterValues()

    return {"1.6": Bare16, "2.0.1": Bare201}


async def _bare(conn: Connection, cfg: ServerConfig) -> None:
    import ocpp.messages
    from websockets.asyncio.server import ServerConnection, serve
    from websockets.exceptions import ConnectionClosed
    from websockets.typing import Subprotocol

    if cfg.sync_validation:
        ocpp.messages.ASYNC_VALIDATION = False
    cp_class = _bare_classes()[cfg.version]
    subprotocol = Subprotocol("ocpp1.6" if cfg.version == "1.6" else "ocpp2.0.1")
    connections: set[Any] = set()

    async def handler(ws: ServerConnection) -> None:
        cp = cp_class(ws.request.path.rstrip("/").rsplit("/", 1)[-1] if ws.request else "", ws)
        connections.add(cp)
        try:
            await cp.start()
        except ConnectionClosed:
            pass
        finally:
            connections.discard(cp)

    async def stats() -> dict[str, Any]:
        return {"connections": len(connections)}

    async with serve(
        handler,
        "127.0.0.1",
        0,
        subprotocols=[subprotocol],
        compression=None,
        ping_interval=60,
        ping_timeout=60,
    ) as server:
        port = int(next(iter(server.sockets)).getsockname()[1])
        await _serve_until_stopped(conn, port, stats)
