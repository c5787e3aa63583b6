"""Send what is due in the outbox through the SmsSender port, at most once per message."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.db import transaction
from core.messaging import outbox
from core.models import SmsMessage, SmsStatus
from core.ports import OutboundSms, SmsRejected, SmsSender
from core.timeutil import utcnow

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 6


class SmsDispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sender: SmsSender,
        *,
        interval_s: float = 5.0,
    ) -> None:
        self._sessions = sessions
        self._sender = sender
        self._interval = interval_s
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def kick(self) -> None:
        """Something was queued: send it now rather than at the next tick."""
        self._wake.set()

    async def run_once(self, now: datetime | None = None) -> int:
        """Send every due message; returns how many were handed to the provider."""
        now = now or utcnow()
        async with transaction(self._sessions) as session:
            ids = await outbox.due(session, now)
        sent = 0
        for message_id in ids:
            # Claimed and committed before the provider call: a crash after sending can
            # leave a message in `sending`, never send it twice.
            async with transaction(self._sessions) as session:
                message = await outbox.claim(session, message_id, now)
                if message is None:
                    continue
                out = OutboundSms(to=message.to, body=message.body, dedup_key=message.dedup_key)
            try:
                sid = await self._sender.send(out)
            except SmsRejected as error:
                await self._finish(message_id, None, SmsStatus.FAILED, error.code)
                continue
            except Exception:
                log.exception("SMS %s could not be handed to the provider", message_id)
                await self._retry_later(message_id, now)
                continue
            await self._finish(message_id, sid, SmsStatus.ACCEPTED, None)
            sent += 1
        return sent

    async def _retry_later(self, message_id: int, now: datetime) -> None:
        """Back off (30 s, 1 min, 2 min, ...) and give up after MAX_ATTEMPTS."""
        async with transaction(self._sessions) as session:
            message = await session.get_one(SmsMessage, message_id)
            if message.status != SmsStatus.SENDING.value:
                return
            if message.attempts >= MAX_ATTEMPTS:
                message.status = SmsStatus.FAILED.value
                message.error_code = "attempts"
            else:
                message.status = SmsStatus.QUEUED.value
                message.send_after = now + timedelta(seconds=30 * 2 ** (message.attempts - 1))
            message.updated_at = utcnow()

    async def _finish(
        self, message_id: int, sid: str | None, status: SmsStatus, error: str | None
    ) -> None:
        async with transaction(self._sessions) as session:
            message = await session.get_one(SmsMessage, message_id)
            # A status callback may have raced ahead of us: never move backwards.
            if message.status == SmsStatus.SENDING.value:
                message.status = status.value
            if sid:
                message.provider_sid = sid
                message.sent_at = utcnow()
            if error:
                message.error_code = error[:10]
            message.updated_at = utcnow()

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="sms-dispatcher")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.run_once()
            except Exception:
                log.exception("SMS dispatcher round failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
