"""Starting a charging session: one flow for every way a driver starts.

Two entry points, one set of rules for who pays (`_payer`):

- `start_remote` — the CSMS asks the charger (app, SMS; guests through
  core.payments.guest): check the driver and the connector, open a STARTING session, secure
  the payment (hold on the saved card, Vipps approval, invoice agreement, free tariff),
  send the remote start, and record the outcome on the session.
- `authorize_start` — the charger asks about a token (Authorize, StartTransaction,
  TransactionEvent): a token of a remote start belongs to its STARTING session; a guest's
  one-time token to its payment; a driver's RFID tag, linked car (Autocharge vehicle id)
  or Plug & Charge contract (eMAID) gets the same payment rules as the app, with the hold
  placed off-session on the spot, and is refused (with a message for the charger's
  display) when the driver has no way to pay. An unknown vehicle id is refused and
  offered for linking (core.identity.autocharge).

Whatever happens at the start, a completed session is settled by core.payments.settlement
(a start the charger made offline, from its local cache, is charged afterwards).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import transaction
from core.identity import autocharge
from core.identity.tokens import is_vehicle_token
from core.models import (
    BUSY_STATUSES,
    OPEN_STATUSES,
    ChargingSession,
    Connector,
    IdToken,
    IdTokenKind,
    Payment,
    PaymentMethod,
    SessionStatus,
    StartChannel,
    User,
)
from core.payments import guest
from core.payments.service import Hold, HoldRefusal, HoldRefused, Payments, place_hold
from core.ports import PaymentState
from core.sessions import driver, lifecycle
from core.sessions import service as sessions
from core.sessions.costs import connector_quotes
from core.sessions.schemas import TransactionEventIn
from core.timeutil import utcnow
from core.users.service import Authorization, AuthorizationStatus
from core.users.service import authorize as token_status

log = logging.getLogger(__name__)


class PayBy(StrEnum):
    """How a driver's session will be paid, decided before it starts."""

    INVOICE = "invoice"
    FREE = "free"
    CARD = "card"
    VIPPS = "vipps"  # approved by the driver in Vipps: only where the driver is present
    NOTHING = "nothing"  # no way to pay: the start is refused


@dataclass(frozen=True)
class ApproveInVipps:
    """The driver approves the hold in Vipps; charging starts when they have."""

    session_id: int
    redirect_url: str
    status_url: str


async def _payer(
    session: AsyncSession,
    user: User,
    connector_pk: int | None,
    at: datetime,
    *,
    present: bool = False,
) -> PayBy:
    """How this start is paid. A driver who is there (app, SMS) pays with their default
    method; a start the charger asks about (a tag) needs one that works unattended, a card."""
    if user.invoice_billing:
        return PayBy.INVOICE
    if connector_pk is not None:
        quote = (await connector_quotes(session, [connector_pk], user.id, at)).get(connector_pk)
        if quote is not None and quote.free:
            return PayBy.FREE
    kinds = list(
        (
            await session.execute(
                select(PaymentMethod.kind)
                .where(PaymentMethod.user_id == user.id)
                .order_by(PaymentMethod.is_default.desc(), PaymentMethod.id)
            )
        ).scalars()
    )
    if present and kinds and kinds[0] == "vipps":
        return PayBy.VIPPS
    if "card" in kinds:
        return PayBy.CARD
    if "vipps" in kinds:
        return PayBy.VIPPS
    return PayBy.NOTHING


# ------------------------------------------------------------------ the CSMS starts


