"""`ladeflyt simulate`: simulated chargers against a gateway, registered first if asked
(`--register`), or recorded sessions replayed into the database (`--replay FILE.csv`)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.chargers import admin
from core.config import Settings
from core.csvrows import CsvFileError, read_rows
from core.models import Charger
from core.timeutil import OSLO
from ladeflyt.console import cli_actor, in_transaction
from ladeflyt.preflight import check_database
from ocpp_gateway.sim_replay import COLUMNS, Recorded, Replayed, ReplayError, parse_row, replay
from ocpp_gateway.simulator import SimulationConfig, Stats, run_simulation

# How long a run may go without any charger getting in before it is given up.
NOBODY_GOT_IN_S = 30.0


class SimulationError(Exception):
    """The simulation cannot run as asked (exit code 2, one line)."""


def _ids(args: argparse.Namespace) -> list[str]:
    if args.ids:
        return [i.strip() for i in args.ids.split(",") if i.strip()]
    return [f"{args.prefix}-{i:04d}" for i in range(1, args.chargers + 1)]


def _is_dc(cp_id: str) -> bool:
    from ocpp_gateway.simulator import _kind

    return _kind(cp_id, "auto") == "DC"


def register(settings: Settings, ids: list[str], site: str, password: str | None) -> int:
    """Add the chargers of `ids` that the database does not know yet; how many were added."""
    check_database(settings.database_url)

    async def work(session: AsyncSession) -> int:
        known = set(
            (
                await session.execute(
                    select(Charger.charge_point_id).where(Charger.charge_point_id.in_(ids))
                )
            ).scalars()
        )
        actor = cli_actor()
        for cp_id in ids:
            if cp_id in known:
                continue
            dc = _is_dc(cp_id)
            await admin.add_charger(
                session,
                actor,
                admin.NewCharger(
                    cp_id,
                    site=site,
                    connectors=2,
                    max_power_w=150_000 if dc else 22_000,
                    connector_type="CCS2" if dc else "Type2",
                    password=password,
                ),
            )
        return len(ids) - len(known)

    return in_transaction(settings, work)


def _refusal(url: str, outcomes: dict[str, str]) -> str:
    """Why the chargers that tried could not get in, in one line."""
    reasons = Counter(outcomes.values())
    reason, count = reasons.most_common(1)[0]
    first = min(cp for cp, why in outcomes.items() if why == reason)
    who = f"{first}" + (f" and {count - 1} other(s)" if count > 1 else "")
    if reason == "HTTP 404":
        return (
            f"the gateway at {url} does not know {who} (HTTP 404): register them with "
            "`ladeflyt simulate --register ...` on the server's database (or `ladeflyt "
            "charger add ID`), or run the server with LADEFLYT_OCPP_ACCEPT_UNKNOWN=true"
        )
    if reason == "HTTP 401":
        return f"the gateway at {url} refused the password of {who} (HTTP 401): see --password"
    if reason.startswith("HTTP "):
        return f"the gateway at {url} refused {who} ({reason})"
    return f"cannot connect to {url} ({reason}): is `ladeflyt serve` running there?"


async def _watch(config: SimulationConfig, stats: Stats, stop: asyncio.Event) -> str | None:
    """Stop a run that no charger can join (every one refused, or nothing answering) and
    say why; warn once about chargers refused while others run."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    warned = False
    while not stop.is_set():
        await asyncio.sleep(0.2)
        outcomes = dict(stats.outcomes)
        if "connected" not in outcomes.values():
            everyone_tried = len(outcomes) >= stats.chargers > 0
            refused = all(why.startswith("HTTP 4") for why in outcomes.values())
            if everyone_tried and (refused or loop.time() - started > NOBODY_GOT_IN_S):
                stop.set()
                return _refusal(config.url, outcomes)
        elif not warned and len(outcomes) >= stats.chargers:
            out = {cp: why for cp, why in outcomes.items() if why != "connected"}
            if out:
                print(f"warning: {_refusal(config.url, out)}", file=sys.stderr)
            warned = True
    return None


async def _simulate(config: SimulationConfig) -> tuple[dict[str, Any], str | None]:
    stats = Stats()
    stop = config.stop = asyncio.Event()
    watcher = asyncio.create_task(_watch(config, stats, stop))
    try:
        result = await run_simulation(config, stats)
    finally:
        stop.set()
    return result, await watcher


# --------------------------------------------------------------------------- replay


