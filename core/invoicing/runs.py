"""Invoice runs that reach people: issue a month's invoices, queue each one for delivery on
its customer's channel, and record the run (progress and summary) in `invoice_runs`.

Manual runs (`ladeflyt invoices run`) and scheduled runs (core.invoicing.schedule) both
come here. Issuing and queueing happen in one transaction: an invoice never exists without
its delivery, and a failed run leaves nothing behind.
"""

from __future__ import annotations

import logging
import os
import socket
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.schemas import InvoiceRunResult
from core.billing.service import run_invoices
from core.invoicing.outbox import queue_invoice
from core.models import InvoiceRun
from core.timeutil import utcnow

log = logging.getLogger(__name__)
Progress = Callable[[int, int], None]


def owner() -> str:
    """Who runs it: host and process (so two `serve` processes are told apart)."""
    return f"{socket.gethostname()}:{os.getpid()}"[:80]


@dataclass
class RunOutcome:
    result: InvoiceRunResult
    run_id: int
    channels: dict[str, int] = field(default_factory=dict)  # deliveries queued per channel

    @property
    def deliveries(self) -> int:
        return sum(self.channels.values())

    def summary(self) -> dict[str, Any]:
        r = self.result
        return {
            "period": r.period,
            "invoices": len(r.invoices),
            "sessions": r.sessions_invoiced,
            "total_ore": sum(i.total_ore for i in r.invoices),
            "deliveries": self.channels,
            "unpriced_sessions": r.unpriced_session_ids,
            "marked_overdue": r.marked_overdue,
        }


def new_run(period: str, *, trigger: str = "manual", scope: str = "global") -> InvoiceRun:
    """The row of a run starting now in this process."""
    now = utcnow()
    return InvoiceRun(
        scope=scope,
        period=period.strip(),
        trigger=trigger,
        status="running",
        owner=owner(),
        started_at=now,
        heartbeat_at=now,
    )


async def issue_and_queue(
    session: AsyncSession,
    period: str,
    *,
    due_days: int | None = None,
    issue_date: date | None = None,
    progress: Progress | None = None,
    run: InvoiceRun | None = None,
    trigger: str = "manual",
    scope: str = "global",
) -> RunOutcome:
    """Run `period` and queue a delivery for every new invoice, in the caller's transaction.
    `run` is the claimed row of a scheduled run; a manual run gets a row of its own."""
    if run is None:
        run = new_run(period, trigger=trigger, scope=scope)
        session.add(run)
        await session.flush()

    def tick(done: int, total: int) -> None:
        run.customers = total
        if progress is not None:
            progress(done, total)

    result = await run_invoices(
        session, period, due_days=due_days, issue_date=issue_date, progress=tick
    )
    channels: Counter[str] = Counter()
    for invoice in result.invoices:
        delivery, decision = await queue_invoice(session, invoice.id)
        if delivery is not None:
            channels[decision.channel] += 1
    outcome = RunOutcome(result, run.id, dict(channels))
    run.status = "done"
    run.finished_at = utcnow()
    run.heartbeat_at = run.finished_at
    run.invoices = len(result.invoices)
    run.sessions = result.sessions_invoiced
    run.deliveries = outcome.deliveries
    run.total_ore = sum(i.total_ore for i in result.invoices)
    run.summary = outcome.summary()
    await session.flush()
    return outcome
