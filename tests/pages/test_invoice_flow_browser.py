"""An overdue invoice paid from its SMS reminder, in headless Chromium on a phone:
reminder (once) → /invoice/<token> → "Gå til betaling" → card → sandbox Approve → paid."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from core.billing.periods import local_today
from core.db import transaction
from core.l10n import day
from core.models import InvoicePayLink
from core.payments.invoices import create_link, send_reminders
from core.ports import PaymentState
from core.timeutil import OSLO, utcnow
from tests.pages.flows import (
    bank,
    customer,
    follow,
    invoice_status,
    open_invoice,
    sms,
    text,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

TOTAL_ORE = 61_250  # kr 612,50


async def test_overdue_invoice_is_reminded_once_and_paid_by_card_from_the_link(
    runtime, phone, base_url
):
    user_id = await customer(runtime)
    due = local_today() - timedelta(days=6)
    invoice_id = await open_invoice(runtime, user_id, 1001, due, TOTAL_ORE)

    # Reminders run hourly in the payment worker too: however often, one SMS per step.
    # They are queued in the daytime only (never in quiet hours): at noon here.
    noon = datetime.combine(local_today(), time(12), tzinfo=OSLO)
    first = await send_reminders(runtime.payments, now=noon)
    second = await send_reminders(runtime.payments, now=noon)
    (reminder,) = await sms(runtime, "payment_reminder")
    assert first in (0, 1) and second == 0  # 0 if the worker's own run got there first
    assert reminder.to == "+4791112222"
    assert reminder.dedup_key == f"invoice:{invoice_id}:reminder:5"
    assert f"faktura 1001 på kr 612,50 forfalt {day(due, 'nb')}" in reminder.body
    match = re.search(r"(https?://\S+/invoice/([A-Za-z0-9_-]{32}))$", reminder.body)
    assert match is not None, reminder.body
    link, token = match.groups()
    assert link.startswith(base_url)

    opened = await phone.goto(link)
    assert opened.status == 200
    assert await phone.get_by_role("heading", name="Faktura 1001").is_visible()
    assert await text(phone, "#amount") == "kr 612,50"
    assert await phone.get_by_role("cell", name=day(due, "nb")).is_visible()
    assert await phone.locator("#invoice-state").get_attribute("data-status") == "open"

    to_payment = phone.get_by_role("link", name="Gå til betaling")
    assert await follow(phone, to_payment) == f"/invoice/{token}?lang=nb&pay=1"
    assert await phone.get_by_role("heading", name="Velg betalingsmåte").is_visible()
    sandbox = await follow(phone, phone.get_by_role("button", name="Betal med kort"))
    assert re.fullmatch(r"/sandbox/checkout/sbx_card_[0-9a-f]{16}", sandbox)
    assert await text(phone, "#amount") == "kr 612,50"
    assert await invoice_status(runtime, invoice_id) == "open"

    assert await follow(phone, phone.locator("#approve")) == f"/invoice/{token}/return"
    assert await phone.locator("#invoice-state").get_attribute("data-status") == "paid"
    assert await phone.get_by_role("heading", name="Fakturaen er betalt").is_visible()
    assert await phone.get_by_text("Takk for betalingen!").is_visible()
    assert await invoice_status(runtime, invoice_id) == "paid"
    (payment,) = bank(runtime).payments.values()
    assert payment.state == PaymentState.CAPTURED and payment.captured_ore == TOTAL_ORE

    # The link again, later: already paid, nothing to pay.
    await phone.goto(link)
    assert await phone.locator("#invoice-state").get_attribute("data-status") == "paid"
    assert await phone.get_by_role("heading", name="Fakturaen er betalt").is_visible()
    assert await phone.get_by_role("link", name="Gå til betaling").count() == 0
    await phone.goto(f"{urlsplit(link).path}?pay=1")
    assert await phone.get_by_role("button", name="Betal med kort").count() == 0
    assert len(bank(runtime).payments) == 1
    assert await send_reminders(runtime.payments, now=noon) == 0


async def test_an_expired_invoice_link_says_so_and_offers_no_payment(runtime, phone):
    user_id = await customer(runtime)
    invoice_id = await open_invoice(runtime, user_id, 1002, local_today(), TOTAL_ORE)
    async with transaction(runtime.gateway_ctx.sessions) as session:
        token = await create_link(session, invoice_id, ttl_days=30)
        link = (await session.execute(select(InvoicePayLink))).scalar_one()
        link.expires_at = utcnow() - timedelta(minutes=1)

    opened = await phone.goto(f"/invoice/{token}")
    assert opened.status == 200
    assert await phone.locator("#invoice-state").get_attribute("data-status") == "expired"
    assert await phone.get_by_text("Lenken er utløpt. Kontakt oss for en ny.").is_visible()
    assert await phone.get_by_role("link", name="Gå til betaling").count() == 0
    await phone.goto(f"/invoice/{token}?pay=1&lang=en")
    assert await phone.get_by_text("This link has expired.", exact=False).is_visible()
    assert await phone.get_by_role("button", name="Pay by card").count() == 0
    assert bank(runtime).payments == {}
    assert await invoice_status(runtime, invoice_id) == "open"
