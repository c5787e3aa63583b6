"""Receipts by e-mail: every paid session of a driver who asked for receipts by e-mail, or
of a guest who left an e-mail address, gets one (queued once, dedup key receipt:<id>)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.invoicing.outbox import queue_receipt
from core.models import ChargingSession, DocumentDelivery, GuestCheckout, SessionStatus, User
from core.timeutil import utcnow

PAID = ("paid", "partially_paid")


async def queue_due_receipts(
    session: AsyncSession, *, since: datetime | None = None, limit: int = 500
) -> int:
    """Queue the receipts not queued yet for sessions paid since `since` (default 2 days)."""
    since = since or utcnow() - timedelta(days=2)
    rows = await session.execute(
        select(ChargingSession.id)
        .outerjoin(User, User.id == ChargingSession.user_id)
        .outerjoin(GuestCheckout, GuestCheckout.id_token_pk == ChargingSession.id_token_pk)
        .outerjoin(
            DocumentDelivery,
            and_(
                DocumentDelivery.session_id == ChargingSession.id,
                DocumentDelivery.document == "receipt",
            ),
        )
        .where(
            ChargingSession.status == SessionStatus.COMPLETED.value,
            ChargingSession.payment_state.in_(PAID),
            ChargingSession.stopped_at >= since,
            DocumentDelivery.id.is_(None),
            or_(
                and_(User.receipt_by_email.is_(True), User.email.is_not(None)),
                GuestCheckout.email.is_not(None),
            ),
        )
        .distinct()
        .limit(limit)
    )
    queued = 0
    for session_id in rows.scalars():
        if await queue_receipt(session, session_id) is not None:
            queued += 1
    return queued
