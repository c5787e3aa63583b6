"""Benchmark: what one `sessionUpdates` event costs the server, for a young and an old session.

    .venv/bin/python -m bench.live_cost [--db sqlite|postgresql] [--pg-url URL]
        [--sessions N] [--events N] [--interval S] [--subscribers K] [--quick] [--write PATH]

1. A fresh, migrated database (a SQLite file in a temporary directory, or a PostgreSQL
   database of its own, dropped afterwards) with one charger and a tariff that has night and
   day energy prices, a per-minute fee on weekdays, an idle fee after a grace period and a
   start fee.
2. For each session age (1 minute and 10 hours), `sessions` sessions of that age, started
   through the gateway's own StartTransaction path, with a meter sample every `interval`
   seconds since (written in bulk: 600 samples for 10 hours at 60 s).
3. Per event: the gateway stores one MeterValues through its own path (not timed), then each
   of `subscribers` subscribers computes its update as `sessionUpdates` does, in a DB
   session of its own: the session row and the cost so far. "full" prices the whole session
   from its samples (what every event did before, `core.sessions.costs.session_cost`);
   "live" uses the LiveCost the subscribers share (`core.sessions.live`), warmed up by the
   subscription's first update. Figures: wall and CPU ms per event (all subscribers), p50
   and p95 over sessions x events, and how many samples the session had.

All on one machine, no network; bounded in count.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import platform
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bench._database import FreshDatabase
from core.chargers.service import add_charger
from core.db import create_engine, session_factory, transaction
from core.models import ChargingSession, MeterSample
from core.sessions import driver
from core.sessions import service as gateway
from core.sessions.costs import session_cost_ore
from core.sessions.live import LiveCost
from core.sessions.schemas import MeterReading
from core.tariffs import admin
from core.uow import UnitOfWork
from core.users.service import add_id_token, add_user

PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"
AGES = {"1 minute": timedelta(minutes=1), "10 hours": timedelta(hours=10)}
CHARGER, SITE = "BENCH-LIVE", "Benkeby"
WATTS = 11_000


@dataclass(frozen=True)
class Options:
    db: str = "sqlite"
    pg_url: str = PG_DEFAULT
    sessions: int = 5
    events: int = 6
    interval_s: int = 60
    subscribers: int = 1


@dataclass(frozen=True)
class Figures:
    age: str
    method: str  # full | live
    samples: int  # the session's samples at the first measured event
    events: int
    wall_p50_ms: float
    wall_p95_ms: float
    cpu_p50_ms: float


# ---------------------------------------------------------------------- database


async def _arrange(db: async_sessionmaker[AsyncSession]) -> tuple[int, int]:
    """The charger and its tariff; the driver. Returns (charger id, user id)."""
    async with transaction(db) as s:
        charger = await add_charger(s, CHARGER, site_name=SITE, connectors=32)
        name = "Natt og dag"
        await admin.create_tariff(s, name)
        for price, start, end in ((200, "22:00", "06:00"), (320, "06:00", "22:00")):
            await admin.add_component(s, name, kind="energy", price_ore=price, start=start, end=end)
        await admin.add_component(s, name, kind="time", price_ore=50, days="mon-fri")
        await admin.add_component(s, name, kind="parking", price_ore=80, grace_minutes=30)
        await admin.add_component(s, name, kind="session", price_ore=400)
        await admin.attach_tariff(
            s, name, site=SITE, group="public", valid_from=datetime(2020, 1, 1, tzinfo=UTC)
        )
        user = await add_user(s, "+4799000001", name="Benk")
        await add_id_token(s, "BENCH-TAG", user)
        return charger.id, user.id


@dataclass
class Live:
    """One session being followed: its ids, its meter, and its shared LiveCost."""

    id: int
    transaction_id: str
    evse: int
    at: datetime
    wh: int
    cost: LiveCost


async def _session(
    db: async_sessionmaker[AsyncSession], charger_id: int, evse: int, age: timedelta, opts: Options
) -> Live:
    """A session started `age` ago through the gateway's path, with a sample every interval."""
    step = timedelta(seconds=opts.interval_s)
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - age
    async with transaction(db) as s:
        started = await gateway.start_transaction(
            UnitOfWork(s),
            charger_id,
            CHARGER,
            connector_id=evse,
            id_tag="BENCH-TAG",
            meter_start_wh=0,
            timestamp_raw=f"{start.isoformat()}|{evse}",
            timestamp=start,
            received_at=start,
        )
        rows, at, wh = [], start, 0
        while at + step <= now:
            at += step
            wh += WATTS * opts.interval_s // 3600
            rows.append(
                MeterSample(
                    session_id=started.session_id,
                    charger_id=charger_id,
                    connector_id=evse,
                    sampled_at=at,
                    context="Sample.Periodic",
                    energy_wh=wh,
                    power_w=WATTS,
                )
            )
        s.add_all(rows)
        cs = await s.get_one(ChargingSession, started.session_id)
        cs.energy_wh, cs.last_energy_wh, cs.last_sample_at = wh, wh, at
    return Live(started.session_id, str(started.transaction_id), evse, at, wh, LiveCost(cs.id))


async def _meter_values(
    db: async_sessionmaker[AsyncSession], charger_id: int, live: Live, opts: Options
) -> None:
    """The gateway stores the next MeterValues of the session."""
    live.at += timedelta(seconds=opts.interval_s)
    live.wh += WATTS * opts.interval_s // 3600
    async with transaction(db) as s:
        await gateway.record_meter_values(
            UnitOfWork(s),
            charger_id,
            CHARGER,
            evse_id=live.evse,
            transaction_id=live.transaction_id,
            readings=[MeterReading(live.at, "Sample.Periodic", energy_wh=live.wh, power_w=WATTS)],
            received_at=live.at,
        )


