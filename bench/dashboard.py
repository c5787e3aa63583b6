"""How fast the dashboard's charging history and energy pages answer with 100,000 sessions
in their period.

An organisation with one site and ten chargers gets N completed sessions (default 100,000)
spread over one month, half of them by 500 members (in 50 companies); its admin (a real
signed-in staff session) asks for the history page of that month, its next page, a
filtered page, the session detail, and the energy page summed per facility, driver and
company (chart per day and week) and its XLSX export, through the real ASGI app. Prints the
median and worst of each; the goal is under one second.

    .venv/bin/python -m bench.dashboard [--sessions 100000] [--db sqlite|postgresql]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert

from core.chargers.service import add_charger
from core.config import Settings
from core.db import transaction
from core.migrate import upgrade
from core.models import BillingProfile, ChargingSession, Membership, Role, StaffSession, User
from core.orgs import service, staff
from core.orgs.schemas import OrganisationIn, SiteIn
from core.orgs.scope import Actor
from core.timeutil import utcnow
from ladeflyt.runtime import Runtime

GOAL_S = 1.0
DRIVERS = 500
MONTH = datetime(2026, 3, 1, tzinfo=UTC)


async def arrange(rt: Runtime, sessions: int) -> tuple[str, int]:
    actor = Actor.cli("bench")
    async with transaction(rt.gateway_ctx.sessions) as s:
        org = await service.create_organisation(s, actor, OrganisationIn(name="Bench brl"))
        site = await service.create_site(s, actor, SiteIn(name="Bench", organisation_id=org.id))
        chargers = [
            (await add_charger(s, f"BENCH-{n}", site_name=site.name, connectors=2)).id
            for n in range(10)
        ]
        added = await staff.add_staff(s, actor, "board@bench.example", Role.ORG_ADMIN, org.id)
        drivers = []
        for n in range(DRIVERS):
            user = User(phone=f"+479{n:07d}", name=f"Driver {n}")
            s.add(user)
            await s.flush()
            s.add(Membership(user_id=user.id, organisation_id=org.id, group="member"))
            s.add(BillingProfile(user_id=user.id, company_name=f"Company {n % 50}"))
            drivers.append(user.id)
        token = "bench-session-token"
        s.add(
            StaffSession(
                staff_id=added.staff.id,
                token_hash=hashlib.sha256(token.encode()).hexdigest(),
                stage="active",
                expires_at=utcnow() + timedelta(hours=2),
            )
        )
    step = timedelta(days=30) / sessions
    batch: list[dict[str, object]] = []
    for n in range(sessions):
        began = MONTH + step * n
        batch.append(
            {
                "charger_id": chargers[n % 10],
                "user_id": drivers[n % DRIVERS] if n % 2 else None,
                "evse_id": 1 + n % 2,
                "connector_id": 1,
                "transaction_id": f"b{n}",
                "status": "completed",
                "started_at": began,
                "stopped_at": began + timedelta(minutes=40),
                "energy_wh": 5_000 + n % 20_000,
                "cost_ore": 1_000 + n % 5_000,
                "vat_ore": 200,
                "price_group": ("member", "public", "tenant")[n % 3],
                "payment_state": ("paid", "to_invoice", "invoiced")[n % 3],
                "flags": [],
                "offline": False,
            }
        )
        if len(batch) == 5_000 or n == sessions - 1:
            async with transaction(rt.gateway_ctx.sessions) as s:
                await s.execute(insert(ChargingSession), batch)
            batch = []
    return token, chargers[0]


async def timed(client: httpx.AsyncClient, url: str, rounds: int) -> tuple[float, float, float]:
    """Median and worst wall time, and the median CPU time of this process (the app and,
    on SQLite, the database: a figure that a loaded machine does not inflate)."""
    times, cpu = [], []
    for _ in range(rounds):
        began, began_cpu = time.perf_counter(), time.process_time()
        answer = await client.get(url)
        times.append(time.perf_counter() - began)
        cpu.append(time.process_time() - began_cpu)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    return statistics.median(times), max(times), statistics.median(cpu)


async def main(sessions: int, db: str, pg_url: str, rounds: int, keep: str | None) -> None:
    where = keep or tempfile.mkdtemp(prefix="ladeflyt-bench-dashboard-")
    url = f"sqlite+aiosqlite:///{where}/bench.db" if db == "sqlite" else pg_url
    settings = Settings(database_url=url, secret_file=f"{where}/secret")
    rt = Runtime.build(settings)
    marker = Path(where) / f"arranged-{db}"
    if keep and marker.exists():
        token, charger_id = marker.read_text().split()
    else:
        upgrade(url)
        began = time.perf_counter()
        token, first_charger = await arrange(rt, sessions)
        charger_id = str(first_charger)
        print(f"arranged {sessions} sessions in {time.perf_counter() - began:.1f} s ({db})")
        if keep:
            marker.write_text(f"{token} {charger_id}")
    app = rt.http_app()
    cookies = {settings.staff_cookie_name: token}
    pages = {
        "history, the month": "/dashboard/history?from=2026-03-01&to=2026-03-31",
        "history, page 2": "/dashboard/history?from=2026-03-01&to=2026-03-31&cursor=1",
        "history, one charger, paid": (
            f"/dashboard/history?from=2026-03-01&to=2026-03-31&charger={charger_id}&payment=paid"
        ),
        "session detail": "/dashboard/history/5000",
        "energy, facility per day": "/dashboard/energy?from=2026-03-01&to=2026-03-31",
        "energy, per driver per day": (
            "/dashboard/energy?from=2026-03-01&to=2026-03-31&by=driver&step=day"
        ),
        "energy, per company per week": (
            "/dashboard/energy?from=2026-03-01&to=2026-03-31&by=company&step=week"
        ),
        "energy, per driver, XLSX": (
            "/dashboard/energy.xlsx?from=2026-03-01&to=2026-03-31&by=driver"
        ),
    }
    worst = 0.0
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://bench", cookies=cookies
    ) as client:
        first = await client.get(pages["history, the month"])
        assert first.status_code == 200, first.text[:300]
        cursor = first.text.split("cursor=", 1)[1].split('"', 1)[0].split("&", 1)[0]
        pages["history, page 2"] = pages["history, page 2"].replace("cursor=1", f"cursor={cursor}")
        for name, path in pages.items():
            median, most, cpu = await timed(client, path, rounds)
            worst = max(worst, median)
            print(
                f"{name:<32} median {median * 1000:7.1f} ms   worst {most * 1000:7.1f} ms"
                f"   cpu {cpu * 1000:7.1f} ms"
            )
    print(f"goal: under {GOAL_S:.0f} s: {'met' if worst < GOAL_S else 'NOT met'}")
    await rt.engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--keep", metavar="DIR", help="keep the arranged database in DIR and reuse it next time"
    )
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.db, args.pg_url, args.rounds, args.keep))
