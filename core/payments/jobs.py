"""What the payment worker runs: provider news (webhooks re-fetched, polls), follow-ups of a
payment's new state, and the rounds that keep every session moving to its settlement."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import bus
from core.billing.service import mark_paid
from core.db import transaction
from core.models import Charger, ChargingSession, Invoice, Payment, SessionStatus
from core.payments import ledger
from core.payments.guest import advance_checkout, checkouts_waiting_for
from core.payments.service import Payments, call_provider, release
from core.payments.settlement import UNSETTLED, settle_session
from core.ports import PaymentProviderUnavailable, PaymentState, ProviderPayment
from core.sessions import lifecycle
from core.timeutil import utcnow

log = logging.getLogger(__name__)


async def refresh(ctx: Payments, payment_id: int) -> Payment:
    """Re-fetch a payment from its provider (webhooks arrive twice and out of order)."""
    async with transaction(ctx.sessions) as session:
        payment = await session.get_one(Payment, payment_id)
        provider, ref = ctx.provider(payment.provider), payment.provider_ref
    if ref is not None:
        state = await provider.fetch(ref)
        async with transaction(ctx.sessions) as session:
            payment = await session.get_one(Payment, payment_id)
            ledger.apply(payment, state)
    await after_change(ctx, payment_id)
    async with ctx.sessions() as session:
        return await session.get_one(Payment, payment_id)


async def after_change(ctx: Payments, payment_id: int) -> None:
    """Follow-ups once a payment's state is known: capture invoices, settle sessions."""
    async with transaction(ctx.sessions) as session:
        payment = await session.get_one(Payment, payment_id)
        status, purpose = payment.status, payment.purpose
        invoice_id, session_id = payment.invoice_id, payment.session_id
        invoice = await session.get(Invoice, invoice_id) if invoice_id else None
        unpaid = invoice is not None and invoice.status in ("open", "overdue")
        if purpose == "invoice" and status == PaymentState.CAPTURED.value and unpaid:
            await mark_paid(session, invoice_id or 0)
            return
    if purpose == "invoice" and status == PaymentState.AUTHORIZED.value and not unpaid:
        # Paid or credited meanwhile (another link, the bank): do not take the money twice.
        await release(ctx, payment_id)
        return
    if purpose == "invoice" and status == PaymentState.AUTHORIZED.value:
        await _capture_invoice_payment(ctx, payment_id, invoice_id)
        return
    if purpose == "session" and session_id is not None and status == PaymentState.AUTHORIZED.value:
        await settle_session(ctx, session_id)


async def _capture_invoice_payment(ctx: Payments, payment_id: int, invoice_id: int | None) -> None:
    async with transaction(ctx.sessions) as session:
        payment = await session.get_one(Payment, payment_id)
        provider, ref, amount = (
            ctx.provider(payment.provider),
            payment.provider_ref,
            payment.amount_authorized_ore,
        )
        key = f"capture:{payment.reference}"
        # The payer's return and the webhook both get here: one captures.
        if not await ledger.claim(session, payment, "capture", key, amount):
            return
    assert ref is not None

    async def paid(session: AsyncSession, state: ProviderPayment | None) -> None:
        inv = await session.get(Invoice, invoice_id) if invoice_id else None
        if state is not None and inv is not None and inv.status in ("open", "overdue"):
            await mark_paid(session, inv.id)

    await call_provider(
        ctx, payment_id, "capture", key, amount, lambda: provider.capture(ref, amount, key), paid
    )


async def reconcile(ctx: Payments, now: datetime | None = None) -> int:
    """Poll what webhooks may have missed, move sessions on, settle what is due.
    Returns how many payments and sessions were touched."""
    now = now or utcnow()
    touched = await _poll_providers(ctx, now)
    touched += await lifecycle.expire_starting(ctx, now)
    touched += await lifecycle.suspend_silent(ctx, now)
    touched += len(await lifecycle.settle_on_evidence(ctx, now))
    touched += await settle_due(ctx, now)
    touched += await release_unused_holds(ctx, now)
    touched += await stop_before_holds_lapse(ctx, now)
    return touched


