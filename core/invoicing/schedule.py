"""Automatic invoicing: a schedule per organisation (now one "global" schedule, keyed by a
scope so that "org:<id>" schedules fit in once organisations exist), run inside
`ladeflyt serve` exactly once, also with several `serve` processes.

Every process looks at the schedules each `invoice_schedule_interval_s`. When a schedule is
due (its day of the month and hour, Oslo time, have come) for the previous month, a process
claims the run by inserting its row with the claim key "<scope>:<period>"; the key is
unique, so exactly one INSERT succeeds, on SQLite and PostgreSQL alike. The winner issues
the invoices and queues their deliveries in one transaction and marks the run done. A
run whose process died (still "running", or "failed", `invoice_run_stale_s` after its
last heartbeat) is taken over with a compare-and-set UPDATE; as issuing is idempotent
and all-or-nothing, the takeover invoices exactly what the dead run did not.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.config import Settings
from core.db import transaction
from core.invoicing.runs import RunOutcome, issue_and_queue, owner
from core.models import InvoiceRun, InvoiceSchedule
from core.timeutil import OSLO, utcnow

log = logging.getLogger(__name__)
GLOBAL = "global"


class ScheduleError(ValueError):
    pass


def scope_of(organisation_id: int | None) -> str:
    return GLOBAL if organisation_id is None else f"org:{organisation_id}"


@dataclass(frozen=True)
class ScheduleView:
    scope: str
    organisation_id: int | None
    day_of_month: int
    hour: int
    due_days: int | None
    enabled: bool

    def describe(self) -> str:
        state = "" if self.enabled else " (disabled)"
        due = f", due in {self.due_days} days" if self.due_days is not None else ""
        return (
            f"{self.scope}: monthly on day {self.day_of_month} at {self.hour:02d}:00 "
            f"(Oslo) for the previous month{due}{state}"
        )


def _view(s: InvoiceSchedule) -> ScheduleView:
    return ScheduleView(s.scope, s.organisation_id, s.day_of_month, s.hour, s.due_days, s.enabled)


async def set_schedule(
    session: AsyncSession,
    *,
    organisation_id: int | None = None,
    day_of_month: int = 1,
    hour: int = 6,
    due_days: int | None = None,
    enabled: bool = True,
) -> ScheduleView:
    if not 1 <= day_of_month <= 28:
        raise ScheduleError("the day of the month is 1-28 (every month has it)")
    if not 0 <= hour <= 23:
        raise ScheduleError("the hour is 0-23")
    if due_days is not None and not 0 <= due_days <= 90:
        raise ScheduleError("due days are 0-90")
    scope = scope_of(organisation_id)
    row = (
        await session.execute(select(InvoiceSchedule).where(InvoiceSchedule.scope == scope))
    ).scalar_one_or_none()
    if row is None:
        row = InvoiceSchedule(scope=scope, organisation_id=organisation_id)
        session.add(row)
    row.day_of_month, row.hour, row.due_days, row.enabled = day_of_month, hour, due_days, enabled
    row.updated_at = utcnow()
    await session.flush()
    return _view(row)


async def schedules(session: AsyncSession) -> list[ScheduleView]:
    rows = await session.execute(select(InvoiceSchedule).order_by(InvoiceSchedule.scope))
    return [_view(s) for s in rows.scalars()]


def due_period(s: ScheduleView, now: datetime) -> str | None:
    """The period to invoice if this month's run time has come, else None."""
    local = now.astimezone(OSLO)
    run_at = datetime(local.year, local.month, s.day_of_month, s.hour, tzinfo=OSLO)
    if local < run_at:
        return None
    year, month = (local.year - 1, 12) if local.month == 1 else (local.year, local.month - 1)
    return f"{year:04d}-{month:02d}"


def _insert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(InvoiceRun).on_conflict_do_nothing(index_elements=["claim_key"])
    return sqlite.insert(InvoiceRun).on_conflict_do_nothing(index_elements=["claim_key"])


