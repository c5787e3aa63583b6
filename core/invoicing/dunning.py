"""Dunning: reminder SMS with a pay link, reminder fees, the overdue list and its export
for a debt collector.

- The reminder goes `reminder_day` days (5-7, default 5) after the due date; a second one
  only if `second_reminder_day` is set. Each (invoice, day) is one outbox message.
- Reminders are queued only outside quiet hours (20:00-08:00 Oslo), so one is never held
  overnight: the job runs hourly and the first run after 08:00 sends them.
- A paid invoice stops its reminders at once: the job looks only at unpaid invoices, and
  marking an invoice paid suppresses any reminder still waiting in the outbox.
- Reminder fee (purregebyr, inkassoforskriften § 1-2): at most 1/10 of the inkassosats
  (`reminder_fee_ore`, checked against `inkasso_rate_ore`), only on a reminder sent at
  least 14 days after the due date, at most two fees per invoice; no VAT on the fee.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import l10n
from core.config import Settings, get_settings
from core.messaging import outbox as sms_outbox
from core.messaging.templates import kroner, render
from core.models import BillingProfile, Invoice, InvoiceStatus, SmsMessage, SmsStatus, User
from core.operator import Operator
from core.timeutil import utcnow

UNPAID = (InvoiceStatus.OPEN.value, InvoiceStatus.OVERDUE.value)
FEE_EARLIEST_DAY = 14  # a fee only on a reminder at least 14 days after the due date
MAX_FEES = 2


def reminder_steps(settings: Settings) -> list[int]:
    steps = [settings.reminder_day]
    if settings.second_reminder_day is not None and settings.second_reminder_day > steps[0]:
        steps.append(settings.second_reminder_day)
    return steps


def fee_for(settings: Settings, step: int, fees_charged: int) -> int:
    if settings.reminder_fee_ore <= 0 or step < FEE_EARLIEST_DAY or fees_charged >= MAX_FEES:
        return 0
    return settings.reminder_fee_ore


def reminder_key(invoice_id: int, step: int) -> str:
    return f"invoice:{invoice_id}:reminder:{step}"


async def queue_reminders(
    session: AsyncSession,
    settings: Settings,
    make_link: Callable[[AsyncSession, int, int], Awaitable[str]],
    today: date,
    now: datetime | None = None,
) -> int:
    """Queue the reminders due today; returns how many. `make_link(session, invoice_id,
    step)` returns the pay link (a coroutine function)."""
    now = now or utcnow()
    if sms_outbox.in_quiet_hours(now):
        return 0
    steps = reminder_steps(settings)
    operator = Operator.from_settings(settings)
    rows = (
        await session.execute(
            select(Invoice, User)
            .join(User, User.id == Invoice.user_id)
            .where(Invoice.status.in_(UNPAID), Invoice.due_date <= today - timedelta(days=steps[0]))
            .order_by(Invoice.id)
        )
    ).all()
    queued = 0
    for invoice, user in rows:
        overdue_days = (today - invoice.due_date).days
        step = max(s for s in steps if s <= overdue_days)
        key = reminder_key(invoice.id, step)
        if (
            await session.execute(select(SmsMessage.id).where(SmsMessage.dedup_key == key))
        ).first() is not None:
            continue
        # A number that sent STOPP gets no reminder (recorded as suppressed), and no fee.
        opted_out = await sms_outbox.is_opted_out(session, user.phone)
        fee = 0 if opted_out else fee_for(settings, step, _fees_charged(invoice, settings))
        link = await make_link(session, invoice.id, step)
        due_ore = max(invoice.total_ore + invoice.fees_ore + fee - invoice.credited_ore, 0)
        lang = user.language
        body = render(
            "invoice_reminder",
            lang,
            operator,
            invoice=invoice.number,
            amount=kroner(due_ore, lang),
            fee=render("reminder_fee", lang, operator, fee=kroner(fee, lang)) if fee else "",
            due=l10n.day(invoice.due_date, lang),
            link=link,
        )
        if (
            await sms_outbox.queue_sms(
                session, to=user.phone, kind="payment_reminder", body=body, dedup_key=key, at=now
            )
            and not opted_out
        ):
            invoice.fees_ore = (invoice.fees_ore or 0) + fee
            invoice.reminders_sent = (invoice.reminders_sent or 0) + 1
            invoice.last_reminder_at = now
            queued += 1
    await session.flush()
    return queued


def _fees_charged(invoice: Invoice, settings: Settings) -> int:
    if settings.reminder_fee_ore <= 0:
        return 0
    return (invoice.fees_ore or 0) // settings.reminder_fee_ore


async def stop_reminders(session: AsyncSession, invoice_id: int) -> int:
    """Suppress the reminders of a paid invoice that are still waiting in the outbox, and
    take back the fee a suppressed reminder carried. Returns how many were stopped."""
    waiting = (
        await session.execute(
            select(SmsMessage.id, SmsMessage.dedup_key).where(
                SmsMessage.dedup_key.like(f"invoice:{invoice_id}:reminder:%"),
                SmsMessage.status.in_((SmsStatus.QUEUED.value, SmsStatus.HELD.value)),
            )
        )
    ).all()
    if not waiting:
        return 0
    await session.execute(
        update(SmsMessage)
        .where(
            SmsMessage.id.in_([row[0] for row in waiting]),
            SmsMessage.status.in_((SmsStatus.QUEUED.value, SmsStatus.HELD.value)),
        )
        .values(status=SmsStatus.SUPPRESSED.value, error_code="paid", updated_at=utcnow())
    )
    settings = get_settings()
    invoice = await session.get_one(Invoice, invoice_id)
    for _, key in waiting:
        step = int(key.rsplit(":", 1)[1])
        fee = settings.reminder_fee_ore if step >= FEE_EARLIEST_DAY else 0
        invoice.fees_ore = max((invoice.fees_ore or 0) - fee, 0)
    await session.flush()
    return len(waiting)


# --------------------------------------------------------------------------- overdue


@dataclass(frozen=True)
class OverdueInvoice:
    invoice_id: int
    number: int
    kid: str
    customer_number: int
    name: str
    org_number: str | None
    phone: str
    email: str | None
    street: str
    postal_code: str
    city: str
    issue_date: date
    due_date: date
    days_overdue: int
    principal_ore: int  # what the invoice says, less credit notes
    fees_ore: int
    amount_due_ore: int
    reminders_sent: int
    last_reminder_at: datetime | None
    exported_at: datetime | None


async def overdue(
    session: AsyncSession, today: date, *, min_days: int = 1, include_exported: bool = True
) -> list[OverdueInvoice]:
    """Unpaid invoices at least `min_days` past their due date, oldest first."""
    query = (
        select(Invoice, User, BillingProfile)
        .join(User, User.id == Invoice.user_id)
        .outerjoin(BillingProfile, BillingProfile.user_id == User.id)
        .where(Invoice.status.in_(UNPAID), Invoice.due_date <= today - timedelta(days=min_days))
        .order_by(Invoice.due_date, Invoice.number)
    )
    if not include_exported:
        query = query.where(Invoice.collection_exported_at.is_(None))
    out = []
    for inv, user, profile in (await session.execute(query)).all():
        principal = max(inv.total_ore - inv.credited_ore, 0)
        buyer = inv.buyer or {}
        out.append(
            OverdueInvoice(
                invoice_id=inv.id,
                number=inv.number,
                kid=inv.kid,
                customer_number=user.id,
                name=str(buyer.get("name") or user.name or user.phone),
                org_number=profile.org_number if profile else buyer.get("org_number"),
                phone=user.phone,
                email=(profile.email if profile and profile.email else None) or user.email,
                street=profile.street if profile else str(buyer.get("street") or ""),
                postal_code=profile.postal_code if profile else str(buyer.get("postal_code") or ""),
                city=profile.city if profile else str(buyer.get("city") or ""),
                issue_date=inv.issue_date,
                due_date=inv.due_date,
                days_overdue=(today - inv.due_date).days,
                principal_ore=principal,
                fees_ore=inv.fees_ore or 0,
                amount_due_ore=principal + (inv.fees_ore or 0),
                reminders_sent=inv.reminders_sent or 0,
                last_reminder_at=inv.last_reminder_at,
                exported_at=inv.collection_exported_at,
            )
        )
    return out


COLLECTION_COLUMNS = [
    "fakturanummer",
    "kid",
    "kundenummer",
    "navn",
    "organisasjonsnummer",
    "telefon",
    "epost",
    "adresse",
    "postnummer",
    "poststed",
    "fakturadato",
    "forfallsdato",
    "dager_forfalt",
    "hovedstol",
    "purregebyr",
    "a_betale",
    "purringer",
    "siste_purring",
]


def _kr(ore: int) -> str:
    return f"{ore // 100}.{ore % 100:02d}"


def collection_csv(rows: list[OverdueInvoice]) -> str:
    """The overdue list for a debt collector: UTF-8, semicolon-separated, amounts in
    kroner with a decimal point, dates ISO 8601 - one row per invoice."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(COLLECTION_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.number,
                r.kid,
                r.customer_number,
                r.name,
                r.org_number or "",
                r.phone,
                r.email or "",
                r.street,
                r.postal_code,
                r.city,
                r.issue_date.isoformat(),
                r.due_date.isoformat(),
                r.days_overdue,
                _kr(r.principal_ore),
                _kr(r.fees_ore),
                _kr(r.amount_due_ore),
                r.reminders_sent,
                r.last_reminder_at.date().isoformat() if r.last_reminder_at else "",
            ]
        )
    return buffer.getvalue()


async def mark_exported(session: AsyncSession, invoice_ids: list[int], at: datetime) -> int:
    if not invoice_ids:
        return 0
    result = await session.execute(
        update(Invoice).where(Invoice.id.in_(invoice_ids)).values(collection_exported_at=at)
    )
    return int(getattr(result, "rowcount", 0) or 0)
