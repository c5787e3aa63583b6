"""Guests paying by link/QR: no account, the link's token is the key to their session.

/pay/<code> → choose card or Vipps (+ optional phone/e-mail) → provider checkout (a hold)
and a STARTING session → return / webhook: authorised → remote start with a guest id
token → live page → Stop → the charger stops → the exact cost is captured
(core.payments.settlement) → receipt. Drivers who pay with Vipps take the same path with
their own app token (core.sessions.flows).
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import bus
from core.chargers.service import find_by_code
from core.db import transaction
from core.messaging import outbox
from core.messaging.templates import kroner, kwh, render
from core.models import (
    OPEN_STATUSES,
    Charger,
    ChargingSession,
    Connector,
    GuestCheckout,
    IdToken,
    IdTokenKind,
    Payment,
    SessionStatus,
    StartChannel,
    User,
)
from core.operator import Operator
from core.payments import ledger
from core.payments.receipts import receipt_url
from core.payments.service import Payments, call_provider, release
from core.ports import PaymentProviderUnavailable, PaymentRequest, PaymentState
from core.sessions import driver, lifecycle
from core.sessions.costs import session_cost_ore
from core.timeutil import utcnow
from core.users.service import UserError, normalize_phone


class GuestError(Exception):
    """Shown to the guest: `key` names the page text (payments/i18n.py), the message is
    the English fallback."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Checkout:
    token: str  # the link's secret (only its hash is stored)
    redirect_url: str  # where the payer approves the hold
    session_id: int  # the STARTING session this checkout starts


@dataclass(frozen=True)
class CheckoutView:
    """What the guest's live page shows."""

    status: str
    charger_code: str
    evse_id: int
    connector_type: str
    max_kw: float
    language: str
    message: str | None
    session_id: int | None
    session_status: str | None
    started_at: datetime | None
    stopped_at: datetime | None
    energy_wh: int
    power_w: int | None
    cost_ore: int | None
    payment_status: str | None
    captured_ore: int
    method: str | None
    # A signed-in driver's own session (started in the app, paid in Vipps): the app has a
    # page for it, where the driver is sent back to.
    driver_session_id: int | None = None


async def connector_for(
    session: AsyncSession, code: str, evse_id: int | None
) -> tuple[Charger, Connector] | None:
    charger = await find_by_code(session, code)
    if charger is None:
        return None
    connectors = sorted(charger.connectors, key=lambda c: (c.evse_id, c.connector_id))
    if evse_id is not None:
        connectors = [c for c in connectors if c.evse_id == evse_id]
    else:
        connectors = [c for c in connectors if c.status in driver.STARTABLE] or connectors
    return (charger, connectors[0]) if connectors else None


async def start_checkout(
    ctx: Payments,
    code: str,
    evse_id: int,
    method: str,
    *,
    phone: str | None,
    email: str | None,
    language: str,
    user_id: int | None = None,
    channel: StartChannel = StartChannel.GUEST,
) -> Checkout:
    """Create the checkout, its STARTING session and the provider payment.

    With `user_id` (a signed-in driver paying with Vipps) the session is theirs and starts
    with their own app/SMS token."""
    provider = ctx.for_method(method)
    token = secrets.token_urlsafe(24)
    base = ctx.settings.public_base_url.rstrip("/")
    if phone:
        try:
            phone = normalize_phone(phone)
        except UserError as error:
            raise GuestError("invalid_phone", str(error)) from None
    async with transaction(ctx.sessions) as session:
        found = await connector_for(session, code, evse_id)
        if found is None:
            raise GuestError("unknown_connector", "unknown charger or connector")
        charger, connector = found
        if not charger.online or not ctx.commands.is_connected(charger.charge_point_id):
            raise GuestError("charger_offline", "the charger is offline")
        if connector.status not in driver.STARTABLE:
            raise GuestError("connector_busy", f"the connector is {connector.status}")
        if user_id is not None:
            kind = IdTokenKind.SMS if channel == StartChannel.SMS else IdTokenKind.APP
            user = await session.get_one(User, user_id)
            value = await driver.driver_token(session, user, kind)
            guest_token = (
                await session.execute(select(IdToken).where(IdToken.token == value))
            ).scalar_one()
        else:
            guest_token = IdToken(
                token="GST" + secrets.token_hex(8).upper(),
                kind=IdTokenKind.GUEST.value,
                label="guest",
            )
            session.add(guest_token)
            await session.flush()
        cs = await lifecycle.open_starting(
            session,
            connector=connector,
            user_id=user_id,
            id_token_pk=guest_token.id,
            id_token=guest_token.token,
            channel=channel.value,
        )
        payment = Payment(
            reference=ledger.new_reference("g"),
            purpose="session",
            provider=provider.name,
            method=provider.method,
            status=PaymentState.PENDING.value,
            amount_requested_ore=ctx.settings.guest_hold_ore,
            id_token_pk=guest_token.id,
            user_id=user_id,
            session_id=cs.id,
            charger_id=charger.id,
        )
        session.add(payment)
        await session.flush()
        checkout = GuestCheckout(
            token_hash=token_hash(token),
            connector_pk=connector.id,
            language=language,
            phone=phone,
            email=email,
            status="paying",
            payment_id=payment.id,
            id_token_pk=guest_token.id,
            expires_at=utcnow() + timedelta(seconds=ctx.settings.guest_checkout_ttl_s),
        )
        session.add(checkout)
        request = PaymentRequest(
            amount_ore=ctx.settings.guest_hold_ore,
            reference=payment.reference,
            description=f"Lading {charger.public_code or charger.charge_point_id}",
            return_url=f"{base}/pay/c/{token}",
            phone=phone,
            email=email,
            language=language,
        )
        payment_id, session_id = payment.id, cs.id
    try:
        state = await call_provider(
            ctx,
            payment_id,
            "authorize",
            f"authorize:{request.reference}",
            request.amount_ore,
            lambda: provider.create(request),
        )
    except PaymentProviderUnavailable:
        await _set(ctx, token, "failed", "the payment service is unavailable; try again")
        await lifecycle.fail_start(ctx, session_id, "the payment service was unavailable")
        raise GuestError(
            "payment_unavailable", "the payment service is unavailable; try again shortly"
        ) from None
    if state is None or state.redirect_url is None:
        await _set(ctx, token, "failed", "the payment could not be started")
        await lifecycle.fail_start(ctx, session_id, "the payment could not be started")
        raise GuestError("payment_not_started", "the payment could not be started")
    return Checkout(token, state.redirect_url, session_id)