async def claim(
    session: AsyncSession, scope: str, period: str, now: datetime, stale_s: int, me: str
) -> int | None:
    """Claim the scheduled run of `scope` for `period`: its row id, or None if another
    process has it (or it is done)."""
    key = f"{scope}:{period}"
    inserted = (
        await session.execute(
            _insert(session)
            .values(
                claim_key=key,
                scope=scope,
                period=period,
                trigger="schedule",
                status="running",
                owner=me,
                started_at=now,
                heartbeat_at=now,
                customers=0,
                invoices=0,
                sessions=0,
                deliveries=0,
                total_ore=0,
                summary={},
            )
            .returning(InvoiceRun.id)
        )
    ).first()
    if inserted is not None:
        return int(inserted[0])
    # Taken: take it over only if its process is gone (no heartbeat for stale_s).
    taken = await session.execute(
        update(InvoiceRun)
        .where(
            InvoiceRun.claim_key == key,
            InvoiceRun.status.in_(("running", "failed")),
            InvoiceRun.heartbeat_at < now - timedelta(seconds=stale_s),
        )
        .values(status="running", owner=me, heartbeat_at=now, error=None)
        .returning(InvoiceRun.id)
    )
    row = taken.first()
    return int(row[0]) if row else None


class InvoiceScheduler:
    """Runs due schedules inside `serve`; `tick()` is one look (tests call it directly)."""

    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        on_queued: Callable[[], None] | None = None,
        me: str | None = None,
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self._on_queued = on_queued
        self.me = me or owner()
        self._task: asyncio.Task[None] | None = None

    async def tick(self, now: datetime | None = None) -> list[RunOutcome]:
        now = now or utcnow()
        async with self._sessions() as session:
            plans = [s for s in await schedules(session) if s.enabled]
        log.debug("invoice schedules checked by %s: %d enabled", self.me, len(plans))
        outcomes = []
        for plan in plans:
            if plan.organisation_id is not None:
                # Until sessions belong to organisations (another branch), an organisation's
                # run could not tell its customers apart: the global schedule invoices all.
                continue
            period = due_period(plan, now)
            if period is None:
                continue
            async with transaction(self._sessions) as session:
                run_id = await claim(
                    session, plan.scope, period, now, self.settings.invoice_run_stale_s, self.me
                )
            if run_id is None:
                continue
            outcome = await self._run(plan, period, run_id)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    async def _run(self, plan: ScheduleView, period: str, run_id: int) -> RunOutcome | None:
        log.info("invoice run %s %s started by %s", plan.scope, period, self.me)

        def progress(done: int, total: int) -> None:
            if total and (done == total or done % 50 == 0):
                log.info("invoice run %s %s: %d/%d customers", plan.scope, period, done, total)

        try:
            async with transaction(self._sessions) as session:
                run = await session.get_one(InvoiceRun, run_id)
                outcome = await issue_and_queue(
                    session,
                    period,
                    due_days=plan.due_days,
                    progress=progress,
                    run=run,
                    trigger="schedule",
                    scope=plan.scope,
                )
        except Exception as error:
            log.exception("invoice run %s %s failed", plan.scope, period)
            async with transaction(self._sessions) as session:
                run = await session.get_one(InvoiceRun, run_id)
                run.status, run.error = "failed", f"{type(error).__name__}: {error}"[:500]
                run.finished_at = run.heartbeat_at = utcnow()
            return None
        s = outcome.summary()
        log.info(
            "invoice run %s %s done: %d invoice(s), %d session(s), %.2f NOK, deliveries %s",
            plan.scope,
            period,
            s["invoices"],
            s["sessions"],
            s["total_ore"] / 100,
            s["deliveries"] or "none",
        )
        if outcome.deliveries and self._on_queued is not None:
            self._on_queued()
        return outcome

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="invoice-scheduler")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.tick()
            except Exception:
                log.exception("invoice scheduler round failed")
            await asyncio.sleep(self.settings.invoice_schedule_interval_s)


async def recent_runs(session: AsyncSession, limit: int = 20) -> list[InvoiceRun]:
    rows = await session.execute(select(InvoiceRun).order_by(InvoiceRun.id.desc()).limit(limit))
    return list(rows.scalars())
