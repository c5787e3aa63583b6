"""Provider webhooks: stored once, answered at once, handled by a job.

A webhook only says "something happened to payment X": the handler re-fetches X from the
provider and applies that, so duplicates and out-of-order deliveries change nothing twice.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import insert_ignore, transaction
from core.models import Payment, WebhookEvent
from core.payments.guest import advance_checkout, checkouts_waiting_for
from core.payments.jobs import refresh
from core.payments.service import Payments
from core.ports import PaymentProviderUnavailable
from core.timeutil import utcnow

log = logging.getLogger(__name__)


async def store_event(
    session: AsyncSession,
    *,
    source: str,
    external_id: str,
    type: str,
    object_ref: str,
    payload: dict[str, Any],
) -> int | None:
    """Store a verified event; None if this (source, id) was stored before."""
    result = await session.execute(
        insert_ignore(session, WebhookEvent)
        .values(
            source=source,
            external_id=external_id[:120],
            type=type[:60],
            object_ref=object_ref[:100],
            payload=payload,
            received_at=utcnow(),
            attempts=0,
        )
        .returning(WebhookEvent.id)
    )
    row = result.first()
    return int(row[0]) if row else None


async def _payments_for(session: AsyncSession, event: WebhookEvent) -> list[int]:
    refs = {event.object_ref}
    data = event.payload.get("data", {}).get("object", {}) if event.payload else {}
    if isinstance(data, dict):
        refs |= {str(v) for k, v in data.items() if k == "payment_intent" and v}
        reference = (data.get("metadata") or {}).get("reference")
        if reference:
            refs.add(str(reference))
    refs.discard("")
    if not refs:
        return []
    rows = await session.execute(
        select(Payment.id).where(or_(Payment.provider_ref.in_(refs), Payment.reference.in_(refs)))
    )
    return list(rows.scalars())


async def process_pending(ctx: Payments, limit: int = 100) -> int:
    """Handle stored events not handled yet; returns how many were handled."""
    async with ctx.sessions() as session:
        pending = (
            (
                await session.execute(
                    select(WebhookEvent.id)
                    .where(WebhookEvent.handled_at.is_(None), WebhookEvent.attempts < 20)
                    .order_by(WebhookEvent.received_at, WebhookEvent.id)
                    .limit(limit)
                )
            )
            .scalars()
            .all()
        )
    handled = 0
    for event_id in pending:
        try:
            if await handle(ctx, event_id):
                handled += 1
        except Exception as error:  # recorded on the event; the others go on
            log.exception("webhook event %s failed", event_id)
            async with transaction(ctx.sessions) as session:
                (await session.get_one(WebhookEvent, event_id)).error = repr(error)[:300]
    return handled


async def handle(ctx: Payments, event_id: int) -> bool:
    async with transaction(ctx.sessions) as session:
        event = await session.get_one(WebhookEvent, event_id)
        if event.handled_at is not None:
            return False
        event.attempts += 1
        payment_ids = await _payments_for(session, event)
    try:
        for payment_id in payment_ids:
            await refresh(ctx, payment_id)
            async with ctx.sessions() as session:
                waiting = await checkouts_waiting_for(session, payment_id)
            for checkout_id in waiting:
                await advance_checkout(ctx, checkout_id)
    except PaymentProviderUnavailable as error:
        async with transaction(ctx.sessions) as session:
            (await session.get_one(WebhookEvent, event_id)).error = str(error)[:300]
        return False
    async with transaction(ctx.sessions) as session:
        event = await session.get_one(WebhookEvent, event_id)
        event.handled_at = utcnow()
        event.error = None if payment_ids else "no matching payment"
    return True
