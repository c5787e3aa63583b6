"""The SMS outbox: every message is a row first, sent by the dispatcher afterwards.

- A message has a dedup key; queueing the same key twice keeps one message (a retried job,
  a replayed charger event, a reminder job run twice).
- Non-urgent messages are held during quiet hours (20:00-08:00 Europe/Oslo) and sent at 08:00.
- Numbers that sent STOPP/STOP get only essential messages (sign-in codes, receipts they
  asked for); others are recorded as suppressed, never sent.
- Provider status callbacks only move a message forward (sent never goes back to sending).
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import SmsMessage, SmsOptOut, SmsStatus
from core.models.messaging import STATUS_RANK
from core.timeutil import OSLO, utcnow

QUIET_START = time(20, 0)
QUIET_END = time(8, 0)


def in_quiet_hours(at: datetime) -> bool:
    local = at.astimezone(OSLO).time()
    return local >= QUIET_START or local < QUIET_END


def quiet_hours_end(at: datetime) -> datetime:
    """The next 08:00 in Oslo after `at` (correct across daylight-saving changes)."""
    local = at.astimezone(OSLO)
    day = local.date() if local.time() < QUIET_END else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_END, tzinfo=OSLO).astimezone(at.tzinfo)


async def is_opted_out(session: AsyncSession, phone: str) -> bool:
    return (
        await session.execute(select(SmsOptOut.id).where(SmsOptOut.phone == phone))
    ).first() is not None


async def opt_out(session: AsyncSession, phone: str) -> None:
    await session.execute(
        _insert_ignore(session, SmsOptOut).values(phone=phone, created_at=utcnow())
    )


async def opt_in(session: AsyncSession, phone: str) -> None:
    await session.execute(delete(SmsOptOut).where(SmsOptOut.phone == phone))


def _insert_ignore(session: AsyncSession, model: type[SmsMessage] | type[SmsOptOut]) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(model).on_conflict_do_nothing()
    return sqlite.insert(model).on_conflict_do_nothing()


async def queue_sms(
    session: AsyncSession,
    *,
    to: str,
    kind: str,
    body: str,
    dedup_key: str,
    urgent: bool = False,
    essential: bool = False,
    at: datetime | None = None,
) -> bool:
    """Put a message in the outbox. False if a message with this key exists already."""
    now = at or utcnow()
    status, send_after = SmsStatus.QUEUED, now
    if not essential and await is_opted_out(session, to):
        status = SmsStatus.SUPPRESSED
    elif not urgent and in_quiet_hours(now):
        status, send_after = SmsStatus.HELD, quiet_hours_end(now)
    result = await session.execute(
        _insert_ignore(session, SmsMessage)
        .values(
            to=to,
            kind=kind,
            body=body,
            dedup_key=dedup_key[:120],
            urgent=urgent,
            essential=essential,
            status=status.value,
            send_after=send_after,
            attempts=0,
            created_at=now,
            updated_at=now,
        )
        .returning(SmsMessage.id)
    )
    return result.first() is not None


async def due(session: AsyncSession, now: datetime, limit: int = 100) -> list[int]:
    rows = await session.execute(
        select(SmsMessage.id)
        .where(
            SmsMessage.status.in_((SmsStatus.QUEUED.value, SmsStatus.HELD.value)),
            SmsMessage.send_after <= now,
        )
        .order_by(SmsMessage.send_after, SmsMessage.id)
        .limit(limit)
    )
    return [row[0] for row in rows]


async def claim(session: AsyncSession, message_id: int, now: datetime) -> SmsMessage | None:
    """Take a due message for sending; None if another dispatcher took it first."""
    result = await session.execute(
        update(SmsMessage)
        .where(
            SmsMessage.id == message_id,
            SmsMessage.status.in_((SmsStatus.QUEUED.value, SmsStatus.HELD.value)),
        )
        .values(status=SmsStatus.SENDING.value, attempts=SmsMessage.attempts + 1, updated_at=now)
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return await session.get(SmsMessage, message_id)


async def apply_status(
    session: AsyncSession, provider_sid: str, status: str, error_code: str | None = None
) -> bool:
    """A provider status report; applied only if it moves the message forward."""
    try:
        new = SmsStatus(status)
    except ValueError:
        return False  # e.g. "read", "receiving": nothing we track
    message = (
        await session.execute(select(SmsMessage).where(SmsMessage.provider_sid == provider_sid))
    ).scalar_one_or_none()
    if message is None:
        return False
    if STATUS_RANK[new] <= STATUS_RANK[SmsStatus(message.status)]:
        return False
    message.status = new.value
    message.updated_at = utcnow()
    if error_code:
        message.error_code = error_code[:10]
    return True
