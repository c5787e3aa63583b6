"""Paying per session: hold before start, capture the exact cost at stop, cancel for 0 kWh,
stop charging before the cost outgrows the hold; provider events and reconciliation.

Provider calls never run inside a database transaction: the intent is committed first
(a Payment / PaymentOperation row with its idempotency key), then the provider is called,
then its answer is committed. A crash in between leaves a row that reconciliation finishes
with the same key, so money is neither lost nor moved twice.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import bus
from core.billing.service import mark_paid
from core.config import Settings
from core.db import transaction
from core.models import (
    ChargingSession,
    IdToken,
    IdTokenKind,
    IdTokenStatus,
    Invoice,
    Payment,
    PaymentMethod,
    SessionStatus,
    User,
)
from core.payments import ledger
from core.ports import (
    CardVault,
    PaymentDeclined,
    PaymentProvider,
    PaymentProviderUnavailable,
    PaymentRequest,
    PaymentState,
    ProviderPayment,
)
from core.sessions.costs import session_cost_ore
from core.timeutil import utcnow

log = logging.getLogger(__name__)


@dataclass
class Payments:
    """Everything the payment flows need, wired in ladeflyt.runtime."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    providers: dict[str, PaymentProvider]
    commands: bus.CommandBus
    vault: CardVault | None = None

    def provider(self, name: str) -> PaymentProvider:
        try:
            return self.providers[name]
        except KeyError:
            raise PaymentDeclined("unavailable", f"payment provider {name} is not set up") from None

    def for_method(self, method: str) -> PaymentProvider:
        for provider in self.providers.values():
            if provider.method == method:
                return provider
        raise PaymentDeclined("unavailable", f"{method} payments are not available")

    @property
    def methods(self) -> list[str]:
        return sorted({p.method for p in self.providers.values()})


@dataclass(frozen=True)
class Hold:
    payment_id: int
    id_token: str  # start charging with this token: the session is then tied to the hold
    authorized_ore: int


async def call_provider(
    ctx: Payments,
    payment_id: int,
    kind: str,
    key: str,
    amount_ore: int,
    call: Callable[[], Awaitable[ProviderPayment]],
    then: Callable[[AsyncSession, ProviderPayment | None], Awaitable[None]] | None = None,
) -> ProviderPayment | None:
    """Run one provider operation for a payment and record it; None if it was declined.

    `then` runs in the transaction that records the outcome, so what depends on it (a
    session's payment state) never disagrees with the ledger."""
    try:
        state: ProviderPayment = await call()
    except PaymentDeclined as error:
        async with transaction(ctx.sessions) as session:
            payment = await session.get_one(Payment, payment_id)
            await ledger.record(
                session, payment, kind, key, amount_ore, "declined", f"{error.code}: {error}"
            )
            if kind == "authorize":
                payment.status, payment.failure = PaymentState.FAILED.value, str(error)[:200]
            if then is not None:
                await then(session, None)
        return None
    except Exception as error:  # unavailable, or unexpected: retryable with the same key
        async with transaction(ctx.sessions) as session:
            payment = await session.get_one(Payment, payment_id)
            await ledger.record(session, payment, kind, key, amount_ore, "error", str(error))
        raise
    async with transaction(ctx.sessions) as session:
        payment = await session.get_one(Payment, payment_id)
        ledger.apply(payment, state)
        await ledger.record(session, payment, kind, key, amount_ore, "ok")
        if then is not None:
            await then(session, state)
    return state


# --------------------------------------------------------------------------- holds


