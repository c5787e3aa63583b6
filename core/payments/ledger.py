"""The payments ledger: payments, their operations, and applying provider state to them.

Every provider call is recorded as a PaymentOperation under a fixed idempotency key
(`capture:<reference>`, ...): a retried job reuses the key, the provider answers the first
result again, and the unique key keeps one row. Provider state only moves a payment forward.
"""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import insert_ignore
from core.models import Payment, PaymentOperation
from core.ports import PaymentState, ProviderPayment
from core.timeutil import utcnow

# Later states win; a late webhook saying "pending" never undoes "captured".
_RANK = {
    PaymentState.PENDING: 0,
    PaymentState.AUTHORIZED: 1,
    PaymentState.CAPTURED: 2,
    PaymentState.CANCELLED: 2,
    PaymentState.EXPIRED: 2,
    PaymentState.FAILED: 2,
}


def new_reference(prefix: str) -> str:
    """8-64 chars of [A-Za-z0-9-], unique: valid for Vipps and readable in Stripe."""
    return f"lf-{prefix}-{secrets.token_hex(8)}"


async def by_reference(session: AsyncSession, reference: str) -> Payment | None:
    return (
        await session.execute(select(Payment).where(Payment.reference == reference))
    ).scalar_one_or_none()


async def by_provider_ref(session: AsyncSession, provider: str, ref: str) -> Payment | None:
    return (
        await session.execute(
            select(Payment).where(Payment.provider == provider, Payment.provider_ref == ref)
        )
    ).scalar_one_or_none()


def apply(payment: Payment, state: ProviderPayment) -> bool:
    """Apply what the provider reports; True if the payment changed."""
    changed = False
    if state.provider_ref and payment.provider_ref != state.provider_ref:
        payment.provider_ref = state.provider_ref
        changed = True
    current = PaymentState(payment.status)
    if _RANK[state.state] > _RANK[current] or (
        state.state != current
        and _RANK[state.state] == _RANK[current] == 2
        and current == PaymentState.CAPTURED
        and state.state == PaymentState.CANCELLED
        and state.captured_ore == 0
    ):
        payment.status = state.state.value
        changed = True
    for field, value in (
        ("amount_authorized_ore", state.authorized_ore),
        ("amount_captured_ore", state.captured_ore),
        ("amount_refunded_ore", state.refunded_ore),
    ):
        # Amounts only grow: an out-of-order report of an earlier moment is ignored.
        if value > getattr(payment, field):
            setattr(payment, field, value)
            changed = True
    if state.redirect_url and not payment.redirect_url:
        payment.redirect_url = state.redirect_url
        changed = True
    if state.capture_before and payment.capture_before != state.capture_before:
        payment.capture_before = state.capture_before
        changed = True
    if state.failure and payment.failure != state.failure[:200]:
        payment.failure = state.failure[:200]
        changed = True
    if changed:
        payment.updated_at = utcnow()
    return changed


async def record(
    session: AsyncSession,
    payment: Payment,
    kind: str,
    key: str,
    amount_ore: int,
    outcome: str,
    detail: str | None = None,
) -> None:
    existing = (
        await session.execute(
            select(PaymentOperation).where(PaymentOperation.idempotency_key == key)
        )
    ).scalar_one_or_none()
    if existing is None:
        session.add(
            PaymentOperation(
                payment_id=payment.id,
                kind=kind,
                amount_ore=amount_ore,
                idempotency_key=key,
                outcome=outcome,
                detail=(detail or "")[:300] or None,
                created_at=utcnow(),
            )
        )
    else:
        existing.outcome, existing.detail = outcome, (detail or "")[:300] or None


async def operation_done(session: AsyncSession, key: str) -> bool:
    return (
        await session.execute(
            select(PaymentOperation.id).where(
                PaymentOperation.idempotency_key == key, PaymentOperation.outcome == "ok"
            )
        )
    ).first() is not None


def hold_is_lapsing(payment: Payment, now: datetime, margin_hours: float = 6) -> bool:
    return payment.capture_before is not None and (
        (payment.capture_before - now).total_seconds() < margin_hours * 3600
    )


async def claim(
    session: AsyncSession, payment: Payment, kind: str, key: str, amount_ore: int
) -> bool:
    """Take the right to run an operation. False if it ran, or is running, elsewhere.

    The unique idempotency key is the lock: of two workers settling the same session,
    one inserts the row and calls the provider; an attempt that ended in a provider error
    may be claimed again (the provider dedupes on the same key).
    """
    inserted = await session.execute(
        insert_ignore(session, PaymentOperation)
        .values(
            payment_id=payment.id,
            kind=kind,
            amount_ore=amount_ore,
            idempotency_key=key,
            outcome="pending",
            created_at=utcnow(),
        )
        .returning(PaymentOperation.id)
    )
    if inserted.first() is not None:
        return True
    # An earlier attempt that failed, or died mid-call long enough ago, may be retried.
    stale = utcnow() - timedelta(minutes=5)
    retried = await session.execute(
        update(PaymentOperation)
        .where(
            PaymentOperation.idempotency_key == key,
            (PaymentOperation.outcome == "error")
            | ((PaymentOperation.outcome == "pending") & (PaymentOperation.created_at < stale)),
        )
        .values(outcome="pending", created_at=utcnow())
    )
    return getattr(retried, "rowcount", 0) == 1