async def _poll_providers(ctx: Payments, now: datetime) -> int:
    async with transaction(ctx.sessions) as session:
        # Never reached the provider (it was down): nothing to poll, nothing held.
        await session.execute(
            update(Payment)
            .where(
                Payment.status == PaymentState.PENDING.value,
                Payment.provider_ref.is_(None),
                Payment.created_at < now - timedelta(hours=1),
            )
            .values(
                status=PaymentState.EXPIRED.value,
                failure="never reached the provider",
                updated_at=now,
            )
        )
        stale = (
            (
                await session.execute(
                    select(Payment.id)
                    .where(
                        Payment.status.in_(
                            (PaymentState.PENDING.value, PaymentState.AUTHORIZED.value)
                        ),
                        Payment.updated_at < now - timedelta(minutes=2),
                    )
                    .limit(200)
                )
            )
            .scalars()
            .all()
        )
    touched = 0
    for payment_id in stale:
        try:
            await refresh(ctx, payment_id)
            async with ctx.sessions() as session:
                waiting = await checkouts_waiting_for(session, payment_id)
            for checkout_id in waiting:  # approved, but the payer never came back
                await advance_checkout(ctx, checkout_id)
        except PaymentProviderUnavailable:
            continue
        except Exception:  # one bad payment must not stop the others
            log.exception("reconciling payment %s failed", payment_id)
            continue
        touched += 1
    return touched


async def settle_due(ctx: Payments, now: datetime, batch: int = 500) -> int:
    """Completed sessions not settled yet (their stop event was missed, a provider was down,
    a price was missing): settle them now."""
    async with ctx.sessions() as session:
        due = (
            (
                await session.execute(
                    select(ChargingSession.id)
                    .where(
                        ChargingSession.status == SessionStatus.COMPLETED.value,
                        ChargingSession.payment_state.in_(UNSETTLED),
                        ChargingSession.updated_at < now - timedelta(seconds=30),
                    )
                    .order_by(ChargingSession.id)
                    .limit(batch)
                )
            )
            .scalars()
            .all()
        )
    settled = 0
    for session_id in due:
        try:
            await settle_session(ctx, session_id)
        except PaymentProviderUnavailable:
            continue
        except Exception:
            log.exception("settling session %s failed", session_id)
            continue
        settled += 1
    return settled


async def release_unused_holds(ctx: Payments, now: datetime) -> int:
    """Holds placed when a charger asked about a tag that no session used in time."""
    async with ctx.sessions() as session:
        unused = (
            (
                await session.execute(
                    select(Payment.id).where(
                        Payment.purpose == "session",
                        Payment.status == PaymentState.AUTHORIZED.value,
                        Payment.session_id.is_(None),
                        Payment.created_at < now - timedelta(seconds=ctx.settings.tag_hold_ttl_s),
                    )
                )
            )
            .scalars()
            .all()
        )
    released = 0
    for payment_id in unused:
        try:
            await release(ctx, payment_id)
            released += 1
        except Exception:
            log.exception("releasing unused hold %s failed", payment_id)
    return released


async def stop_before_holds_lapse(ctx: Payments, now: datetime) -> int:
    """A hold lapses at `capture_before` (cards: ~7 days). A session still running close to
    that (a stuck session, a forgotten car) is stopped, so its cost is captured in time."""
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(ChargingSession.id, Payment.id)
                .join(Payment, Payment.session_id == ChargingSession.id)
                .where(
                    ChargingSession.status == SessionStatus.ACTIVE.value,
                    Payment.status == PaymentState.AUTHORIZED.value,
                    Payment.capture_before.is_not(None),
                    Payment.capture_before
                    < now + timedelta(hours=ctx.settings.hold_lapse_margin_h),
                    Payment.limit_stop_requested.is_(False),
                )
            )
        ).all()
    stopped = 0
    for session_id, payment_id in rows:
        async with transaction(ctx.sessions) as session:
            cs = await session.get_one(ChargingSession, session_id)
            (await session.get_one(Payment, payment_id)).limit_stop_requested = True
            cp_id = (await session.get_one(Charger, cs.charger_id)).charge_point_id
            transaction_id = cs.transaction_id
        log.warning("session %s: its hold lapses soon, stopping it", session_id)
        try:
            await ctx.commands.send(cp_id, bus.RemoteStop(transaction_id=transaction_id))
            stopped += 1
        except bus.CommandError as error:
            log.warning("could not stop session %s before its hold lapses: %s", session_id, error)
    return stopped
