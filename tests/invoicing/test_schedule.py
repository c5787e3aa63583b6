"""Automatic invoicing runs exactly once per schedule and period, also with several
processes: two schedulers in one test, and two real `ladeflyt serve` processes."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.config import Settings
from core.db import create_engine, session_factory
from core.invoicing import schedule
from core.invoicing.schedule import InvoiceScheduler, ScheduleView, due_period
from core.models import Invoice, InvoiceRun
from core.timeutil import OSLO
from tests.billing.scenario import march
from tests.invoicing.conftest import SELLER_ENV
from tests.invoicing.smtp import free_port
from tests.tariffs.builders import (
    charged,
    database,
    driver,
    member_prices,
    oslo,
    place,
    transaction,
)

PLAN = ScheduleView("global", None, day_of_month=1, hour=6, due_days=None, enabled=True)


@pytest.mark.parametrize(
    ("now", "period"),
    [
        (datetime(2026, 4, 1, 5, 59, tzinfo=OSLO), None),
        (datetime(2026, 4, 1, 6, 0, tzinfo=OSLO), "2026-03"),
        (datetime(2026, 4, 20, 23, 0, tzinfo=OSLO), "2026-03"),
        (datetime(2027, 1, 1, 6, 30, tzinfo=OSLO), "2026-12"),
        # 04:30 UTC is 06:30 in Oslo on 1 April (summer time): due.
        (datetime(2026, 4, 1, 4, 30, tzinfo=UTC), "2026-03"),
        (datetime(2026, 4, 1, 3, 30, tzinfo=UTC), None),
    ],
)
def test_a_schedule_is_due_from_its_day_and_hour_in_oslo_for_the_previous_month(now, period):
    assert due_period(PLAN, now) == period


async def test_schedules_are_validated_and_keyed_so_organisations_fit_in(db_url):
    async with database(db_url) as db, transaction(db) as s:
        view = await schedule.set_schedule(s, day_of_month=2, hour=7, due_days=10)
        assert view.describe() == (
            "global: monthly on day 2 at 07:00 (Oslo) for the previous month, due in 10 days"
        )
        org = await schedule.set_schedule(s, organisation_id=12, enabled=False)
        assert org.scope == "org:12" and not org.enabled
        assert [v.scope for v in await schedule.schedules(s)] == ["global", "org:12"]
        for wrong in ({"day_of_month": 29}, {"hour": 24}, {"due_days": 91}):
            with pytest.raises(schedule.ScheduleError):
                await schedule.set_schedule(s, **wrong)


async def test_two_schedulers_at_the_same_moment_invoice_the_month_once(db_url, seller):
    settings = Settings(database_url=db_url)
    async with database(db_url) as db, transaction(db) as s:
        await march(s)
        await schedule.set_schedule(s, day_of_month=1, hour=6)
    engines = [create_engine(db_url), create_engine(db_url)]
    try:
        a, b = (
            InvoiceScheduler(settings, session_factory(e), me=name)
            for e, name in zip(engines, ("process-a", "process-b"), strict=True)
        )
        now = datetime(2026, 4, 1, 6, 5, tzinfo=OSLO)
        outcomes = await asyncio.gather(a.tick(now), b.tick(now))
        assert sorted(len(o) for o in outcomes) == [0, 1]
        assert (await a.tick(now + timedelta(hours=1)), await b.tick(now)) == ([], [])
    finally:
        for engine in engines:
            await engine.dispose()
    async with database(db_url) as db, transaction(db) as s:
        (run,) = (await s.execute(select(InvoiceRun))).scalars().all()
        assert (run.claim_key, run.status, run.trigger) == ("global:2026-03", "done", "schedule")
        assert run.owner in ("process-a", "process-b")
        assert (run.invoices, run.sessions, run.deliveries, run.customers) == (2, 5, 2, 3)
        assert run.summary["total_ore"] == 8100
        assert (await s.execute(select(func.count(Invoice.id)))).scalar() == 2


async def test_a_run_whose_process_died_is_taken_over_and_a_live_one_is_not(db_url, seller):
    settings = Settings(database_url=db_url, invoice_run_stale_s=600)
    now = datetime(2026, 4, 1, 7, 0, tzinfo=OSLO)
    async with database(db_url) as db:
        async with transaction(db) as s:
            await march(s)
            await schedule.set_schedule(s)
            s.add(
                InvoiceRun(
                    claim_key="global:2026-03",
                    period="2026-03",
                    trigger="schedule",
                    status="running",
                    owner="alive",
                    heartbeat_at=now - timedelta(seconds=60),
                )
            )
        scheduler = InvoiceScheduler(settings, db, me="successor")
        assert await scheduler.tick(now) == []
        async with transaction(db) as s:
            run = (await s.execute(select(InvoiceRun))).scalar_one()
            run.owner, run.heartbeat_at = "dead", now - timedelta(hours=2)
        (outcome,) = await scheduler.tick(now)
        assert len(outcome.result.invoices) == 2
        async with transaction(db) as s:
            run = (await s.execute(select(InvoiceRun))).scalar_one()
            assert (run.owner, run.status, run.invoices) == ("successor", "done", 2)


# --------------------------------------------------------------------------- two processes


def _previous_month(today: date) -> tuple[int, int]:
    return (today.year - 1, 12) if today.month == 1 else (today.year, today.month - 1)


async def _last_month_of_charging(db_url: str) -> None:
    year, month = _previous_month(datetime.now(OSLO).date())
    async with database(db_url) as db, transaction(db) as s:
        where = await place(s)
        await member_prices(s, where)
        for n, phone in enumerate(("91000001", "91000007", "91000008"), start=1):
            user = await driver(s, phone, "member", name=f"Beboer {n}", invoice=True)
            user.email = f"beboer{n}@example.no"
            await charged(s, where, user, oslo(year, month, 2 + n, 12, 0), 60, 10)
        await schedule.set_schedule(s, day_of_month=1, hour=0)


def _serve(tmp_path: Path, name: str, db_url: str, smtp_url: str) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **{f"LADEFLYT_BILLING_{k}": v for k, v in SELLER_ENV.items()},
        "LADEFLYT_DATABASE_URL": db_url,
        "LADEFLYT_HTTP_PORT": str(free_port()),
        "LADEFLYT_OCPP_PORT": str(free_port()),
        "LADEFLYT_JWT_SECRET": "two-processes-test",
        "LADEFLYT_INVOICE_SCHEDULE_INTERVAL_S": "0.3",
        "LADEFLYT_DELIVERY_INTERVAL_S": "0.3",
        "LADEFLYT_DELIVERY_DIR": str(tmp_path / "delivery"),
        "LADEFLYT_SMTP_URL": smtp_url,
        "LADEFLYT_MAIL_FROM": "faktura@solsiden.example",
    }
    log = open(tmp_path / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        [sys.executable, "-m", "ladeflyt.cli", "-v", "serve", "--no-migrate"],
        env=env,
        cwd=tmp_path,
        stdout=log,
        stderr=subprocess.STDOUT,
    )


async def _until(check, what: str, timeout: float = 120.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def test_two_serve_processes_run_the_schedule_once_and_deliver_once(
    db_url, tmp_path, seller, smtp
):
    if db_url.startswith("sqlite"):
        pytest.skip("several `serve` processes share PostgreSQL; SQLite is for one process")
    inbox, smtp_url = smtp
    await _last_month_of_charging(db_url)
    procs = [_serve(tmp_path, name, db_url, smtp_url) for name in ("one", "two")]
    logs = [tmp_path / "one.log", tmp_path / "two.log"]
    try:

        async def both_checked_twice() -> bool:
            for proc, path in zip(procs, logs, strict=True):
                assert proc.poll() is None, path.read_text(errors="replace")[-3000:]
            return all(p.read_text(errors="replace").count("invoice schedules checked") >= 2
                       for p in logs)  # fmt: skip

        await _until(both_checked_twice, "both processes to look at the schedule")

        async def delivered() -> bool:
            return len(inbox.messages) >= 3

        await _until(delivered, "the invoices to be e-mailed")
        await _until(both_checked_twice, "another look by both")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            proc.wait(timeout=30)
    text = [p.read_text(errors="replace") for p in logs]
    started = [t.count("started by") for t in text]
    assert sorted(started) == [0, 1], text
    async with database(db_url) as db, transaction(db) as s:
        (run,) = (await s.execute(select(InvoiceRun))).scalars().all()
        assert run.status == "done" and run.invoices == 3 and run.deliveries == 3
        assert (await s.execute(select(func.count(Invoice.id)))).scalar() == 3
    assert sorted(m["To"] for m in inbox.messages) == [
        "beboer1@example.no",
        "beboer2@example.no",
        "beboer3@example.no",
    ]
    assert all(p.returncode == 0 for p in procs)