async def _set(ctx: Payments, token: str, status: str, message: str | None = None) -> None:
    async with transaction(ctx.sessions) as session:
        checkout = await _checkout(session, token)
        if checkout is not None:
            checkout.status, checkout.message = status, message


async def _checkout(session: AsyncSession, token: str) -> GuestCheckout | None:
    return (
        await session.execute(
            select(GuestCheckout).where(GuestCheckout.token_hash == token_hash(token))
        )
    ).scalar_one_or_none()


async def advance(ctx: Payments, token: str) -> None:
    """The guest came back from the payment page: move their checkout on."""
    async with ctx.sessions() as session:
        checkout = await _checkout(session, token)
        checkout_id = checkout.id if checkout is not None else None
    if checkout_id is not None:
        await advance_checkout(ctx, checkout_id)


async def advance_checkout(ctx: Payments, checkout_id: int) -> None:
    """Once the payment is authorised, start charging (exactly once)."""
    async with ctx.sessions() as session:
        checkout = await session.get(GuestCheckout, checkout_id)
        if checkout is None or checkout.payment_id is None or checkout.status != "paying":
            return
        payment_id = checkout.payment_id
        expired = checkout.expires_at <= utcnow()
    session_id = await _session_id(ctx, payment_id)
    if expired:  # never completed in time: nothing may start from this link any more
        await release(ctx, payment_id)
        await _set_status(ctx, checkout_id, "abandoned", "the payment link has expired")
        if session_id is not None:
            await lifecycle.fail_start(ctx, session_id, "the payment link expired")
        return
    from core.payments.jobs import refresh

    try:
        payment = await refresh(ctx, payment_id)
    except PaymentProviderUnavailable:
        return
    if payment.status in (
        PaymentState.FAILED.value,
        PaymentState.CANCELLED.value,
        PaymentState.EXPIRED.value,
    ):
        await _set_status(ctx, checkout_id, "abandoned", "the payment was not completed")
        if session_id is not None:
            await lifecycle.fail_start(ctx, session_id, "the payment was not completed")
        return
    if payment.status != PaymentState.AUTHORIZED.value:
        return
    async with transaction(ctx.sessions) as session:
        # Claim the start atomically: the browser's return, a webhook and reconciliation
        # may all get here at once, and only one of them may start the charger.
        claimed = await session.execute(
            update(GuestCheckout)
            .where(GuestCheckout.id == checkout_id, GuestCheckout.status == "paying")
            .values(status="starting")
        )
        if getattr(claimed, "rowcount", 0) != 1:
            return
        checkout = await session.get_one(GuestCheckout, checkout_id)
        row = (
            await session.execute(
                select(Connector, Charger, IdToken)
                .join(Charger, Charger.id == Connector.charger_id)
                .join(IdToken, IdToken.id == checkout.id_token_pk)
                .where(Connector.id == checkout.connector_pk)
            )
        ).one()
        connector, charger, id_token = row
        cs = await session.get(ChargingSession, session_id) if session_id else None
        plan = driver.StartPlan(
            connector.id,
            charger.charge_point_id,
            connector.evse_id,
            connector.connector_id,
            id_token.token,
            remote_start_id=cs.remote_start_id if cs else None,
        )
    if session_id is None:  # a checkout from before sessions started as STARTING
        outcome: driver.Started | driver.Refused = await driver.send_start(
            ctx.commands, plan, timeout=ctx.settings.remote_start_timeout_s
        )
    else:
        outcome = await lifecycle.send_remote_start(ctx, plan, session_id)
    if isinstance(outcome, driver.Refused):
        if outcome.uncertain:  # it may still start: keep the hold, the session decides
            await _set_status(ctx, checkout_id, "charging", outcome.message)
            return
        await release(ctx, payment_id)
        await _set_status(ctx, checkout_id, "failed", outcome.message)
        return
    await _set_status(ctx, checkout_id, "charging")


