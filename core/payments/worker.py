"""Background work for payments: settle every session as it stops, stop sessions at their
hold, handle stored webhooks, reconcile with the providers and move stuck sessions on
(core.payments.jobs), check reconnecting chargers' sessions, send invoice reminders."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Coroutine
from typing import Any

from sqlalchemy import select

from core.bus import Event, EventBus
from core.models import Payment
from core.payments import guest, invoices, webhooks
from core.payments.jobs import reconcile
from core.payments.service import Payments, check_hold
from core.payments.settlement import settle_session
from core.ports import PaymentProviderUnavailable, PaymentState
from core.sessions import lifecycle

log = logging.getLogger(__name__)


class PaymentWorker:
    def __init__(
        self,
        ctx: Payments,
        events: EventBus,
        kick_sms: Callable[[], None],
        *,
        interval_s: float = 30.0,
        reminder_every_s: float = 3600.0,
    ) -> None:
        self.ctx = ctx
        self._events = events
        self._kick_sms = kick_sms
        self._interval = interval_s
        self._reminder_every = reminder_every_s
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        # Sessions paid from a hold: only those need hold checks as they meter.
        self._held: dict[int, bool] = {}

    def kick(self) -> None:
        """A webhook was stored: handle it now rather than at the next tick."""
        self._wake.set()

    async def start(self) -> None:
        ready = asyncio.Event()
        self._tasks = [
            asyncio.create_task(self._listen(ready), name="payments-events"),
            asyncio.create_task(self._loop(), name="payments-jobs"),
        ]
        await ready.wait()

    async def stop(self) -> None:
        for task in [*self._tasks, *self._background]:
            task.cancel()
        for task in [*self._tasks, *self._background]:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._background.clear()

    async def _has_hold(self, session_id: int) -> bool:
        known = self._held.get(session_id)
        if known is None:
            async with self.ctx.sessions() as session:
                known = (
                    await session.execute(
                        select(Payment.id).where(
                            Payment.session_id == session_id,
                            Payment.status == PaymentState.AUTHORIZED.value,
                        )
                    )
                ).first() is not None
            if len(self._held) > 100_000:
                self._held.clear()
            self._held[session_id] = known
        return known

    async def on_event(self, event: Event) -> None:
        if event.topic.startswith("charger:") and event.kind == "online":
            cp_id = event.topic.split(":", 1)[1]
            self._spawn(lifecycle.reconcile_charger(self.ctx, cp_id), f"reconcile-{cp_id}")
            return
        if not event.topic.startswith("session:"):
            return
        session_id = int(event.data["session_id"])
        if event.kind == "session_stopped":
            self._held.pop(session_id, None)
            # Every finished session is settled, whoever started it and however.
            await settle_session(self.ctx, session_id)
            if await guest.send_receipt(self.ctx, session_id):
                self._kick_sms()
        elif event.kind == "session_updated" and await self._has_hold(session_id):
            await check_hold(self.ctx, session_id)

    def _spawn(self, work: Coroutine[Any, Any, Any], name: str) -> None:
        """Talk to a charger without holding up the event stream (commands can take 30 s)."""
        task = asyncio.create_task(work, name=name)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("%s failed: %s", task.get_name(), task.exception())

    async def _listen(self, ready: asyncio.Event) -> None:
        # Sessions, and chargers coming online; updates arrive for watched sessions only.
        kinds = frozenset({"online", "session_stopped", "session_updated"})
        async with self._events.subscribe("*", kinds) as stream:
            ready.set()
            async for event in stream:
                try:
                    await self.on_event(event)
                except PaymentProviderUnavailable as error:
                    log.warning("payment provider unavailable (%s); reconciliation retries", error)
                except Exception:
                    log.exception("payment follow-up of %s failed", event)

    async def run_jobs(self, *, reminders: bool) -> None:
        await webhooks.process_pending(self.ctx)
        await reconcile(self.ctx)
        if reminders and await invoices.send_reminders(self.ctx):
            self._kick_sms()

    async def _loop(self) -> None:
        loop = asyncio.get_running_loop()
        last_reminders = 0.0
        while True:
            due = loop.time() - last_reminders >= self._reminder_every
            # Cleared before the round, not after: a webhook stored while the round runs
            # sets it again and is handled right after, not at the next tick.
            self._wake.clear()
            try:
                await self.run_jobs(reminders=due)
            except Exception:
                log.exception("payment jobs failed")
            if due:
                last_reminders = loop.time()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
