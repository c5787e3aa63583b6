"""How fast the dashboard's charging history answers with 100,000 sessions in its period.

An organisation with one site and ten chargers gets N completed sessions (default 100,000)
spread over one month; its admin (a real signed-in staff session) asks for the history page
of that month, its next page, a filtered page and the session detail, through the real ASGI
app. Prints the median and worst of each; the goal is under one second.

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

import httpx
from sqlalchemy import insert

from core.chargers.service import add_charger
from core.config import Settings
from core.db import transaction
from core.migrate import upgrade
from core.models import ChargingSession, Role, StaffSession
from core.orgs import service, staff
from core.orgs.schemas import OrganisationIn, SiteIn
from core.orgs.scope import Actor
from core.timeutil import utcnow
from ladeflyt.runtime import Runtime

GOAL_S = 1.0
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
    batch = []
    for n in range(sessions):
        began = MONTH + step * n
        batch.append(
            {
                "charger_id": chargers[n % 10],
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


async def timed(client: httpx.AsyncClient, url: str, rounds: int) -> tuple[float, float]:
    times = []
    for _ in range(rounds):
        began = time.perf_counter()
        answer = await client.get(url)
        times.append(time.perf_counter() - began)
        assert answer.status_code == 200, (url, answer.status_code, answer.text[:300])
    return statistics.median(times), max(times)


async def main(sessions: int, db: str, pg_url: str, rounds: int) -> None:
    where = tempfile.mkdtemp(prefix="ladeflyt-bench-dashboard-")
    url = f"sqlite+aiosqlite:///{where}/bench.db" if db == "sqlite" else pg_url
    upgrade(url)
    settings = Settings(database_url=url, secret_file=f"{where}/secret")
    rt = Runtime.build(settings)
    began = time.perf_counter()
    token, charger_id = await arrange(rt, sessions)
    print(f"arranged {sessions} sessions in {time.perf_counter() - began:.1f} s ({db})")
    app = rt.http_app()
    cookies = {settings.staff_cookie_name: token}
    pages = {
        "history, the month": "/dashboard/history?from=2026-03-01&to=2026-03-31",
        "history, page 2": "/dashboard/history?from=2026-03-01&to=2026-03-31&cursor=1",
        "history, one charger, paid": (
            f"/dashboard/history?from=2026-03-01&to=2026-03-31&charger={charger_id}&payment=paid"
        ),
        "session detail": "/dashboard/history/5000",
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
            median, most = await timed(client, path, rounds)
            worst = max(worst, median)
            print(f"{name:<32} median {median * 1000:7.1f} ms   worst {most * 1000:7.1f} ms")
    print(f"goal: under {GOAL_S:.0f} s: {'met' if worst < GOAL_S else 'NOT met'}")
    await rt.engine.dispose()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.db, args.pg_url, args.rounds))
