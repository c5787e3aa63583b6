"""The delivery outbox: every invoice, credit note and receipt to send is a row first.

Like the SMS outbox (core.messaging.outbox): one row per dedup key, so a job that runs
twice queues one delivery; a dispatcher claims a row (queued -> sending, committed) before
it calls a channel, so no two processes hand the same document over. Every try is a
`delivery_attempts` row with its outcome.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.settings import get_billing_settings
from core.invoicing.channels import CHANNELS, ChannelDecision, customer, decide, recipient
from core.models import (
    Channel,
    ChargingSession,
    CreditNote,
    DeliveryStatus,
    DocumentDelivery,
    GuestCheckout,
    Invoice,
    User,
)
from core.timeutil import utcnow


def _insert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        return postgresql.insert(DocumentDelivery).on_conflict_do_nothing()
    return sqlite.insert(DocumentDelivery).on_conflict_do_nothing()


async def queue(
    session: AsyncSession,
    *,
    dedup_key: str,
    document: str,
    channel: str,
    recipient: str,
    reason: str,
    user_id: int | None,
    invoice_id: int | None = None,
    credit_note_id: int | None = None,
    session_id: int | None = None,
    at: datetime | None = None,
) -> int | None:
    """Queue a delivery; None if one with this key exists already."""
    now = at or utcnow()
    result = await session.execute(
        _insert(session)
        .values(
            dedup_key=dedup_key[:120],
            document=document,
            invoice_id=invoice_id,
            credit_note_id=credit_note_id,
            session_id=session_id,
            user_id=user_id,
            channel=channel,
            recipient=recipient[:254],
            reason=reason[:200],
            status=DeliveryStatus.QUEUED.value,
            attempts=0,
            send_after=now,
            created_at=now,
            updated_at=now,
        )
        .returning(DocumentDelivery.id)
    )
    row = result.first()
    return int(row[0]) if row else None


async def queue_invoice(
    session: AsyncSession, invoice_id: int, *, channel: str | None = None, suffix: str = ""
) -> tuple[int | None, ChannelDecision]:
    """Queue an issued invoice on the customer's channel (or `channel`, for a resend)."""
    invoice = await session.get_one(Invoice, invoice_id)
    decision = await _decision(session, invoice.user_id, channel)
    delivery = await queue(
        session,
        dedup_key=f"invoice:{invoice_id}{suffix}",
        document="invoice",
        channel=decision.channel,
        recipient=decision.recipient,
        reason=decision.reason,
        user_id=invoice.user_id,
        invoice_id=invoice_id,
    )
    return delivery, decision


async def queue_credit_note(
    session: AsyncSession, credit_note_id: int, *, channel: str | None = None, suffix: str = ""
) -> tuple[int | None, ChannelDecision]:
    """A credit note goes where its invoice went (the customer's channel now)."""
    note = await session.get_one(CreditNote, credit_note_id)
    invoice = await session.get_one(Invoice, note.invoice_id)
    decision = await _decision(session, invoice.user_id, channel)
    delivery = await queue(
        session,
        dedup_key=f"credit_note:{credit_note_id}{suffix}",
        document="credit_note",
        channel=decision.channel,
        recipient=decision.recipient,
        reason=decision.reason,
        user_id=invoice.user_id,
        invoice_id=invoice.id,
        credit_note_id=credit_note_id,
    )
    return delivery, decision


async def _decision(session: AsyncSession, user_id: int, channel: str | None) -> ChannelDecision:
    seller = get_billing_settings().seller_org_number.replace(" ", "") or None
    c = await customer(session, user_id)
    assert c is not None, f"invoice of unknown user {user_id}"
    decision = decide(c, seller)
    if channel is None or channel == decision.channel:
        return decision
    # The operator forces a channel, e.g. paper after an e-mail bounced.
    if channel not in CHANNELS:
        raise ValueError(f"channel is one of {', '.join(CHANNELS)}")
    return ChannelDecision(decision.requested, channel, recipient(c, channel), "chosen by operator")


async def queue_receipt(session: AsyncSession, session_id: int) -> int | None:
    """E-mail the receipt of a paid session to a driver who asked for receipts by e-mail,
    or to a guest who left an e-mail address. None if nobody wants one (or it is queued)."""
    cs = await session.get(ChargingSession, session_id)
    if cs is None:
        return None
    email: str | None = None
    if cs.user_id is not None:
        user = await session.get(User, cs.user_id)
        if user is not None and user.receipt_by_email and user.email:
            email = user.email
    if email is None and cs.id_token_pk is not None:
        email = (
            await session.execute(
                select(GuestCheckout.email).where(GuestCheckout.id_token_pk == cs.id_token_pk)
            )
        ).scalar()
    if not email:
        return None
    return await queue(
        session,
        dedup_key=f"receipt:{session_id}",
        document="receipt",
        channel=Channel.EMAIL.value,
        recipient=email,
        reason="receipt by e-mail",
        user_id=cs.user_id,
        session_id=session_id,
    )


# --------------------------------------------------------------------------- dispatching


async def due(session: AsyncSession, now: datetime, limit: int = 200) -> list[int]:
    rows = await session.execute(
        select(DocumentDelivery.id)
        .where(
            DocumentDelivery.status == DeliveryStatus.QUEUED.value,
            DocumentDelivery.send_after <= now,
        )
        .order_by(DocumentDelivery.send_after, DocumentDelivery.id)
        .limit(limit)
    )
    return [row[0] for row in rows]


async def claim(session: AsyncSession, delivery_id: int, now: datetime) -> DocumentDelivery | None:
    """Take a due delivery; None if another dispatcher took it first."""
    result = await session.execute(
        update(DocumentDelivery)
        .where(
            DocumentDelivery.id == delivery_id,
            DocumentDelivery.status == DeliveryStatus.QUEUED.value,
        )
        .values(
            status=DeliveryStatus.SENDING.value,
            attempts=DocumentDelivery.attempts + 1,
            updated_at=now,
        )
    )
    if getattr(result, "rowcount", 0) != 1:
        return None
    return await session.get(DocumentDelivery, delivery_id)


def backoff(attempts: int, base_s: float) -> timedelta:
    """1, 2, 4, ... base intervals, at most a day."""
    return timedelta(seconds=min(base_s * 2 ** max(attempts - 1, 0), 86_400))


async def deliveries_of(session: AsyncSession, invoice_id: int) -> list[DocumentDelivery]:
    rows = await session.execute(
        select(DocumentDelivery)
        .where(DocumentDelivery.invoice_id == invoice_id)
        .order_by(DocumentDelivery.id)
    )
    return list(rows.scalars())
