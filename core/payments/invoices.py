"""Paying an invoice by link: SMS reminders with a one-time link, card or Vipps, and the
invoice marked paid the moment the provider confirms.

Links carry an unguessable token (only its hash is stored), expire, and pay once: a link
whose payment is under way sends the payer back to it; a paid invoice's link says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import secrets
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.periods import local_today
from core.db import transaction
from core.models import Invoice, InvoicePayLink, InvoiceStatus, Payment, User
from core.payments import ledger
from core.payments.jobs import refresh
from core.payments.service import Payments, call_provider
from core.ports import PaymentProviderUnavailable, PaymentRequest, PaymentState
from core.timeutil import utcnow

UNPAID = (InvoiceStatus.OPEN.value, InvoiceStatus.OVERDUE.value)


class InvoiceLinkError(Exception):
    """Unknown or expired link, or nothing left to pay."""


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class InvoiceView:
    invoice_id: int
    number: int
    kid: str
    period: str
    due_date: date
    total_ore: int
    to_pay_ore: int
    status: str
    paid: bool
    expired: bool
    payment_status: str | None
    customer_name: str
    language: str


async def create_link(session: AsyncSession, invoice_id: int, ttl_days: int, step: int = 0) -> str:
    token = secrets.token_urlsafe(24)
    session.add(
        InvoicePayLink(
            invoice_id=invoice_id,
            token_hash=_hash(token),
            reminder_step=step,
            expires_at=utcnow() + timedelta(days=ttl_days),
        )
    )
    await session.flush()
    return token


async def _link(session: AsyncSession, token: str) -> InvoicePayLink | None:
    return (
        await session.execute(
            select(InvoicePayLink).where(InvoicePayLink.token_hash == _hash(token))
        )
    ).scalar_one_or_none()


async def view(ctx: Payments, token: str) -> InvoiceView | None:
    async with ctx.sessions() as session:
        link = await _link(session, token)
        if link is None:
            return None
        invoice = await session.get_one(Invoice, link.invoice_id)
        user = await session.get_one(User, invoice.user_id)
        payment = await session.get(Payment, link.payment_id) if link.payment_id else None
        to_pay = max(invoice.total_ore + invoice.fees_ore - invoice.credited_ore, 0)
        return InvoiceView(
            invoice_id=invoice.id,
            number=invoice.number,
            kid=invoice.kid,
            period=invoice.period,
            due_date=invoice.due_date,
            total_ore=invoice.total_ore,
            to_pay_ore=to_pay,
            status=invoice.status,
            paid=invoice.status == InvoiceStatus.PAID.value,
            expired=link.expires_at <= utcnow(),
            payment_status=payment.status if payment else None,
            customer_name=user.name,
            language=user.language,
        )


async def pay(ctx: Payments, token: str, method: str, return_url: str | None = None) -> str:
    """Start paying the invoice behind `token`; returns where to send the payer (who comes
    back to `return_url`, by default the link's own confirmation page)."""
    provider = ctx.for_method(method)
    base = ctx.settings.public_base_url.rstrip("/")
    async with transaction(ctx.sessions) as session:
        link = await _link(session, token)
        if link is None or link.expires_at <= utcnow():
            raise InvoiceLinkError("this payment link has expired")
        invoice = await session.get_one(Invoice, link.invoice_id)
        if invoice.status not in UNPAID:
            raise InvoiceLinkError("this invoice is already paid")
        # Lock the invoice: two submits, or two reminder links, must not both pay it.
        await session.execute(select(Invoice.id).where(Invoice.id == invoice.id).with_for_update())
        under_way = (
            await session.execute(
                select(Payment)
                .where(
                    Payment.invoice_id == invoice.id,
                    Payment.status.in_(
                        (
                            PaymentState.PENDING.value,
                            PaymentState.AUTHORIZED.value,
                            PaymentState.CAPTURED.value,
                        )
                    ),
                )
                .order_by(Payment.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if under_way is not None:
            if under_way.status == PaymentState.PENDING.value and under_way.redirect_url:
                link.payment_id = under_way.id
                return under_way.redirect_url  # continue the payment already under way
            if under_way.status != PaymentState.PENDING.value:
                raise InvoiceLinkError("this invoice is being paid")
        amount = max(invoice.total_ore + invoice.fees_ore - invoice.credited_ore, 0)
        if amount == 0:
            raise InvoiceLinkError("nothing to pay")
        user = await session.get_one(User, invoice.user_id)
        payment = Payment(
            reference=ledger.new_reference("i"),
            purpose="invoice",
            provider=provider.name,
            method=provider.method,
            status=PaymentState.PENDING.value,
            amount_requested_ore=amount,
            user_id=user.id,
            invoice_id=invoice.id,
        )
        session.add(payment)
        await session.flush()
        link.payment_id = payment.id
        request = PaymentRequest(
            amount_ore=amount,
            reference=payment.reference,
            description=f"Faktura {invoice.number} KID {invoice.kid}",
            return_url=return_url or f"{base}/invoice/{token}/return",
            manual_capture=False,
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
        raise InvoiceLinkError("the payment service is unavailable; try again shortly") from None
    if state is None or state.redirect_url is None:
        raise InvoiceLinkError("the payment could not be started")
    return state.redirect_url


async def settle(ctx: Payments, token: str) -> InvoiceView | None:
    """The payer came back (or a webhook arrived): fetch, capture, mark paid."""
    async with transaction(ctx.sessions) as session:
        link = await _link(session, token)
        if link is None:
            return None
        payment_id = link.payment_id
        if payment_id is not None:
            link.used_at = link.used_at or utcnow()
    if payment_id is not None:
        with contextlib.suppress(PaymentProviderUnavailable):
            await refresh(ctx, payment_id)
    return await view(ctx, token)


# --------------------------------------------------------------------------- in the app


async def pay_own(
    ctx: Payments, user_id: int, invoice_id: int, method: str, return_url: str
) -> str:
    """A signed-in driver pays one of their own invoices (the app): a one-time link of its
    own, then the same path as an SMS link. Returns where to send the payer."""
    async with transaction(ctx.sessions) as session:
        invoice = await session.get(Invoice, invoice_id)
        if invoice is None or invoice.user_id != user_id:
            raise InvoiceLinkError("no such invoice of yours")
        token = await create_link(session, invoice_id, ctx.settings.invoice_link_ttl_days)
    return await pay(ctx, token, method, return_url)


async def refresh_own(ctx: Payments, user_id: int, invoice_id: int) -> bool:
    """The driver came back from paying in the app: ask the provider about the invoice's
    latest payment (a webhook may not have arrived, the sandbox sends none). False if the
    invoice is not theirs."""
    async with ctx.sessions() as session:
        invoice = await session.get(Invoice, invoice_id)
        if invoice is None or invoice.user_id != user_id:
            return False
        payment_id = (
            await session.execute(
                select(Payment.id)
                .where(Payment.invoice_id == invoice_id)
                .order_by(Payment.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
    if payment_id is not None:
        with contextlib.suppress(PaymentProviderUnavailable):
            await refresh(ctx, payment_id)
    return True


# --------------------------------------------------------------------------- reminders


async def send_reminders(
    ctx: Payments, today: date | None = None, now: datetime | None = None
) -> int:
    """SMS a pay link for every invoice unpaid N days after its due date, once per step
    (core.invoicing.dunning has the rules: days, quiet hours, fees).

    Safe to run as often as you like: each (invoice, step) is one outbox message.
    """
    from core.invoicing.dunning import queue_reminders

    base = ctx.settings.public_base_url.rstrip("/")
    ttl = ctx.settings.invoice_link_ttl_days

    async def link(session: AsyncSession, invoice_id: int, step: int) -> str:
        return f"{base}/invoice/{await create_link(session, invoice_id, ttl, step)}"

    async with transaction(ctx.sessions) as session:
        return await queue_reminders(session, ctx.settings, link, today or local_today(), now)
