"""Settling a finished session: every completed session ends in exactly one settled state.

Whatever started it (app, SMS, RFID, guest link, an offline start the charger reports
later), the same rules decide who pays, in this order:
1. not priced yet                    → UNPRICED (the settlement job retries)
2. a hold was placed for it          → capture the exact cost; a cost above the hold is
                                        charged separately on the same card
3. it cost nothing                   → NOTHING_DUE (free by tariff, or nothing delivered)
4. an invoice customer's session     → TO_INVOICE (the monthly run adds the line)
5. a driver with a saved card        → charge the exact cost off-session now (a session
                                        that started without a hold: offline, cached tag)
6. nobody can be charged             → UNPAID, with the reason in `payment_note`

Provider calls run outside database transactions and under fixed idempotency keys
(`capture:<reference>`, a payment reference derived from the session for charges), so a
retried or concurrent settlement never moves money twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import insert_ignore, transaction
from core.identity import v2g
from core.models import (
    ChargingSession,
    IdToken,
    Payment,
    SessionStatus,
    SettlementState,
    User,
)
from core.payments import ledger
from core.payments.service import (
    Payments,
    call_provider,
    card_provider,
    default_card,
    session_payments,
)
from core.ports import PaymentRequest, PaymentState, ProviderPayment

log = logging.getLogger(__name__)

# States the settlement job still works on.
UNSETTLED = (
    SettlementState.NONE.value,
    SettlementState.UNPRICED.value,
    SettlementState.CAPTURE_FAILED.value,
)


class UnpaidReason:
    """Why nobody could be charged for a session (`payment_note` of UNPAID sessions)."""

    NO_PAYMENT_METHOD = "no_payment_method"
    CARD_DECLINED = "card_declined"
    PAYMENT_NOT_COMPLETED = "payment_not_completed"
    UNKNOWN_TOKEN = "unknown_token"
    NO_ACCOUNT = "no_account"


@dataclass(frozen=True)
class _Facts:
    session_id: int
    cost_ore: int | None
    user_id: int | None
    invoice_billing: bool
    token_known: bool
    hold_id: int | None
    hold_status: str | None
    collected_ore: int


async def _facts(session: AsyncSession, cs: ChargingSession) -> _Facts:
    payments = await session_payments(session, cs.id)
    hold = next((p for p in payments if p.status == PaymentState.AUTHORIZED.value), None)
    if hold is None and payments:
        hold = payments[0]
    user = await session.get(User, cs.user_id) if cs.user_id else None
    token_known = cs.id_token_pk is not None or (
        cs.id_token is not None
        and (await session.execute(select(IdToken.id).where(IdToken.token == cs.id_token))).first()
        is not None
    )
    return _Facts(
        session_id=cs.id,
        cost_ore=cs.cost_ore,
        user_id=cs.user_id,
        invoice_billing=bool(user and user.invoice_billing),
        token_known=token_known,
        hold_id=hold.id if hold else None,
        hold_status=hold.status if hold else None,
        collected_ore=sum(p.amount_captured_ore for p in payments),
    )


async def _mark(
    ctx: Payments, session_id: int, state: SettlementState, note: str | None = None
) -> str:
    async with transaction(ctx.sessions) as session:
        return _set(await session.get_one(ChargingSession, session_id), state, note)


def _set(cs: ChargingSession, state: SettlementState, note: str | None = None) -> str:
    cs.payment_state, cs.payment_note = state.value, note
    return state.value


Then = Callable[[AsyncSession, ProviderPayment | None], Awaitable[None]]


def _recording(session_id: int, decide: Callable[[ProviderPayment | None], Any]) -> Then:
    """A `then` for call_provider: the session's settlement is recorded in the same
    transaction as the provider's answer, so the ledger and the session never disagree.
    `decide` returns (state, note), or None to leave the session as it is."""

    async def then(session: AsyncSession, answer: ProviderPayment | None) -> None:
        decided = decide(answer)
        cs = await session.get_one(ChargingSession, session_id)
        if decided is None:
            _flag(cs, "cost_above_hold")
            return
        _set(cs, *decided)

    return then


def _flag(cs: ChargingSession, flag: str) -> None:
    if flag not in (cs.flags or []):
        cs.flags = [*(cs.flags or []), flag]


async def settle_session(ctx: Payments, session_id: int) -> str | None:
    """Settle a completed session by the rules above; returns its payment state, or None
    for a session that is not completed (yet)."""
    async with ctx.sessions() as session:
        cs = await session.get(ChargingSession, session_id)
        if cs is None or cs.status != SessionStatus.COMPLETED.value:
            return None
        if cs.payment_state not in UNSETTLED:
            return cs.payment_state
        exported = cs.energy_exported_wh
        facts = await _facts(session, cs)
    if exported and not await _credit_export(ctx, session_id):
        return await _mark(ctx, session_id, SettlementState.UNPRICED, "no spot price for V2G")
    if facts.hold_id is not None and facts.hold_status == PaymentState.AUTHORIZED.value:
        if facts.cost_ore is None:
            # Not priced (e.g. a missing spot price): keep the hold; the job retries.
            return await _mark(ctx, session_id, SettlementState.UNPRICED)
        return await _capture_hold(ctx, facts)
    if facts.cost_ore is None:
        return await _mark(ctx, session_id, SettlementState.UNPRICED)
    if facts.hold_id is not None and facts.hold_status == PaymentState.CAPTURED.value:
        # Captured already (a settlement that died before recording the session's state).
        return await _after_capture(ctx, facts, facts.collected_ore)
    if facts.cost_ore == 0:
        return await _mark(ctx, session_id, SettlementState.NOTHING_DUE, "nothing to pay")
    if facts.user_id is None:
        reason = (
            UnpaidReason.PAYMENT_NOT_COMPLETED
            if facts.hold_id is not None
            else (UnpaidReason.NO_ACCOUNT if facts.token_known else UnpaidReason.UNKNOWN_TOKEN)
        )
        return await _mark(ctx, session_id, SettlementState.UNPAID, reason)
    if facts.invoice_billing:
        return await _mark(ctx, session_id, SettlementState.TO_INVOICE)
    return await _charge(ctx, facts, facts.cost_ore, "charge", SettlementState.PAID)


async def _credit_export(ctx: Payments, session_id: int) -> bool:
    """V2G: the energy the car gave back, credited to its owner (once); False while a spot
    price it needs is missing (the settlement job retries)."""
    settings = ctx.settings
    async with transaction(ctx.sessions) as session:
        cs = await session.get_one(ChargingSession, session_id)
        try:
            await v2g.record_credit(
                session, cs, settings.v2g_spot_area, settings.v2g_margin_ore_per_kwh
            )
        except v2g.SpotPriceMissing as error:
            log.warning("session %s: %s", session_id, error)
            return False
    return True


async def _capture_hold(ctx: Payments, facts: _Facts) -> str:
    assert facts.hold_id is not None and facts.cost_ore is not None
    async with transaction(ctx.sessions) as session:
        payment = await session.get_one(Payment, facts.hold_id)
        amount = min(facts.cost_ore, payment.amount_authorized_ore)
        provider = ctx.provider(payment.provider)
        ref, reference, authorized = (
            payment.provider_ref,
            payment.reference,
            payment.amount_authorized_ore,
        )
        kind = "capture" if amount > 0 else "cancel"
        key = f"{kind}:{reference}"
        if not await ledger.claim(session, payment, kind, key, amount):
            cs = await session.get_one(ChargingSession, facts.session_id)
            return cs.payment_state  # settled, or being settled, by another worker
    assert ref is not None
    if kind == "cancel":
        cancelled = _recording(
            facts.session_id,
            lambda done: (
                (SettlementState.NOTHING_DUE, "nothing to pay")
                if done is not None
                else (SettlementState.CANCEL_FAILED, None)
            ),
        )
        done = await call_provider(
            ctx, facts.hold_id, "cancel", key, 0, lambda: provider.cancel(ref, key), cancelled
        )
        return (SettlementState.NOTHING_DUE if done else SettlementState.CANCEL_FAILED).value
    covered = amount >= facts.cost_ore
    recorded = _recording(
        facts.session_id,
        lambda done: (
            (SettlementState.CAPTURE_FAILED, None)
            if done is None
            else ((SettlementState.PAID, None) if covered else None)
        ),
    )
    captured = await call_provider(
        ctx,
        facts.hold_id,
        "capture",
        key,
        amount,
        lambda: provider.capture(ref, amount, key),
        recorded,
    )
    if captured is None:
        return SettlementState.CAPTURE_FAILED.value
    if provider.method == "vipps" and amount < authorized:
        # Vipps keeps the rest reserved until it expires: cancel what we won't capture.
        rest = f"cancel:{reference}"
        await call_provider(
            ctx, facts.hold_id, "cancel", rest, 0, lambda: provider.cancel(ref, rest)
        )
    return await _after_capture(ctx, facts, amount)


async def _after_capture(ctx: Payments, facts: _Facts, captured_ore: int) -> str:
    """The hold is captured; a cost above it is charged separately on the same card."""
    assert facts.cost_ore is not None
    rest = facts.cost_ore - captured_ore
    if rest <= 0:
        return await _mark(ctx, facts.session_id, SettlementState.PAID)
    if facts.user_id is not None and not facts.invoice_billing:
        return await _charge(ctx, facts, rest, "rest", SettlementState.PAID)
    return await _mark(
        ctx,
        facts.session_id,
        SettlementState.PARTIALLY_PAID,
        f"{rest} øre above what was held could not be charged",
    )


async def _charge(
    ctx: Payments, facts: _Facts, amount_ore: int, what: str, success: SettlementState
) -> str:
    """Charge `amount_ore` on the driver's saved card now (no hold to capture from).

    The payment's reference is derived from the session, so two workers settling the same
    session create one payment between them and the provider sees one idempotency key."""
    assert facts.user_id is not None
    reference = f"lf-s{facts.session_id}-{what}"
    key = f"authorize:{reference}"
    outcome: SettlementState | str | None = None
    async with transaction(ctx.sessions) as session:
        card = await default_card(session, facts.user_id)
        provider = card_provider(ctx, card) if card is not None else None
        if card is None or provider is None:
            outcome = SettlementState.UNPAID
        else:
            user = await session.get_one(User, facts.user_id)
            await session.execute(
                insert_ignore(session, Payment).values(
                    reference=reference,
                    purpose="session",
                    provider=provider.name,
                    method="card",
                    status=PaymentState.PENDING.value,
                    amount_requested_ore=amount_ore,
                    user_id=facts.user_id,
                    session_id=facts.session_id,
                )
            )
            payment = await ledger.by_reference(session, reference)
            assert payment is not None
            if payment.status == PaymentState.CAPTURED.value:
                outcome = success
            elif not await ledger.claim(session, payment, "authorize", key, amount_ore):
                # Charged, or being charged, by another worker.
                outcome = (await session.get_one(ChargingSession, facts.session_id)).payment_state
            else:
                request = PaymentRequest(
                    amount_ore=amount_ore,
                    reference=reference,
                    description=f"Lading (økt {facts.session_id})",
                    return_url=f"{ctx.settings.public_base_url.rstrip('/')}/app",
                    manual_capture=False,
                    customer_ref=user.payment_customer_ref,
                    payment_method_ref=card.provider_ref,
                    phone=user.phone,
                    email=user.email,
                    language=user.language,
                )
                payment_id = payment.id
    if outcome == SettlementState.UNPAID:
        if what == "rest":
            return await _partially(ctx, facts, amount_ore, "no card to charge the rest")
        return await _mark(
            ctx, facts.session_id, SettlementState.UNPAID, UnpaidReason.NO_PAYMENT_METHOD
        )
    if isinstance(outcome, SettlementState):
        return await _mark(ctx, facts.session_id, outcome)
    if outcome is not None:
        return outcome
    assert provider is not None

    def decide(answer: ProviderPayment | None) -> tuple[SettlementState, str | None]:
        if answer is not None and answer.state == PaymentState.CAPTURED:
            return success, None
        if what == "rest":
            return SettlementState.PARTIALLY_PAID, f"{amount_ore} øre unpaid: card declined"
        return SettlementState.UNPAID, UnpaidReason.CARD_DECLINED

    # PaymentProviderUnavailable propagates: the settlement job retries with the same key.
    answer = await call_provider(
        ctx,
        payment_id,
        "authorize",
        key,
        amount_ore,
        lambda: provider.create(request),
        _recording(facts.session_id, decide),
    )
    return decide(answer)[0].value


async def _partially(ctx: Payments, facts: _Facts, rest_ore: int, why: str) -> str:
    return await _mark(
        ctx, facts.session_id, SettlementState.PARTIALLY_PAID, f"{rest_ore} øre unpaid: {why}"
    )