async def start_remote(
    ctx: Payments,
    user_id: int,
    connector_pk: int,
    channel: StartChannel,
    *,
    vehicle_id: int | None = None,
) -> driver.Started | driver.Refused | ApproveInVipps:
    """Start charging for a driver (app or SMS); the result names the new session."""
    token_kind = IdTokenKind.SMS if channel == StartChannel.SMS else IdTokenKind.APP
    now = utcnow()
    async with transaction(ctx.sessions) as session:
        user = await session.get_one(User, user_id)
        plan = await driver.prepare_start(
            session, ctx.commands, user, connector_pk, vehicle_id=vehicle_id, token_kind=token_kind
        )
        if isinstance(plan, driver.Refused):
            return plan
        pay_by = await _payer(session, user, connector_pk, now, present=True)
        if pay_by == PayBy.NOTHING:
            return driver.Refused(
                driver.Refusal.PAYMENT_METHOD_REQUIRED, "add a payment method before charging"
            )
        connector = await session.get_one(Connector, connector_pk)
        token = (
            await session.execute(select(IdToken).where(IdToken.token == plan.id_token))
        ).scalar_one()
        if pay_by == PayBy.VIPPS:
            language, phone, email = user.language, user.phone, user.email
        else:
            cs = await lifecycle.open_starting(
                session,
                connector=connector,
                user_id=user.id,
                id_token_pk=token.id,
                id_token=token.token,
                channel=channel.value,
                at=now,
            )
            session_id, remote_start_id = cs.id, cs.remote_start_id
    description = f"Lading {plan.charge_point_id}"
    if pay_by == PayBy.VIPPS:
        try:
            checkout = await guest.start_checkout(
                ctx,
                plan.charge_point_id,
                plan.evse_id,
                "vipps",
                phone=phone,
                email=email,
                language=language,
                user_id=user_id,
                channel=channel,
            )
        except guest.GuestError as error:
            return driver.Refused(driver.Refusal.NOT_ALLOWED, str(error))
        base = ctx.settings.public_base_url.rstrip("/")
        return ApproveInVipps(
            checkout.session_id, checkout.redirect_url, f"{base}/pay/c/{checkout.token}"
        )
    await _address_link_offers(ctx, connector.charger_id, user_id, now)
    if pay_by == PayBy.CARD:
        hold = await place_hold(
            ctx,
            user_id,
            description=description,
            id_token_pk=token.id,
            session_id=session_id,
            charger_id=connector.charger_id,
        )
        if isinstance(hold, HoldRefused):
            await lifecycle.fail_start(ctx, session_id, hold.message)
            return driver.Refused(
                driver.Refusal.PAYMENT_METHOD_REQUIRED, hold.message, session_id=session_id
            )
    return await lifecycle.send_remote_start(
        ctx, replace(plan, remote_start_id=remote_start_id), session_id
    )


async def stop_for_driver(
    ctx: Payments, user_id: int, session_id: int
) -> driver.Stopping | driver.Refused:
    """Stop a driver's session; one that has not started yet is cancelled (FAILED, its
    hold released) rather than left waiting for a car."""
    async with ctx.sessions() as session:
        cs = await session.get(ChargingSession, session_id)
        if cs is None or cs.user_id != user_id:
            return driver.Refused(driver.Refusal.NOT_YOUR_SESSION, "no such session of yours")
        starting = cs.status == SessionStatus.STARTING.value
    if starting and await lifecycle.fail_start(ctx, session_id, "cancelled by the driver"):
        return driver.Stopping(session_id)
    async with ctx.sessions() as session:
        user = await session.get_one(User, user_id)
        return await driver.stop_charging(
            session, ctx.commands, user, session_id, timeout=ctx.settings.remote_start_timeout_s
        )


# ------------------------------------------------------------------ the charger asks


_DISPLAY = {
    "nb": {
        "declined": "Kortet ble avvist. Bruk appen.",
        "no_payment": "Ingen betalingsmåte. Legg til kort i appen.",
        "vipps": "Start med Vipps i appen.",
        "unavailable": "Betaling utilgjengelig. Prøv igjen.",
        "not_approved": "Betalingen er ikke godkjent.",
        "used": "Betalingen er allerede brukt.",
        "unknown_car": "Ukjent bil. Koble bilen til kontoen i appen.",
    },
    "en": {
        "declined": "Card declined. Use the app.",
        "no_payment": "No payment method. Add a card in the app.",
        "vipps": "Start with Vipps in the app.",
        "unavailable": "Payment unavailable. Try again.",
        "not_approved": "The payment is not approved.",
        "used": "The payment has been used already.",
        "unknown_car": "Unknown car. Link it to your account in the app.",
    },
}


def _refused(
    base: Authorization, key: str, language: str, status: AuthorizationStatus
) -> Authorization:
    messages = _DISPLAY.get(language, _DISPLAY["nb"])
    return replace(base, status=status, message=messages[key], session_id=None, payment_id=None)


