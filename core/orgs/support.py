"""Customer support, for operator support and organisation admins (their own only):
find a driver, tag, charger or session; notes; and the support actions on a session
(stop, unlock, refund with a reason, resend the receipt), each audited.

Remote commands go through core.orgs.fleet.send_command (the same path as /api/v1's
commands); refunds through core.payments.service.refund. Everything is found through the
scoped repository first, so another organisation's object is NotFound.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import bus
from core.messaging import outbox
from core.messaging.templates import kroner, kwh, render
from core.models import (
    Charger,
    ChargingSession,
    GuestCheckout,
    IdToken,
    Payment,
    SmsMessage,
    SupportNote,
    User,
)
from core.operator import Operator
from core.orgs import fleet
from core.orgs import repository as repo
from core.orgs.audit import record, snapshot
from core.orgs.errors import Conflict, Invalid
from core.orgs.scope import Access, Actor
from core.payments.receipts import receipt_url
from core.payments.service import Payments, refund
from core.ports import PaymentDeclined
from core.users.service import UserError, normalize_phone, normalize_token


@dataclass
class Found:
    drivers: list[User] = field(default_factory=list)
    tags: list[IdToken] = field(default_factory=list)
    chargers: list[Charger] = field(default_factory=list)
    sessions: list[ChargingSession] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.drivers or self.tags or self.chargers or self.sessions)


async def search(session: AsyncSession, actor: Actor, text: str, limit: int = 20) -> Found:
    """By phone, name, RFID tag, charger code or session number, within the actor's scope."""
    q = text.strip()
    found = Found()
    if not q:
        return found
    drivers = repo.drivers_query(actor)
    conditions = [func.lower(User.name).contains(q.lower())]
    with contextlib.suppress(UserError):
        conditions.append(User.phone == normalize_phone(q))
    found.drivers = list(
        (await session.execute(drivers.where(or_(*conditions)).limit(limit))).scalars()
    )
    found.tags = list(
        (
            await session.execute(
                repo.id_tokens_query(actor)
                .where(IdToken.token == normalize_token(q), IdToken.user_id.is_not(None))
                .limit(limit)
            )
        ).scalars()
    )
    code = q.upper()
    found.chargers = list(
        (
            await session.execute(
                repo.chargers_query(actor)
                .where(
                    or_(Charger.charge_point_id == code, func.upper(Charger.public_code) == code)
                )
                .limit(limit)
            )
        ).scalars()
    )
    number = q.lstrip("#")
    if number.isdigit() and int(number) < 2**31:
        found.sessions = list(
            (
                await session.execute(
                    repo.sessions_query(actor).where(ChargingSession.id == int(number))
                )
            ).scalars()
        )
    return found


async def session_org(session: AsyncSession, cs: ChargingSession) -> int | None:
    charger = await session.get_one(Charger, cs.charger_id)
    return (await repo.organisations_of_sites(session, [charger.site_id])).get(charger.site_id or 0)


# --------------------------------------------------------------------------- notes


async def notes(
    session: AsyncSession,
    actor: Actor,
    *,
    user_id: int | None = None,
    session_id: int | None = None,
) -> list[SupportNote]:
    query = select(SupportNote).where(actor.org_filter(SupportNote.organisation_id))
    if user_id is not None:
        query = query.where(SupportNote.user_id == user_id)
    if session_id is not None:
        query = query.where(SupportNote.session_id == session_id)
    return list((await session.execute(query.order_by(SupportNote.id.desc()))).scalars())


async def add_note(
    session: AsyncSession,
    actor: Actor,
    text: str,
    *,
    user_id: int | None = None,
    session_id: int | None = None,
) -> SupportNote:
    """A note on a driver (one of the actor's members) or a session (at the actor's sites)."""
    body = text.strip()
    if not body or len(body) > 2000:
        raise Invalid("a note is 1-2000 characters")
    if (user_id is None) == (session_id is None):
        raise Invalid("a note is about a driver or a session")
    charger_id = None
    if session_id is not None:
        cs = await repo.get_session(session, actor, session_id)
        org_id = await session_org(session, cs)
        user_id, charger_id = cs.user_id, cs.charger_id
    else:
        assert user_id is not None
        await repo.get_driver(session, actor, user_id)
        orgs = await _driver_orgs(session, actor, user_id)
        org_id = min(orgs) if orgs else None
    actor.require(Access.SUPPORT, org_id, "note")
    note = SupportNote(
        organisation_id=org_id,
        user_id=user_id,
        session_id=session_id,
        charger_id=charger_id,
        author=actor.audit_label(),
        text=body,
    )
    session.add(note)
    await session.flush()
    await record(
        session, actor, "support_note.create", "support_note", note.id, org_id, after=snapshot(note)
    )
    return note


async def _driver_orgs(session: AsyncSession, actor: Actor, user_id: int) -> set[int]:
    from core.models import Membership

    rows = await session.execute(
        select(Membership.organisation_id).where(
            Membership.user_id == user_id, actor.org_filter(Membership.organisation_id)
        )
    )
    return set(rows.scalars())


# --------------------------------------------------------------------------- a driver