# ---------------------------------------------------------------------- measuring


Update = Callable[[AsyncSession, ChargingSession, datetime], Awaitable[int | None]]


async def _update(
    db: async_sessionmaker[AsyncSession], user_id: int, live: Live, cost: Update
) -> int | None:
    """One subscriber's update, as `sessionUpdates` computes it."""
    async with db() as s:
        cs = await driver.session_for_user(s, user_id, live.id)
        assert cs is not None
        return await cost(s, cs, live.at + timedelta(seconds=5))


async def _samples(db: async_sessionmaker[AsyncSession], session_id: int) -> int:
    async with db() as s:
        count = await s.scalar(
            text("SELECT count(*) FROM meter_samples WHERE session_id = :s"), {"s": session_id}
        )
        return int(count or 0)


async def measure(opts: Options, echo: Callable[[str], None] = print) -> list[Figures]:
    database = FreshDatabase(opts.db, opts.pg_url, "live")
    await database.create()
    engine = create_engine(database.url)
    db = session_factory(engine)
    figures: list[Figures] = []
    try:
        charger_id, user_id = await _arrange(db)
        evse = 0
        for age_name, age in AGES.items():
            follows = []
            for _ in range(opts.sessions):
                evse += 1
                follows.append(await _session(db, charger_id, evse, age, opts))
            samples = await _samples(db, follows[0].id)
            times: dict[str, list[tuple[float, float]]] = {"full": [], "live": []}
            for live in follows:
                await _update(db, user_id, live, live.cost.cost_ore)  # the first update
                for _ in range(opts.events):
                    await _meter_values(db, charger_id, live, opts)
                    amounts = {}
                    methods: list[tuple[str, Update]] = [
                        ("full", session_cost_ore),
                        ("live", live.cost.cost_ore),
                    ]
                    if len(times["full"]) % 2:
                        methods.reverse()  # neither always runs first
                    for method, cost in methods:
                        gc.collect()  # the other method's garbage is not this one's cost
                        wall, cpu = time.perf_counter(), time.process_time()
                        for _ in range(opts.subscribers):
                            amounts[method] = await _update(db, user_id, live, cost)
                        times[method].append(
                            (time.perf_counter() - wall, time.process_time() - cpu)
                        )
                    if amounts["full"] != amounts["live"]:
                        raise AssertionError(f"live {amounts['live']} != full {amounts['full']}")
            for method, spent in times.items():
                walls = sorted(w * 1000 for w, _ in spent)
                cpus = sorted(c * 1000 for _, c in spent)
                f = Figures(
                    age_name,
                    method,
                    samples,
                    len(spent),
                    round(statistics.median(walls), 2),
                    round(walls[math.ceil(len(walls) * 0.95) - 1], 2),
                    round(statistics.median(cpus), 2),
                )
                figures.append(f)
                echo(
                    f"{age_name:>9} {method:>4}: {f.wall_p50_ms:7.2f} ms p50, "
                    f"{f.wall_p95_ms:7.2f} ms p95, {f.cpu_p50_ms:7.2f} ms CPU "
                    f"({samples} samples, {f.events} events)"
                )
    finally:
        await engine.dispose()
        await database.drop()
    return figures


def quick(echo: Callable[[str], None] = print) -> list[Figures]:
    """A smoke run for the test suite: few sessions, few events."""
    return asyncio.run(measure(Options(sessions=1, events=2, interval_s=300), echo))


def markdown(opts: Options, figures: list[Figures], argv: list[str]) -> str:
    lines = [
        f"## bench.live_cost ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {opts.db})",
        "",
        f"`python -m bench.live_cost {' '.join(argv)}` on {platform.node()}, "
        f"load average {os.getloadavg()[0]:.1f}; {opts.sessions} sessions x {opts.events} "
        f"events per age, a sample every {opts.interval_s} s, {opts.subscribers} "
        "subscriber(s) per session.",
        "",
        "| session age | samples | per event | wall p50 ms | wall p95 ms | CPU p50 ms |",
        "|---|---:|---|---:|---:|---:|",
    ]
    for f in figures:
        lines.append(
            f"| {f.age} | {f.samples} | {f.method} | {f.wall_p50_ms} | {f.wall_p95_ms} "
            f"| {f.cpu_p50_ms} |"
        )
    return "\n".join([*lines, ""])


def main(argv: list[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    p = argparse.ArgumentParser(prog="python -m bench.live_cost", description=__doc__)
    p.add_argument("--db", choices=["sqlite", "postgresql"], default="sqlite")
    p.add_argument("--pg-url", default=PG_DEFAULT)
    p.add_argument("--sessions", type=int, default=5)
    p.add_argument("--events", type=int, default=6)
    p.add_argument("--interval", type=int, default=60, help="seconds between samples")
    p.add_argument("--subscribers", type=int, default=1)
    p.add_argument("--quick", action="store_true", help="1 session, 2 events, 300 s samples")
    p.add_argument("--write", default="", help="append a markdown report here")
    args = p.parse_args(args_list)
    opts = Options(
        args.db, args.pg_url, args.sessions, args.events, args.interval, args.subscribers
    )
    if args.quick:
        opts = Options(args.db, args.pg_url, 1, 2, 300, args.subscribers)
    figures = asyncio.run(measure(opts))
    if args.write:
        path = Path(args.write)
        existing = path.read_text(encoding="utf-8") if path.exists() else ""
        report = markdown(opts, figures, args_list)
        path.write_text(existing + ("\n" if existing else "") + report, encoding="utf-8")
        print(f"wrote {path}")
    return 0 if figures else 1


if __name__ == "__main__":
    raise SystemExit(main())