async def hold_for_start(
    ctx: Payments, user_id: int, token_kind: IdTokenKind, description: str
) -> Hold | str:
    """Hold money on the driver's default card; the returned token starts the session.

    Returns a message for the driver instead when the card cannot be charged.
    """
    amount = ctx.settings.payment_hold_ore
    async with transaction(ctx.sessions) as session:
        user = await session.get_one(User, user_id)
        card = (
            await session.execute(
                select(PaymentMethod)
                .where(PaymentMethod.user_id == user_id, PaymentMethod.kind == "card")
                .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if card is None:
            return "add a payment card first"
        try:
            provider = ctx.providers.get(card.provider) or ctx.for_method("card")
        except PaymentDeclined:
            return "card payments are not available right now"
        token = IdToken(
            token=token_kind.value.upper()[:3] + secrets.token_hex(8).upper(),
            kind=token_kind.value,
            user_id=user_id,
            label="payment hold",
        )
        session.add(token)
        await session.flush()
        payment = Payment(
            reference=ledger.new_reference("s"),
            purpose="session",
            provider=provider.name,
            method="card",
            status=PaymentState.PENDING.value,
            amount_requested_ore=amount,
            user_id=user_id,
            id_token_pk=token.id,
        )
        session.add(payment)
        await session.flush()
        request = PaymentRequest(
            amount_ore=amount,
            reference=payment.reference,
            description=description,
            return_url=f"{ctx.settings.public_base_url.rstrip('/')}/app",
            customer_ref=user.payment_customer_ref,
            payment_method_ref=card.provider_ref,
            phone=user.phone,
            email=user.email,
            language=user.language,
        )
        payment_id, token_value = payment.id, token.token
    try:
        state = await call_provider(
            ctx,
            payment_id,
            "authorize",
            f"authorize:{request.reference}",
            amount,
            lambda: provider.create(request),
        )
    except PaymentProviderUnavailable:
        return "the card payment service is unavailable; try again shortly"
    if state is None:
        return "the card was declined"
    if state.state != PaymentState.AUTHORIZED:
        if state.state == PaymentState.PENDING:
            await release(ctx, payment_id)
            return "the card needs verification in the app"
        return "the card was declined"
    return Hold(payment_id, token_value, state.authorized_ore)


async def release(ctx: Payments, payment_id: int) -> None:
    """Cancel a hold that will not be used (the charger refused to start, ...).

    Its id token is blocked first, so a start that arrives late cannot charge for free."""
    async with transaction(ctx.sessions) as session:
        payment = await session.get_one(Payment, payment_id)
        if payment.id_token_pk is not None:
            token = await session.get(IdToken, payment.id_token_pk)
            if token is not None:
                token.status = IdTokenStatus.BLOCKED.value
        if payment.status not in (PaymentState.PENDING.value, PaymentState.AUTHORIZED.value):
            return
        provider, ref, reference = (
            ctx.provider(payment.provider),
            payment.provider_ref,
            payment.reference,
        )
    if ref is None:
        async with transaction(ctx.sessions) as session:
            (await session.get_one(Payment, payment_id)).status = PaymentState.CANCELLED.value
        return
    await call_provider(
        ctx,
        payment_id,
        "cancel",
        f"cancel:{reference}",
        0,
        lambda: provider.cancel(ref, f"cancel:{reference}"),
    )


# --------------------------------------------------------------------------- settle


async def payment_for_session(session: AsyncSession, cs: ChargingSession) -> Payment | None:
    if cs.id_token_pk is None:
        return None
    payment = (
        await session.execute(
            select(Payment).where(
                Payment.id_token_pk == cs.id_token_pk, Payment.purpose == "session"
            )
        )
    ).scalar_one_or_none()
    if payment is not None and payment.session_id is None:
        payment.session_id = cs.id
    return payment


async def settle_session(ctx: Payments, session_id: int) -> str | None:
    """Capture the exact cost of a completed session (cancel the hold for nothing charged).

    Returns the session's payment state, or None when it is not paid by a hold.
    """
    async with transaction(ctx.sessions) as session:
        cs = await session.get(ChargingSession, session_id)
        if cs is None or cs.status != SessionStatus.COMPLETED.value:
            return None
        payment = await payment_for_session(session, cs)
        if payment is None:
            return None
        if payment.status != PaymentState.AUTHORIZED.value:
            return cs.payment_state
        if cs.cost_ore is None:
            # Not priced (e.g. a missing spot price): keep the hold; reconciliation retries.
            cs.payment_state = "unpriced"
            return cs.payment_state
        amount = min(cs.cost_ore, payment.amount_authorized_ore)
        provider = ctx.provider(payment.provider)
        ref, reference, payment_id = payment.provider_ref, payment.reference, payment.id
        over = cs.cost_ore > payment.amount_authorized_ore
        authorized = payment.amount_authorized_ore
        kind = "capture" if amount > 0 else "cancel"
        key = f"{kind}:{reference}"
        if not await ledger.claim(session, payment, kind, key, amount):
            return cs.payment_state  # settled, or being settled, by another worker
    assert ref is not None
    outcome: list[str] = []

    async def mark(session: AsyncSession, state: ProviderPayment | None) -> None:
        cs = await session.get_one(ChargingSession, session_id)
        if state is None:
            cs.payment_state = f"{kind}_failed"
        elif kind == "cancel":
            cs.payment_state = "nothing_due"
        else:
            cs.payment_state = "partially_paid" if over else "paid"
        if over and "cost_above_hold" not in (cs.flags or []):
            cs.flags = [*(cs.flags or []), "cost_above_hold"]
        outcome.append(cs.payment_state)

    if kind == "cancel":
        await call_provider(
            ctx, payment_id, "cancel", key, 0, lambda: provider.cancel(ref, key), mark
        )
    else:
        captured = await call_provider(
            ctx,
            payment_id,
            "capture",
            key,
            amount,
            lambda: provider.capture(ref, amount, key),
            mark,
        )
        if captured is not None and provider.method == "vipps" and amount < authorized:
            # Vipps keeps the rest reserved until it expires: cancel what we won't capture.
            rest = f"cancel:{reference}"
            await call_provider(
                ctx, payment_id, "cancel", rest, 0, lambda: provider.cancel(ref, rest)
            )
    return outcome[0] if outcome else None


async def check_hold(ctx: Payments, session_id: int) -> bool:
    """Stop a session whose cost so far has reached its hold. True if a stop was sent."""
    async with transaction(ctx.sessions) as session:
        cs = await session.get(ChargingSession, session_id)
        if cs is None or cs.status != SessionStatus.ACTIVE.value:
            return False
        payment = await payment_for_session(session, cs)
        if payment is None or payment.status != PaymentState.AUTHORIZED.value:
            return False
        if payment.limit_stop_requested:
            return False
        cost = await session_cost_ore(session, cs)
        limit = payment.amount_authorized_ore - ctx.settings.hold_stop_margin_ore
        if cost is None or cost < limit:
            return False
        payment.limit_stop_requested = True
        from core.models import Charger

        cp_id = (await session.get_one(Charger, cs.charger_id)).charge_point_id
        transaction_id = cs.transaction_id
    log.info("session %s reached its hold: stopping", session_id)
    try:
        await ctx.commands.send(cp_id, bus.RemoteStop(transaction_id=transaction_id))
    except bus.CommandError as error:
        log.warning("could not stop session %s at its hold: %s", session_id, error)
        async with transaction(ctx.sessions) as session:
            (await session.get_one(Payment, payment.id)).limit_stop_requested = False
        return False
    return True


# --------------------------------------------------------------------------- provider news


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
            ctx,
            payment_id,
            "capture",
            key,
            amount,
            lambda: provider.capture(ref, amount, key),
            paid,
        )
        return
    if purpose == "session" and session_id is not None and status == PaymentState.AUTHORIZED.value:
        await settle_session(ctx, session_id)


async def reconcile(ctx: Payments, now: datetime | None = None) -> int:
    """Poll what webhooks may have missed; settle what is due. Returns payments touched."""
    now = now or utcnow()
    async with ctx.sessions() as session:
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
    from core.payments.guest import advance_checkout, checkouts_waiting_for

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
    async with ctx.sessions() as session:
        unsettled = (
            (
                await session.execute(
                    select(ChargingSession.id)
                    .join(Payment, Payment.id_token_pk == ChargingSession.id_token_pk)
                    .where(
                        ChargingSession.status == SessionStatus.COMPLETED.value,
                        Payment.status == PaymentState.AUTHORIZED.value,
                    )
                    .limit(200)
                )
            )
            .scalars()
            .all()
        )
    for session_id in unsettled:
        try:
            await settle_session(ctx, session_id)
        except PaymentProviderUnavailable:
            continue
        except Exception:
            log.exception("settling session %s failed", session_id)
            continue
        touched += 1
    touched += await release_unused_holds(ctx, now)
    touched += await stop_before_holds_lapse(ctx, now)
    return touched


async def release_unused_holds(ctx: Payments, now: datetime, after_minutes: int = 10) -> int:
    """Holds whose charger never started (no session with their token after a while)."""
    started = (
        select(ChargingSession.id)
        .where(ChargingSession.id_token_pk == Payment.id_token_pk)
        .exists()
    )
    async with ctx.sessions() as session:
        unused = (
            (
                await session.execute(
                    select(Payment.id).where(
                        Payment.purpose == "session",
                        Payment.status == PaymentState.AUTHORIZED.value,
                        Payment.id_token_pk.is_not(None),
                        Payment.updated_at < now - timedelta(minutes=after_minutes),
                        ~started,
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


async def stop_before_holds_lapse(ctx: Payments, now: datetime, margin_hours: float = 6) -> int:
    """A hold lapses at `capture_before` (cards: ~7 days). A session still running close to
    that (a stuck session, a forgotten car) is stopped, so its cost is captured in time."""
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(ChargingSession.id, Payment.id)
                .join(Payment, Payment.id_token_pk == ChargingSession.id_token_pk)
                .where(
                    ChargingSession.status == SessionStatus.ACTIVE.value,
                    Payment.status == PaymentState.AUTHORIZED.value,
                    Payment.capture_before.is_not(None),
                    Payment.capture_before < now + timedelta(hours=margin_hours),
                    Payment.limit_stop_requested.is_(False),
                )
            )
        ).all()
    stopped = 0
    for session_id, payment_id in rows:
        async with transaction(ctx.sessions) as session:
            cs = await session.get_one(ChargingSession, session_id)
            (await session.get_one(Payment, payment_id)).limit_stop_requested = True
            from core.models import Charger

            cp_id = (await session.get_one(Charger, cs.charger_id)).charge_point_id
            transaction_id = cs.transaction_id
        log.warning("session %s: its hold lapses soon, stopping it", session_id)
        try:
            await ctx.commands.send(cp_id, bus.RemoteStop(transaction_id=transaction_id))
            stopped += 1
        except bus.CommandError as error:
            log.warning("could not stop session %s before its hold lapses: %s", session_id, error)
    return stopped


async def refund(ctx: Payments, reference: str, amount_ore: int, reason: str) -> Payment:
    """Give money back on a captured payment (operator support action)."""
    async with transaction(ctx.sessions) as session:
        payment = await ledger.by_reference(session, reference)
        if payment is None:
            raise PaymentDeclined("not_found", f"no payment {reference}")
        refundable = payment.amount_captured_ore - payment.amount_refunded_ore
        if not 0 < amount_ore <= refundable:
            raise PaymentDeclined("amount", f"refundable is {refundable} øre")
        provider, ref, payment_id = ctx.provider(payment.provider), payment.provider_ref, payment.id
        n = payment.amount_refunded_ore
    assert ref is not None
    key = f"refund:{reference}:{n}:{amount_ore}"
    if (
        await call_provider(
            ctx,
            payment_id,
            "refund",
            key,
            amount_ore,
            lambda: provider.refund(ref, amount_ore, key),
        )
        is None
    ):
        raise PaymentDeclined("refund_declined", f"the provider refused the refund ({reason})")
    async with ctx.sessions() as session:
        return await session.get_one(Payment, payment_id)
