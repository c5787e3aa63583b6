"""Paying per session: hold before start, capture the exact cost at stop, cancel for 0 kWh,
stop charging before the cost outgrows the hold; provider events and reconciliation.

Provider calls never run inside a database transaction: the intent is committed first
(a Payment / PaymentOperation row with its idempotency key), then the provider is called,
then its answer is committed. A crash in between leaves a row that reconciliation finishes
with the same key, so money is neither lost nor moved twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core import bus
from core.config import Settings
from core.db import transaction
from core.models import (
    Charger,
    ChargingSession,
    IdToken,
    IdTokenKind,
    IdTokenStatus,
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

log = logging.getLogger(__name__)


@dataclass
class Payments:
    """Everything the payment flows need, wired in ladeflyt.runtime."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    providers: dict[str, PaymentProvider]
    commands: bus.CommandBus
    vault: CardVault | None = None
    # Live updates about sessions whose state the payment jobs change (failed starts, ...).
    events: bus.EventBus | None = None

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


class HoldRefusal(StrEnum):
    NO_CARD = "no_card"
    UNAVAILABLE = "unavailable"  # no card provider, or it is down
    DECLINED = "declined"
    NEEDS_VERIFICATION = "needs_verification"  # 3-D Secure: only in the app


@dataclass(frozen=True)
class HoldRefused:
    reason: HoldRefusal
    message: str


async def default_card(session: AsyncSession, user_id: int) -> PaymentMethod | None:
    return (
        await session.execute(
            select(PaymentMethod)
            .where(PaymentMethod.user_id == user_id, PaymentMethod.kind == "card")
            .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id)
            .limit(1)
        )
    ).scalar_one_or_none()


def card_provider(ctx: Payments, card: PaymentMethod) -> PaymentProvider | None:
    try:
        return ctx.providers.get(card.provider) or ctx.for_method("card")
    except PaymentDeclined:
        return None


async def place_hold(
    ctx: Payments,
    user_id: int,
    *,
    description: str,
    id_token_pk: int | None,
    session_id: int | None = None,
    charger_id: int | None = None,
    amount_ore: int | None = None,
) -> Hold | HoldRefused:
    """Hold money on the driver's default card, off-session (no payer interaction).

    The hold pays for `session_id` (a STARTING session of a remote start) or, when a charger
    asked about a tag, for the session that charger reports next with `id_token_pk`."""
    amount = amount_ore or ctx.settings.payment_hold_ore
    async with transaction(ctx.sessions) as session:
        user = await session.get_one(User, user_id)
        card = await default_card(session, user_id)
        if card is None:
            return HoldRefused(HoldRefusal.NO_CARD, "add a payment card first")
        provider = card_provider(ctx, card)
        if provider is None:
            return HoldRefused(HoldRefusal.UNAVAILABLE, "card payments are not available right now")
        payment = Payment(
            reference=ledger.new_reference("s"),
            purpose="session",
            provider=provider.name,
            method="card",
            status=PaymentState.PENDING.value,
            amount_requested_ore=amount,
            user_id=user_id,
            id_token_pk=id_token_pk,
            session_id=session_id,
            charger_id=charger_id,
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
        payment_id = payment.id
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
        return HoldRefused(
            HoldRefusal.UNAVAILABLE, "the card payment service is unavailable; try again shortly"
        )
    if state is None:
        return HoldRefused(HoldRefusal.DECLINED, "the card was declined")
    if state.state != PaymentState.AUTHORIZED:
        if state.state == PaymentState.PENDING:
            await release(ctx, payment_id)
            return HoldRefused(
                HoldRefusal.NEEDS_VERIFICATION, "the card needs verification in the app"
            )
        return HoldRefused(HoldRefusal.DECLINED, "the card was declined")
    return Hold(payment_id, state.authorized_ore)


async def release(ctx: Payments, payment_id: int) -> None:
    """Cancel a hold that will not be used (the charger refused to start, ...).

    A guest's one-time id token is blocked first, so a start that arrives late cannot
    charge for free (a driver's own tags and app token stay usable: their next start is
    decided, and paid, on its own)."""
    async with transaction(ctx.sessions) as session:
        payment = await session.get_one(Payment, payment_id)
        if payment.id_token_pk is not None:
            token = await session.get(IdToken, payment.id_token_pk)
            if token is not None and token.kind == IdTokenKind.GUEST.value:
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


# --------------------------------------------------------------------------- per session


async def session_payments(session: AsyncSession, session_id: int) -> list[Payment]:
    """Every payment taken for a session: its hold, and a charge for what the hold did not
    cover (or the whole cost, for a session that started without a hold)."""
    rows = await session.execute(
        select(Payment)
        .where(Payment.session_id == session_id, Payment.purpose == "session")
        .order_by(Payment.id)
    )
    return list(rows.scalars())


async def payment_for_session(session: AsyncSession, cs: ChargingSession) -> Payment | None:
    """The session's hold (its first payment), if it has one."""
    payments = await session_payments(session, cs.id)
    return payments[0] if payments else None


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