async def sms_log(session: AsyncSession, actor: Actor, user_id: int) -> list[SmsMessage]:
    user = await repo.get_driver(session, actor, user_id)
    return list(
        (
            await session.execute(
                select(SmsMessage)
                .where(SmsMessage.to == user.phone)
                .order_by(SmsMessage.id.desc())
                .limit(50)
            )
        ).scalars()
    )


async def payments_of(session: AsyncSession, actor: Actor, user_id: int) -> list[Payment]:
    """The driver's payments for sessions at the actor's sites (all, for operators)."""
    await repo.get_driver(session, actor, user_id)
    query = select(Payment).where(Payment.user_id == user_id)
    if actor.orgs() is not None:
        query = query.where(
            Payment.session_id.in_(repo.sessions_query(actor).with_only_columns(ChargingSession.id))
        )
    return list((await session.execute(query.order_by(Payment.id.desc()).limit(50))).scalars())


# --------------------------------------------------------------------------- actions


async def stop_session(
    session: AsyncSession, actor: Actor, commands: bus.CommandBus, session_id: int
) -> fleet.CommandOutcome:
    cs = await repo.get_session(session, actor, session_id)
    if cs.status not in ("active", "suspended"):
        raise Conflict("the session is not running")
    return await fleet.send_command(
        session, actor, commands, cs.charger_id, bus.RemoteStop(transaction_id=cs.transaction_id)
    )


async def unlock(
    session: AsyncSession, actor: Actor, commands: bus.CommandBus, session_id: int
) -> fleet.CommandOutcome:
    cs = await repo.get_session(session, actor, session_id)
    return await fleet.send_command(
        session,
        actor,
        commands,
        cs.charger_id,
        bus.UnlockConnector(connector_id=cs.connector_id or 1, evse_id=cs.evse_id),
    )


async def refund_session(
    session: AsyncSession,
    actor: Actor,
    payments: Payments,
    session_id: int,
    amount_ore: int,
    reason: str,
) -> Payment:
    """Give money back on the session's captured payment, with a reason (audited)."""
    cs = await repo.get_session(session, actor, session_id)
    org_id = await session_org(session, cs)
    actor.require(Access.SUPPORT, org_id, "session")
    why = reason.strip()
    if not why:
        raise Invalid("a refund needs a reason")
    payment = (
        await session.execute(
            select(Payment)
            .where(Payment.session_id == cs.id, Payment.amount_captured_ore > 0)
            .order_by(Payment.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if payment is None:
        raise Conflict("nothing was paid for this session")
    before = snapshot(payment)
    try:
        done = await refund(payments, payment.reference, amount_ore, why)
    except PaymentDeclined as error:
        raise Conflict(str(error)) from None
    await record(
        session,
        actor,
        "session.refund",
        "charging_session",
        cs.id,
        org_id,
        before=before,
        after={**(snapshot(done) or {}), "refund_ore": amount_ore, "reason": why},
    )
    return done


async def resend_receipt(
    session: AsyncSession, actor: Actor, payments: Payments, session_id: int
) -> str:
    """The receipt link by SMS again, to the driver or the guest who left a number."""
    cs = await repo.get_session(session, actor, session_id)
    org_id = await session_org(session, cs)
    actor.require(Access.SUPPORT, org_id, "session")
    if cs.cost_ore is None or cs.status != "completed":
        raise Conflict("the session has no receipt yet")
    phone, lang = None, "nb"
    if cs.user_id is not None:
        phone = (await session.get_one(User, cs.user_id)).phone
    else:
        checkout = (
            await session.execute(
                select(GuestCheckout)
                .join(Payment, Payment.id == GuestCheckout.payment_id)
                .where(Payment.session_id == cs.id)
                .limit(1)
            )
        ).scalar_one_or_none()
        if checkout is not None:
            phone, lang = checkout.phone, checkout.language
    if not phone:
        raise Conflict("no phone number to send the receipt to")
    charger = await session.get_one(Charger, cs.charger_id)
    sent = (
        await session.execute(
            select(func.count())
            .select_from(SmsMessage)
            .where(SmsMessage.dedup_key.like(f"session:{cs.id}:receipt-resend:%"))
        )
    ).scalar_one()
    text = render(
        "guest_receipt",
        lang,
        Operator.from_settings(payments.settings),
        code=charger.public_code or charger.charge_point_id,
        kwh=kwh(cs.energy_wh, lang),
        cost=kroner(cs.cost_ore, lang),
        receipt=receipt_url(payments.settings, cs.id),
    )
    await outbox.queue_sms(
        session,
        to=phone,
        kind="receipt_resend",
        body=text,
        dedup_key=f"session:{cs.id}:receipt-resend:{int(sent) + 1}",
        urgent=True,
        essential=True,
    )
    await record(
        session,
        actor,
        "session.resend_receipt",
        "charging_session",
        cs.id,
        org_id,
        after={"to": phone},
    )
    return phone


def ore_from_text(text: str) -> int:
    """`12,50` or `12.50` kroner as øre."""
    cleaned = text.strip().replace(" ", "").replace("\u00a0", "").replace(",", ".")
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise Invalid(f"not an amount: {text!r}") from None
    if not value.is_finite() or value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise Invalid(f"not an amount in kroner and øre: {text!r}")
    ore = int(value * 100)
    if ore <= 0:
        raise Invalid("the amount must be more than 0")
    return ore
