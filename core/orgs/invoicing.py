"""Invoicing as the operator's staff see it (dashboard page 9): the schedule, a preview of a
month's invoices, runs with progress, invoices marked paid or credited, exports. The work
is core.billing's and core.invoicing's (as `ladeflyt invoices ...`); this adds who may
(operator staff read; the operator's admins run, credit and schedule; support may mark an
invoice paid) and the audit.

The preview is the real run inside a savepoint that is rolled back: the same pricing,
credits and numbers as the run would give, nothing kept. A run is started in the
background with its row committed first ("running", seen by every process); its progress
is reported in this process as it goes; issuing and queueing are one transaction.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.billing import credit as credits
from core.billing import service as billing
from core.billing.errors import BillingError
from core.billing.periods import unfinished
from core.billing.schemas import CreditNoteView, InvoiceDetail, InvoiceRunResult, InvoiceSummary
from core.db import transaction
from core.invoicing import schedule
from core.invoicing.outbox import queue_credit_note
from core.invoicing.runs import issue_and_queue, new_run
from core.models import InvoiceRun
from core.orgs.audit import record
from core.orgs.errors import Forbidden, Invalid, NotFound
from core.orgs.history import month as canonical_month
from core.orgs.scope import Access, Actor
from core.timeutil import OSLO, utcnow

log = logging.getLogger(__name__)
STATUSES = ("open", "overdue", "paid", "credited")


def require(actor: Actor, access: Access) -> None:
    if not actor.everywhere(access):
        raise Forbidden("invoicing is the operator's: your role does not allow this")


async def invoices(
    session: AsyncSession, actor: Actor, *, period: str | None, status: str | None
) -> list[InvoiceSummary]:
    require(actor, Access.READ)
    return await billing.list_all_invoices(
        session,
        period=canonical_month(period) if period else None,
        status=status if status in STATUSES else None,
    )


async def invoice(session: AsyncSession, actor: Actor, invoice_id: int) -> InvoiceDetail:
    require(actor, Access.READ)
    found = await billing.get_invoice(session, invoice_id, None)
    if found is None:
        raise NotFound(f"no invoice {invoice_id}")
    return found


async def preview(
    session: AsyncSession, actor: Actor, period: str, due_days: int | None = None
) -> InvoiceRunResult:
    """What a run of `period` would issue now (nothing is kept)."""
    require(actor, Access.READ)
    month = canonical_month(period)
    savepoint = await session.begin_nested()
    try:
        return await billing.run_invoices(session, month, due_days=due_days)
    except BillingError as error:
        raise Invalid(str(error)) from None
    finally:
        await savepoint.rollback()


async def mark_paid(
    session: AsyncSession, actor: Actor, invoice_id: int, paid_on: date | None = None
) -> InvoiceSummary:
    require(actor, Access.SUPPORT)
    before = await invoice(session, actor, invoice_id)
    at = datetime.combine(paid_on, time(12), tzinfo=OSLO) if paid_on else None
    try:
        paid = await billing.mark_paid(session, invoice_id, at)
    except BillingError as error:
        raise Invalid(str(error)) from None
    await record(
        session,
        actor,
        "invoice.paid",
        "invoice",
        invoice_id,
        None,
        before={"status": before.summary.status},
        after={"status": paid.status, "paid_at": str(paid.paid_at)},
    )
    return paid


async def credit(
    session: AsyncSession,
    actor: Actor,
    invoice_id: int,
    reason: str,
    line_ids: list[int] | None = None,
) -> CreditNoteView:
    """A credit note for the lines (default: all not credited yet), sent to the customer
    like the invoice."""
    require(actor, Access.OPERATOR)
    await invoice(session, actor, invoice_id)
    try:
        note = await credits.credit_invoice(session, invoice_id, reason, line_ids=line_ids)
    except BillingError as error:
        raise Invalid(str(error)) from None
    await queue_credit_note(session, note.id)
    await record(
        session,
        actor,
        "invoice.credit",
        "invoice",
        invoice_id,
        None,
        after={"credit_note": note.number, "total_ore": note.total_ore, "reason": note.reason},
    )
    return note


async def set_schedule(
    session: AsyncSession,
    actor: Actor,
    *,
    day_of_month: int,
    hour: int,
    due_days: int | None,
    enabled: bool,
) -> schedule.ScheduleView:
    require(actor, Access.OPERATOR)
    try:
        view = await schedule.set_schedule(
            session, day_of_month=day_of_month, hour=hour, due_days=due_days, enabled=enabled
        )
    except schedule.ScheduleError as error:
        raise Invalid(str(error)) from None
    await record(
        session,
        actor,
        "invoice_schedule.set",
        "invoice_schedule",
        view.scope,
        None,
        after={"day": day_of_month, "hour": hour, "due_days": due_days, "enabled": enabled},
    )
    return view


async def overview(session: AsyncSession, actor: Actor) -> tuple[list[Any], list[InvoiceRun]]:
    require(actor, Access.READ)
    return await schedule.schedules(session), await schedule.recent_runs(session)


# --------------------------------------------------------------------------- runs


@dataclass
class RunState:
    run_id: int
    period: str
    status: str = "running"  # running | done | failed
    done: int = 0
    total: int = 0
    error: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)


class Runs:
    """Manual runs started here, and their progress while they go."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._states: dict[int, RunState] = {}
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(
        self,
        actor: Actor,
        period: str,
        *,
        due_days: int | None = None,
        force: bool = False,
    ) -> int:
        require(actor, Access.OPERATOR)
        month = canonical_month(period)
        ends = None if force else unfinished(month, utcnow())
        if ends is not None:
            raise Invalid(
                f"{month} is not over until {ends}: sessions may still come in "
                "(invoice it now anyway to give later sessions an invoice of their own)"
            )
        if due_days is not None and not 0 <= due_days <= 365:
            raise Invalid("due days are 0-365")
        async with transaction(self._sessions) as session:
            run = new_run(month, trigger="manual", scope=schedule.GLOBAL)
            session.add(run)
            await session.flush()
            run_id = run.id
            await record(
                session,
                actor,
                "invoices.run",
                "invoice_run",
                run_id,
                None,
                after={"period": month, "due_days": due_days, "force": force},
            )
        state = RunState(run_id, month)
        self._states[run_id] = state
        task = asyncio.create_task(self._run(state, due_days), name=f"invoice-run-{run_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return run_id

    async def _run(self, state: RunState, due_days: int | None) -> None:
        def progress(done: int, total: int) -> None:
            state.done, state.total = done, total

        try:
            async with transaction(self._sessions) as session:
                run = await session.get_one(InvoiceRun, state.run_id)
                outcome = await issue_and_queue(
                    session, state.period, due_days=due_days, progress=progress, run=run
                )
            state.summary = outcome.summary()
            state.status = "done"
        except Exception as error:  # a failed run is reported on its page, not lost
            log.exception("invoice run %s failed", state.run_id)
            state.status, state.error = "failed", str(error)[:500]
            async with transaction(self._sessions) as session:
                await session.execute(
                    update(InvoiceRun)
                    .where(InvoiceRun.id == state.run_id)
                    .values(status="failed", error=state.error, finished_at=utcnow())
                )

    async def state(self, session: AsyncSession, actor: Actor, run_id: int) -> RunState:
        """The run's state: live if it runs in this process, else as stored."""
        require(actor, Access.READ)
        live = self._states.get(run_id)
        if live is not None:
            return live
        run = await session.get(InvoiceRun, run_id)
        if run is None:
            raise NotFound(f"no invoice run {run_id}")
        return RunState(
            run.id,
            run.period,
            run.status,
            run.customers if run.status == "done" else 0,
            run.customers,
            run.error,
            dict(run.summary or {}),
        )

    async def wait(self) -> None:
        """Until every run started here has finished (shutdown, tests)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