async def _session_id(ctx: Payments, payment_id: int) -> int | None:
    async with ctx.sessions() as session:
        payment = await session.get(Payment, payment_id)
        return payment.session_id if payment is not None else None


async def _set_status(
    ctx: Payments, checkout_id: int, status: str, message: str | None = None
) -> None:
    async with transaction(ctx.sessions) as session:
        checkout = await session.get_one(GuestCheckout, checkout_id)
        checkout.status, checkout.message = status, message


async def checkouts_waiting_for(session: AsyncSession, payment_id: int) -> list[int]:
    rows = await session.execute(
        select(GuestCheckout.id).where(
            GuestCheckout.payment_id == payment_id, GuestCheckout.status == "paying"
        )
    )
    return list(rows.scalars())


async def stop(ctx: Payments, token: str) -> str | None:
    """The guest pressed Stop. Returns a message if it could not be done."""
    async with ctx.sessions() as session:
        checkout = await _checkout(session, token)
        if checkout is None:
            return "unknown link"
        cs = await _session_of(session, checkout)
        if cs is None or cs.status not in OPEN_STATUSES:
            return "no active session"
        cp_id = (await session.get_one(Charger, cs.charger_id)).charge_point_id
        transaction_id = cs.transaction_id
    try:
        result = await ctx.commands.send(cp_id, bus.RemoteStop(transaction_id=transaction_id))
    except bus.CommandError as error:
        return f"the charger did not confirm: {error}"
    return None if result.accepted else f"the charger answered {result.status}"


async def _session_of(session: AsyncSession, checkout: GuestCheckout) -> ChargingSession | None:
    payment = await session.get(Payment, checkout.payment_id) if checkout.payment_id else None
    if payment is not None and payment.session_id is not None:
        return await session.get(ChargingSession, payment.session_id)
    if checkout.id_token_pk is None:
        return None
    return (
        await session.execute(
            select(ChargingSession)
            .where(ChargingSession.id_token_pk == checkout.id_token_pk)
            .order_by(ChargingSession.started_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def view(ctx: Payments, token: str) -> CheckoutView | None:
    async with transaction(ctx.sessions) as session:
        checkout = await _checkout(session, token)
        if checkout is None:
            return None
        connector = await session.get_one(Connector, checkout.connector_pk)
        charger = await session.get_one(Charger, connector.charger_id)
        cs = await _session_of(session, checkout)
        driver_session_id = cs.id if cs is not None and cs.user_id is not None else None
        if cs is not None and cs.status in (
            SessionStatus.STARTING.value,
            SessionStatus.FAILED.value,
        ):
            cs = None  # not charging (yet): the page shows the checkout's own state
        payment = await session.get(Payment, checkout.payment_id) if checkout.payment_id else None
        status = checkout.status
        if cs is not None and cs.status == SessionStatus.COMPLETED.value and status != "completed":
            checkout.status = status = "completed"
        cost = await session_cost_ore(session, cs) if cs is not None else None
        return CheckoutView(
            status=status,
            charger_code=charger.public_code or charger.charge_point_id,
            evse_id=connector.evse_id,
            connector_type=connector.connector_type,
            max_kw=connector.max_power_w / 1000,
            language=checkout.language,
            message=checkout.message,
            session_id=cs.id if cs else None,
            session_status=cs.status if cs else None,
            started_at=cs.started_at if cs else None,
            stopped_at=cs.stopped_at if cs else None,
            energy_wh=cs.energy_wh if cs else 0,
            power_w=cs.last_power_w if cs else None,
            cost_ore=cost,
            payment_status=payment.status if payment else None,
            captured_ore=payment.amount_captured_ore if payment else 0,
            method=payment.method if payment else None,
            driver_session_id=driver_session_id,
        )


async def send_receipt(ctx: Payments, session_id: int) -> bool:
    """SMS receipt to a guest who left a phone number (once per session)."""
    async with transaction(ctx.sessions) as session:
        checkout = (
            await session.execute(
                select(GuestCheckout)
                .join(Payment, Payment.id == GuestCheckout.payment_id)
                .where(Payment.session_id == session_id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if checkout is None or not checkout.phone:
            return False
        cs = await session.get_one(ChargingSession, session_id)
        charger = await session.get_one(Charger, cs.charger_id)
        lang = checkout.language
        text = render(
            "guest_receipt",
            lang,
            Operator.from_settings(ctx.settings),
            code=charger.public_code or charger.charge_point_id,
            kwh=kwh(cs.energy_wh, lang),
            cost=kroner(cs.cost_ore, lang),
            receipt=receipt_url(ctx.settings, session_id),
        )
        return await outbox.queue_sms(
            session,
            to=checkout.phone,
            kind="guest_receipt",
            body=text,
            dedup_key=f"session:{session_id}:guest-receipt",
            urgent=True,
            essential=True,
        )