def read_replay(path: Path) -> list[Recorded]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise SimulationError(f"cannot read {path}: {error}") from None
    try:
        rows = read_rows(text, COLUMNS, COLUMNS[:-1])
        return [parse_row(line, row) for line, row in rows]
    except (CsvFileError, ReplayError) as error:
        raise SimulationError(f"{path}: {error}") from None


async def _replay_here(
    settings: Settings, sessions: list[Recorded], password: str | None
) -> list[Replayed]:
    """Through an OCPP gateway of our own on a free local port, writing to the configured
    database: what a charger sends is recorded as `serve` records it (only its background
    jobs, e.g. SMS and payments, wait for `serve`)."""
    from ladeflyt.runtime import Runtime

    runtime = Runtime.build(settings)
    await runtime.start(ocpp_port=0, jobs=False, reset_connections=False)
    try:
        url = f"ws://127.0.0.1:{runtime.gateway.port}/ocpp"
        return await replay(url, sessions, password=password)
    finally:
        await runtime.stop()


def cmd_replay(args: argparse.Namespace, settings: Settings) -> None:
    sessions = read_replay(Path(args.replay))
    try:
        if args.url:
            done = asyncio.run(replay(args.url, sessions, password=args.password))
        else:
            check_database(settings.database_url)
            done = asyncio.run(_replay_here(settings, sessions, args.password))
    except ReplayError as error:
        raise SimulationError(str(error)) from None
    for d in done:
        r = d.recorded
        start, stop = r.start.astimezone(OSLO), r.stop.astimezone(OSLO)
        until = f"{stop:%H:%M}" if stop.date() == start.date() else f"{stop:%Y-%m-%d %H:%M}"
        note = "" if d.status == "Accepted" else f"  (tag {d.status}: recorded as started offline)"
        print(
            f"{r.charger} #{r.connector}  {start:%Y-%m-%d %H:%M}-{until}  "
            f"{r.energy_wh / 1000:6.3f} kWh  {r.id_tag:<10} transaction {d.transaction_id}{note}"
        )
    chargers = len({d.recorded.charger for d in done})
    print(f"{len(done)} session(s) replayed on {chargers} charger(s)")


# --------------------------------------------------------------------------- simulate


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> None:
    if args.replay:
        cmd_replay(args, settings)
        return
    ids = _ids(args)
    if args.register:
        added = register(settings, ids, args.site, args.password)
        print(f"{added} charger(s) registered at site {args.site}", file=sys.stderr)
    url = args.url or f"ws://{settings.ocpp_host}:{settings.ocpp_port}/ocpp"
    config = SimulationConfig(
        url=url,
        chargers=len(ids),
        protocol=args.protocol,
        prefix=args.prefix,
        ids=ids,
        id_tags=args.id_tags.split(","),
        password=args.password,
        duration=args.duration,
        meter_interval=args.meter_interval,
        speedup=args.speedup,
    )
    stats, refused = asyncio.run(_simulate(config))
    if refused is not None:
        raise SimulationError(refused)
    print(json.dumps(stats, indent=2))


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "simulate",
        help="run simulated chargers against a gateway, or replay recorded sessions",
        description="Simulated chargers connect to the gateway at --url (default: this "
        "configuration's OCPP address). The gateway only lets in chargers it knows: "
        "--register adds them to this configuration's database first. --replay FILE.csv "
        f"sends recorded sessions instead (columns {', '.join(COLUMNS)}; times without an "
        "offset are Oslo time), through a gateway of its own on this database unless --url "
        "names a running one.",
    )
    p.add_argument("--chargers", type=int, default=1)
    p.add_argument("--protocol", choices=["1.6", "2.0.1", "2.1"], default="1.6")
    p.add_argument("--url", default=None, help="ws://host:port/ocpp (the id is appended)")
    p.add_argument("--prefix", default="SIM", help="charge point ids are PREFIX-0001, ...")
    p.add_argument("--ids", default=None, help="comma-separated charge point ids instead")
    p.add_argument("--id-tags", default="04A2B3C4D5", help="comma-separated RFID tags to use")
    p.add_argument("--password", default=None)
    p.add_argument("--duration", type=float, default=None, help="seconds; default: forever")
    p.add_argument("--meter-interval", type=float, default=60.0)
    p.add_argument(
        "--speedup", type=float, default=1.0, help="simulated time runs this much faster"
    )
    p.add_argument("--register", action="store_true", help="add the chargers to the database first")
    p.add_argument("--site", default="Simulator", help="the site --register adds them to")
    p.add_argument("--replay", default=None, metavar="FILE.csv", help="replay these sessions")
    # The database is checked by --register and --replay, which use it; a plain run does not.
    p.set_defaults(func=cmd_simulate, database="none")
