"""`ladeflyt charger add|list|show|update|remove|import`: the operator's charger register."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.chargers import admin
from core.chargers.admin import ChargerChanges, NewCharger, Place
from core.chargers.service import ChargerError
from core.config import Settings
from core.db import transaction
from core.models import Charger, Site
from core.timeutil import OSLO
from ladeflyt.console import ExitCode, ProgressBar, cli_actor, in_transaction, with_database

# Chargers added in one transaction by `charger import`: a failure loses at most one batch,
# and a long import does not hold the database's write lock for minutes.
IMPORT_BATCH = 200


def _kw(watts: int | None) -> str:
    return "-" if watts is None else f"{watts / 1000:g}"


def _local(value: Any) -> str:
    return "-" if value is None else f"{value.astimezone(OSLO):%Y-%m-%d %H:%M}"


def _place(args: argparse.Namespace) -> Place:
    return Place(args.lat, args.lon, args.address)


# --------------------------------------------------------------------------- add


def cmd_add(args: argparse.Namespace, settings: Settings) -> None:
    new = NewCharger(
        args.id,
        site=args.site,
        place=_place(args),
        connectors=args.connectors,
        max_power_w=round(args.max_kw * 1000),
        connector_type=args.type,
        password=args.password,
        public_code=args.code,
    )

    async def work(session: AsyncSession) -> None:
        await admin.add_charger(session, cli_actor(), new)

    in_transaction(settings, work)
    print(f"charger {args.id} added")


# --------------------------------------------------------------------------- list, show


def _json_row(charger: Charger, site: Site | None) -> dict[str, Any]:
    return {
        "id": charger.id,
        "charge_point_id": charger.charge_point_id,
        "public_code": charger.public_code,
        "site": site.name if site else None,
        "address": site.address if site else None,
        "latitude": site.latitude if site else None,
        "longitude": site.longitude if site else None,
        "registration_status": charger.registration_status,
        "online": charger.online,
        "last_seen_at": charger.last_seen_at.isoformat() if charger.last_seen_at else None,
        "ocpp_version": charger.ocpp_version,
        "vendor": charger.vendor,
        "model": charger.model,
        "max_power_w": charger.max_power_w,
        "removed_at": charger.removed_at.isoformat() if charger.removed_at else None,
        "connectors": [
            {
                "evse_id": c.evse_id,
                "connector_id": c.connector_id,
                "type": c.connector_type,
                "max_power_w": c.max_power_w,
                "status": c.status,
            }
            for c in charger.connectors
        ],
    }


def cmd_list(args: argparse.Namespace, settings: Settings) -> None:
    rows = in_transaction(
        settings, lambda s: admin.list_chargers(s, site=args.site, removed=args.all)
    )
    if args.json:
        print(json.dumps([_json_row(c, s) for c, s in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        print("no chargers")
        return
    print(f"{'charger':<18} {'site':<24} {'plugs':>5} {'max kW':>6}  {'state':<8} location")
    for c, s in rows:
        state = (
            "removed"
            if c.removed_at
            else "online"
            if c.online
            else c.registration_status.lower()
            if c.registration_status != "Accepted"
            else "offline"
        )
        where = ""
        if s is not None:
            where = s.address
            if s.latitude is not None and s.longitude is not None:
                where = f"{s.latitude:.5f}, {s.longitude:.5f}" + (f"  {where}" if where else "")
        print(
            f"{c.charge_point_id:<18} {(s.name if s else '-')[:24]:<24} {len(c.connectors):>5} "
            f"{_kw(c.max_power_w):>6}  {state:<8} {where}".rstrip()
        )


def cmd_show(args: argparse.Namespace, settings: Settings) -> None:
    view = in_transaction(settings, lambda s: admin.show_charger(s, args.id))
    c, site = view.charger, view.site
    if args.json:
        row = _json_row(c, site) | {
            "sessions": view.sessions,
            "active_session_ids": view.open_session_ids,
        }
        print(json.dumps(row, indent=2, ensure_ascii=False))
        return
    removed = f"  (removed {_local(c.removed_at)})" if c.removed_at else ""
    print(f"charger {c.charge_point_id}{removed}")
    print(f"  printed code   {c.public_code or '-'}")
    if site is not None:
        print(f"  site           {site.name}")
        if site.address or site.city:
            print(f"  address        {', '.join(p for p in (site.address, site.city) if p)}")
        if site.latitude is not None and site.longitude is not None:
            print(f"  location       {site.latitude:.5f}, {site.longitude:.5f}")
    else:
        print("  site           - (not on the map)")
    print(f"  registration   {c.registration_status}")
    seen = f", last seen {_local(c.last_seen_at)}" if c.last_seen_at else ""
    print(f"  connection     {'online' if c.online else 'offline'}{seen}")
    made = " ".join(p for p in (c.vendor, c.model) if p)
    if made or c.ocpp_version:
        version = f", OCPP {c.ocpp_version}" if c.ocpp_version else ""
        firmware = f", firmware {c.firmware_version}" if c.firmware_version else ""
        print(f"  hardware       {made or '-'}{version}{firmware}")
    print(f"  max power      {_kw(c.max_power_w)} kW")
    for k in c.connectors:
        print(f"  plug {k.evse_id:<9} {k.connector_type:<8} {_kw(k.max_power_w):>5} kW  {k.status}")
    active = ", ".join(str(i) for i in view.open_session_ids) or "none"
    print(f"  sessions       {view.sessions} (active: {active})")


# --------------------------------------------------------------------------- update, remove


def cmd_update(args: argparse.Namespace, settings: Settings) -> None:
    changes = ChargerChanges(
        site=args.site,
        place=_place(args),
        public_code=args.code,
        max_power_w=round(args.max_kw * 1000) if args.max_kw is not None else None,
        password=args.password,
        registration_status=args.status,
    )
    if changes == ChargerChanges():
        raise ChargerError("nothing to change: see `ladeflyt charger update --help`")

    async def work(session: AsyncSession) -> str:
        charger = await admin.update_charger(session, cli_actor(), args.id, changes)
        return charger.charge_point_id

    print(f"charger {in_transaction(settings, work)} updated")


def cmd_remove(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> admin.Removal:
        return await admin.remove_charger(session, cli_actor(), args.id, force=args.force)

    done = in_transaction(settings, work)
    if not done.kept:
        print(f"charger {done.charger} deleted (it had no sessions)")
        return
    print(f"charger {done.charger} removed; its {done.sessions} session(s) are kept")
    if done.open_sessions:
        ids = ", ".join(str(i) for i in done.open_sessions)
        print(f"still charging: session {ids} (ends when the charger reports it, or falls silent)")


# --------------------------------------------------------------------------- import


def cmd_import(args: argparse.Namespace, settings: Settings) -> None:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise ChargerError(f"cannot read {path}: {error}") from None
    rows = admin.read_csv(text)
    bar = ProgressBar("rows")
    done = 0

    def tick() -> None:
        nonlocal done
        done += 1
        bar(done, len(rows))

    async def work(sessions: async_sessionmaker[AsyncSession]) -> list[admin.Rejected]:
        actor = cli_actor()
        rejected: list[admin.Rejected] = []
        for start in range(0, len(rows), IMPORT_BATCH):
            async with transaction(sessions) as session:
                rejected += await admin.import_batch(
                    session, actor, rows[start : start + IMPORT_BATCH], tick
                )
        return rejected

    rejected = with_database(settings, work)
    for r in rejected:
        print(f"line {r.line} ({r.charge_point_id or 'no id'}): {r.reason}", file=sys.stderr)
    print(
        f"{len(rows) - len(rejected)} of {len(rows)} charger(s) imported, {len(rejected)} rejected"
    )
    if rejected:
        raise ExitCode(1)


# --------------------------------------------------------------------------- parser


def _location_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lat", type=float, default=None, help="latitude (WGS 84)")
    p.add_argument("--lon", type=float, default=None, help="longitude (WGS 84)")
    p.add_argument("--address", default=None, help="street address")


def register(sub: Any) -> None:
    """`ladeflyt charger ...` on the `ladeflyt` parser's subcommands."""
    charger = sub.add_parser("charger", help="chargers").add_subparsers(dest="c", required=True)
    p = charger.add_parser(
        "add",
        help="register a charger",
        description="Register a charger. Its location is its site's: --lat/--lon/--address "
        "place a new site (named by --site, else by the address), fill in what an existing "
        "site lacks, or must agree with it.",
    )
    p.add_argument("id", help="charge point id (last path segment of the OCPP URL)")
    p.add_argument("--site", default=None, help="site name (a new name: an operator's own site)")
    _location_arguments(p)
    p.add_argument("--password", default=None, help="Basic auth password (>= 16 bytes)")
    p.add_argument("--connectors", type=int, default=1)
    p.add_argument("--max-kw", type=float, default=22.0)
    p.add_argument("--type", default="Type2", help="connector type: Type2, CCS2, CHAdeMO")
    p.add_argument("--code", default=None, help="the code printed on it (default: the id)")
    p.set_defaults(func=cmd_add)

    p = charger.add_parser("list", help="list chargers")
    p.add_argument("--site", default=None)
    p.add_argument("--all", action="store_true", help="also removed chargers")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)

    p = charger.add_parser("show", help="one charger: site, location, plugs, sessions")
    p.add_argument("id", help="charge point id or printed code")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_show)

    p = charger.add_parser(
        "update",
        help="change a charger",
        description="Change a charger. --lat/--lon/--address move its site (every charger "
        "there); --site moves the charger to another site (a new name: a new site).",
    )
    p.add_argument("id", help="charge point id or printed code")
    p.add_argument("--site", default=None)
    _location_arguments(p)
    p.add_argument("--password", default=None, help="a new Basic auth password (>= 16 bytes)")
    p.add_argument("--max-kw", type=float, default=None, help="the charger and all its plugs")
    p.add_argument("--code", default=None, help="the code printed on it")
    p.add_argument("--status", default=None, choices=["Accepted", "Pending", "Rejected"])
    p.set_defaults(func=cmd_update)

    p = charger.add_parser(
        "remove",
        help="take a charger out of service (its sessions are kept)",
        description="A charger that has charged is kept with its sessions, marked removed: "
        "refused when it connects, gone from the map and lists, its printed code free. One "
        "that never charged is deleted. A charger that is charging now is refused unless "
        "--force.",
    )
    p.add_argument("id", help="charge point id or printed code")
    p.add_argument("--force", action="store_true", help="even while a session is running")
    p.set_defaults(func=cmd_remove)

    p = charger.add_parser(
        "import",
        help="add many chargers from a CSV file",
        description="Columns (header row; `,` or `;`): "
        + ", ".join(admin.COLUMNS)
        + ". Only charge_point_id is required. Rejected rows are listed with their line "
        "number; the others are imported. Exit code 1 if any row was rejected.",
    )
    p.add_argument("file")
    p.set_defaults(func=cmd_import)
