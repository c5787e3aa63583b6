"""Background work for payments: settle sessions as they stop, stop sessions at their hold,
handle stored webhooks, reconcile with the providers, send invoice reminders."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from sqlalchemy import select

from core.bus import Event, EventBus
from core.models import Payment
from core.payments import guest, invoices, webhooks
from core.payments.service import Payments, check_hold, reconcile, settle_session
from core.ports import PaymentProviderUnavailable

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
        # Id tokens that started a paid session: only those sessions need hold checks.
        self._paid_tokens: dict[int, bool] = {}

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
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []

    async def _is_paid(self, id_token_pk: int | None) -> bool:
        if id_token_pk is None:
            return False
        known = self._paid_tokens.get(id_token_pk)
        if known is None:
            async with self.ctx.sessions() as session:
                known = (
                    await session.execute(
                        select(Payment.id).where(Payment.id_token_pk == id_token_pk)
                    )
                ).first() is not None
            if len(self._paid_tokens) > 100_000:
                self._paid_tokens.clear()
            self._paid_tokens[id_token_pk] = known
        return known

    async def on_event(self, event: Event) -> None:
        if not event.topic.startswith("session:"):
            return
        data = event.data
        if not await self._is_paid(data.get("id_token_pk")):
            return
        session_id = int(data["session_id"])
        if event.kind == "session_stopped":
            await settle_session(self.ctx, session_id)
            if await guest.send_receipt(self.ctx, session_id):
                self._kick_sms()
        elif event.kind == "session_updated":
            await check_hold(self.ctx, session_id)

    async def _listen(self, ready: asyncio.Event) -> None:
        async with self._events.subscribe("*") as stream:
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
            try:
                await self.run_jobs(reminders=due)
            except Exception:
                log.exception("payment jobs failed")
            if due:
                last_reminders = loop.time()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
