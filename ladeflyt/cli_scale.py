"""`ladeflyt gateway` and `ladeflyt api`: the processes of a scaled-out deployment.

Run any number of each side by side on PostgreSQL with LADEFLYT_REDIS_URL set (see README,
"Deployment"); `ladeflyt serve` remains the one-process setup.
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from core.config import Settings
from core.migrate import upgrade
from ladeflyt.observability import setup
from ladeflyt.preflight import check_database


def cmd_gateway(args: argparse.Namespace, settings: Settings) -> None:
    from ladeflyt.serve import check_ocpp_port, run_gateway

    _check(settings)
    setup(settings, verbose=args.verbose)
    if args.port is not None:
        settings = settings.model_copy(update={"ocpp_port": args.port})
    check_ocpp_port(settings)
    _database(args, settings)
    asyncio.run(run_gateway(settings, jobs=not args.no_jobs))


def cmd_api(args: argparse.Namespace, settings: Settings) -> None:
    from ladeflyt.serve import bind_http, serve

    _check(settings)
    setup(settings, verbose=args.verbose)
    if args.port is not None:
        settings = settings.model_copy(update={"http_port": args.port})
    sock, served = bind_http(settings)
    try:
        _database(args, settings)
        asyncio.run(serve(served, sock, gateway=False, jobs=not args.no_jobs))
    finally:
        sock.close()


def _database(args: argparse.Namespace, settings: Settings) -> None:
    if args.migrate:
        upgrade(settings.database_url)
    else:
        check_database(settings.database_url, migrated=True)


def _check(settings: Settings) -> None:
    if not settings.redis_url:
        raise SystemExit(
            "set LADEFLYT_REDIS_URL: separate gateway and API processes meet on Redis "
            "(or run everything in one process with `ladeflyt serve`)"
        )


def register(sub: Any) -> None:
    for name, func, what, port in (
        ("gateway", cmd_gateway, "run an OCPP gateway process (needs LADEFLYT_REDIS_URL)", "OCPP"),
        ("api", cmd_api, "run an HTTP API process (needs LADEFLYT_REDIS_URL)", "HTTP"),
    ):
        p = sub.add_parser(name, help=what)
        p.add_argument("--port", type=int, default=None, help=f"{port} port (default: settings)")
        p.add_argument(
            "--no-jobs",
            action="store_true",
            help="never run the background jobs here (by default one process of all runs them)",
        )
        p.add_argument("--migrate", action="store_true", help="apply migrations first")
        # The database is checked (or migrated) by the command itself: `--migrate` may be
        # given a database that has no tables yet.
        p.set_defaults(func=func, database="connect")
