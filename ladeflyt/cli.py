"""`ladeflyt` — the operator CLI: serve, migrate, register chargers/users/tokens, simulate."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from typing import Any, TypeVar

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from core.chargers.service import ChargerError
from core.config import Settings, get_settings
from core.migrate import upgrade
from core.sessions.service import list_sessions
from core.users.service import UserError
from ladeflyt import (
    cli_billing,
    cli_chargers,
    cli_identity,
    cli_invoices,
    cli_orgs,
    cli_payments,
    cli_scale,
    cli_simulate,
    cli_users,
)
from ladeflyt.console import ExitCode, in_transaction
from ladeflyt.preflight import ConfigProblem, check_database

T = TypeVar("T")


class CliError(Exception):
    pass


# ------------------------------------------------------------------------- commands


def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> None:
    upgrade(settings.database_url, args.revision)
    print(f"database at {args.revision}")


def cmd_serve(args: argparse.Namespace, settings: Settings) -> None:
    from ladeflyt.observability import setup
    from ladeflyt.serve import bind_http, check_ocpp_port, serve

    setup(settings, verbose=args.verbose)

    # Ports first: a busy port is reported before anything is migrated or started.
    check_ocpp_port(settings)
    sock, served = bind_http(settings)
    try:
        if args.no_migrate:
            check_database(settings.database_url, migrated=True)
        else:
            upgrade(settings.database_url)
        asyncio.run(serve(served, sock, demo=args.demo, simulate=args.simulate))
    finally:
        sock.close()


def cmd_session_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[Any]:
        return await list_sessions(session, limit=args.limit, active_only=args.active)

    rows = in_transaction(settings, work)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": r.id,
                        "charger_id": r.charger_id,
                        "connector_id": r.connector_id,
                        "id_token": r.id_token,
                        "started_at": r.started_at.isoformat(),
                        "stopped_at": r.stopped_at.isoformat() if r.stopped_at else None,
                        "energy_wh": r.energy_wh,
                        "status": r.status,
                        "transaction_id": r.transaction_id,
                        "stop_reason": r.stop_reason,
                        "flags": r.flags,
                    }
                    for r in rows
                ],
                indent=2,
            )
        )
        return
    if not rows:
        print("no sessions")
        return
    print(
        f"{'id':>6}  {'charger':<16} {'conn':>4}  {'id token':<12} {'started (UTC)':<20} "
        f"{'kWh':>8}  status"
    )
    for r in rows:
        print(
            f"{r.id:>6}  {r.charger_id:<16} {r.connector_id or '-':>4}  {r.id_token or '-':<12} "
            f"{r.started_at:%Y-%m-%d %H:%M:%S}  {r.energy_wh / 1000:>8.3f}  {r.status}"
            + (f" [{', '.join(r.flags)}]" if r.flags else "")
        )


def cmd_demo_seed(args: argparse.Namespace, settings: Settings) -> None:
    from ladeflyt.demo import seed

    upgrade(settings.database_url)
    created = in_transaction(settings, seed)
    print("demo data seeded" if created else "demo data already present")


# ------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ladeflyt", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("serve", help="run HTTP and OCPP in one process")
    p.add_argument("--no-migrate", action="store_true", help="do not migrate the database first")
    p.add_argument("--demo", action="store_true", help="seed demo data once")
    p.add_argument(
        "--simulate",
        type=int,
        default=0,
        metavar="N",
        help="also run the demo chargers as simulated chargers (N of them, 0 = none)",
    )
    p.set_defaults(func=cmd_serve, database="connect")

    db = sub.add_parser("db", help="database").add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="apply migrations")
    p.add_argument("revision", nargs="?", default="head")
    p.set_defaults(func=cmd_db_upgrade, database="connect")

    cli_chargers.register(sub)

    cli_users.register(sub)

    session = sub.add_parser("session", help="sessions").add_subparsers(dest="s", required=True)
    p = session.add_parser("list", help="list charging sessions, newest first")
    p.add_argument("--json", action="store_true")
    p.add_argument("--active", action="store_true")
    p.add_argument("--limit", type=int, default=100)
    p.set_defaults(func=cmd_session_list)

    cli_simulate.add_parser(sub)

    demo = sub.add_parser("demo", help="demo data").add_subparsers(dest="d", required=True)
    p = demo.add_parser("seed", help="seed demo sites, chargers, users and tags once")
    p.set_defaults(func=cmd_demo_seed, database="connect")
    cli_billing.register(sub)
    cli_payments.register(sub)
    cli_invoices.register(sub)
    cli_orgs.register(sub)
    cli_scale.register(sub)
    cli_identity.register(sub)
    return parser


def _settings() -> Settings:
    """The settings from the environment; a bad value is one line naming its variable."""
    try:
        return get_settings()
    except ValidationError as error:
        first = error.errors()[0]
        name = "LADEFLYT_" + "_".join(str(p) for p in first["loc"]).upper()
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigProblem(f"{name}: {message}") from None


def _command(args: argparse.Namespace) -> int:
    settings = _settings()
    database = getattr(args, "database", "migrated")
    if database != "none":
        check_database(settings.database_url, migrated=database == "migrated")
    args.func(args, settings)
    sys.stdout.flush()  # a closed pipe shows here, where it is handled, not at exit
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("websockets").setLevel(logging.WARNING)
    try:
        return _command(args)
    except (
        CliError,
        ConfigProblem,
        ChargerError,
        UserError,
        cli_billing.TariffError,
        cli_billing.BillingError,
        cli_payments.PaymentCliError,
        cli_invoices.InvoiceCliError,
        cli_orgs.OrgError,
        cli_simulate.SimulationError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'input'}: {e['msg']}" for e in error.errors()
        )
        print(f"error: {problems}", file=sys.stderr)
        return 2
    except ExitCode as done:
        return done.code
    except BrokenPipeError:
        # The reader left (`ladeflyt session list | head -1`): stop quietly, as `ls` would.
        # What Python still holds for stdout goes nowhere instead of failing again at exit.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