async def _starting_for(
    session: AsyncSession,
    charger_id: int,
    token_pk: int,
    remote_start_id: int | None,
    at: datetime,
    timeout_s: int,
) -> ChargingSession | None:
    """The STARTING session a charger-reported start belongs to, if any."""
    query = select(ChargingSession).where(
        ChargingSession.charger_id == charger_id,
        ChargingSession.status == SessionStatus.STARTING.value,
        ChargingSession.started_at >= at - timedelta(seconds=timeout_s * 2),
    )
    if remote_start_id is not None:
        found = (
            await session.execute(
                query.where(ChargingSession.remote_start_id == remote_start_id).limit(1)
            )
        ).scalar_one_or_none()
        if found is not None:
            return found
    return (
        await session.execute(
            query.where(ChargingSession.id_token_pk == token_pk)
            .order_by(ChargingSession.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()


async def authorize_start(
    ctx: Payments,
    charger_id: int,
    token: str,
    at: datetime,
    *,
    remote_start_id: int | None = None,
    evse_id: int | None = None,
) -> Authorization:
    """Whether the charger may charge for `token`, and what pays for it.

    May place a hold on the driver's card (a provider call): run it outside the charger's
    write transaction, then hand the answer to core.sessions.service, which ties the
    session to the hold."""
    async with ctx.sessions() as session:
        base = await token_status(session, token, at)
        if not base.accepted or base.id_token_pk is None:
            if base.status == AuthorizationStatus.INVALID and is_vehicle_token(token):
                return await _unknown_car(ctx, base, token, charger_id, evse_id, at)
            return base
        row = await session.get_one(IdToken, base.id_token_pk)
        starting = await _starting_for(
            session,
            charger_id,
            row.id,
            remote_start_id,
            at,
            ctx.settings.session_start_timeout_s,
        )
        language = "nb"
        user = await session.get(User, row.user_id) if row.user_id is not None else None
        if user is not None:
            language = user.language
        if starting is not None:
            payments = list(
                (
                    await session.execute(select(Payment).where(Payment.session_id == starting.id))
                ).scalars()
            )
            if payments and not any(p.status == PaymentState.AUTHORIZED.value for p in payments):
                return _refused(base, "not_approved", language, AuthorizationStatus.BLOCKED)
            return replace(
                base,
                session_id=starting.id,
                payment_id=payments[0].id if payments else None,
                channel=starting.channel,
            )
        channel = _channel(row)
        if await _open_here(session, charger_id, row.id):
            # Presented to stop (or re-authorise) a session it is charging already.
            return replace(base, channel=channel)
        if row.kind == IdTokenKind.GUEST.value or user is None:
            return await _one_time(session, base, language)
        user_id, token_pk, is_car = user.id, row.id, row.kind == IdTokenKind.VEHICLE.value
        connector_pk = await _connector_pk(session, charger_id, evse_id)
        pay_by = await _payer(session, user, connector_pk, at)
    if not is_car:
        await _address_link_offers(ctx, charger_id, user_id, at)
    async with ctx.sessions() as session:
        if pay_by in (PayBy.INVOICE, PayBy.FREE):
            return replace(base, channel=channel)
        if pay_by == PayBy.VIPPS:
            return _refused(base, "vipps", language, AuthorizationStatus.NO_CREDIT)
        if pay_by == PayBy.NOTHING:
            return _refused(base, "no_payment", language, AuthorizationStatus.NO_CREDIT)
        waiting = await _unused_tag_hold(
            session, token_pk, charger_id, at, ctx.settings.tag_hold_ttl_s
        )
        if waiting is not None:
            return replace(base, payment_id=waiting, channel=channel)
    hold = await place_hold(
        ctx,
        user_id,
        description=f"Lading ({token.strip().upper()})",
        id_token_pk=token_pk,
        charger_id=charger_id,
    )
    if isinstance(hold, Hold):
        return replace(base, payment_id=hold.payment_id, channel=channel)
    key = "unavailable" if hold.reason == HoldRefusal.UNAVAILABLE else "declined"
    log.info("tag %s refused at charger %s: %s", token, charger_id, hold.message)
    return _refused(base, key, language, AuthorizationStatus.NO_CREDIT)


async def decide_start_transaction(
    ctx: Payments,
    charger_id: int,
    *,
    connector_id: int,
    id_tag: str,
    meter_start_wh: int,
    timestamp_raw: str,
    at: datetime,
) -> Authorization:
    """The decision for a 1.6 StartTransaction: a replay gets the answer it got before
    (and places no second hold); a new start is decided like any other."""
    key = sessions.start_key_16(connector_id, id_tag, meter_start_wh, timestamp_raw)
    async with ctx.sessions() as session:
        replayed = await sessions.replayed_start(session, charger_id, key)
        if replayed is not None:
            return sessions.stored_authorization(replayed)
    return await authorize_start(ctx, charger_id, id_tag, at, evse_id=connector_id)


async def decide_transaction_event(
    ctx: Payments, charger_id: int, event: TransactionEventIn, at: datetime
) -> Authorization | None:
    """The decision for a 2.x TransactionEvent's idToken: decided once, when the
    transaction first names a token; later events only get the token's status."""
    if not event.id_token:
        return None
    async with ctx.sessions() as session:
        known = (
            await session.execute(
                select(ChargingSession.id_token_pk).where(
                    ChargingSession.charger_id == charger_id,
                    ChargingSession.transaction_id == event.transaction_id,
                )
            )
        ).first()
        if known is not None and known[0] is not None:
            return await token_status(session, event.id_token, at)
    return await authorize_start(
        ctx,
        charger_id,
        event.id_token,
        at,
        remote_start_id=event.remote_start_id,
        evse_id=event.evse_id,
    )


def _channel(token: IdToken) -> str:
    """How a session started by the charger asking about this token was started."""
    if token.kind == IdTokenKind.VEHICLE.value:
        return StartChannel.AUTOCHARGE.value
    if token.kind == IdTokenKind.CONTRACT.value:
        return StartChannel.PLUG_AND_CHARGE.value
    return StartChannel.RFID.value


async def _unknown_car(
    ctx: Payments,
    base: Authorization,
    token: str,
    charger_id: int,
    evse_id: int | None,
    at: datetime,
) -> Authorization:
    """Refused, and remembered: the driver who owns the car can link it in the app."""
    async with transaction(ctx.sessions) as session:
        await autocharge.record_unknown(session, token, charger_id, evse_id, at)
    return replace(base, message=_DISPLAY["nb"]["unknown_car"])


async def _address_link_offers(ctx: Payments, charger_id: int, user_id: int, at: datetime) -> None:
    """A driver starting here just after a car was refused here gets its link offer."""
    since = autocharge.offer_window(at, ctx.settings.autocharge_offer_ttl_s)
    async with ctx.sessions() as session:
        if not await autocharge.has_pending_at(session, charger_id, since):
            return
    async with transaction(ctx.sessions) as session:
        await autocharge.address_offers(session, charger_id, user_id, since)


async def _open_here(session: AsyncSession, charger_id: int, token_pk: int) -> bool:
    return (
        await session.execute(
            select(ChargingSession.id)
            .where(
                ChargingSession.charger_id == charger_id,
                ChargingSession.id_token_pk == token_pk,
                ChargingSession.status.in_(OPEN_STATUSES),
            )
            .limit(1)
        )
    ).first() is not None


async def _one_time(session: AsyncSession, base: Authorization, language: str) -> Authorization:
    """A guest's token (or a legacy per-payment token): its payment pays, once."""
    payment = (
        await session.execute(
            select(Payment)
            .where(Payment.id_token_pk == base.id_token_pk, Payment.purpose == "session")
            .order_by(Payment.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if payment is None:
        return _refused(base, "no_payment", language, AuthorizationStatus.INVALID)
    if payment.status != PaymentState.AUTHORIZED.value:
        return _refused(base, "not_approved", language, AuthorizationStatus.BLOCKED)
    if payment.session_id is not None:
        owner = await session.get(ChargingSession, payment.session_id)
        if owner is not None and owner.status not in BUSY_STATUSES:
            return _refused(base, "used", language, AuthorizationStatus.BLOCKED)
    return replace(
        base,
        payment_id=payment.id,
        session_id=payment.session_id,
        channel=StartChannel.GUEST.value,
    )


async def _connector_pk(session: AsyncSession, charger_id: int, evse_id: int | None) -> int | None:
    query = select(Connector.id).where(Connector.charger_id == charger_id)
    if evse_id is not None:
        query = query.where(Connector.evse_id == evse_id)
    return (await session.execute(query.order_by(Connector.evse_id).limit(1))).scalar()


async def _unused_tag_hold(
    session: AsyncSession, token_pk: int, charger_id: int, at: datetime, ttl_s: int
) -> int | None:
    """A hold placed for this tag at this charger (its Authorize) not yet used by a session."""
    return (
        await session.execute(
            select(Payment.id)
            .where(
                Payment.id_token_pk == token_pk,
                Payment.charger_id == charger_id,
                Payment.session_id.is_(None),
                Payment.purpose == "session",
                Payment.status == PaymentState.AUTHORIZED.value,
                Payment.created_at >= at - timedelta(seconds=ttl_s),
            )
            .order_by(Payment.id.desc())
            .limit(1)
        )
    ).scalar()
