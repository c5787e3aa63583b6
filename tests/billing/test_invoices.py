"""Monthly invoices: one per customer, a line per session, KID, statuses, credit notes."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select

from core.billing.credit import credit_invoice
from core.billing.errors import BillingError
from core.billing.invoice_html import render_invoice_html
from core.billing.kid import is_valid_kid
from core.billing.service import (
    get_invoice,
    list_all_invoices,
    list_invoices,
    mark_overdue,
    mark_paid,
    run_invoices,
    set_billing_profile,
)
from core.billing.settings import BillingSettings
from core.models import ChargingSession, InvoiceLine
from core.tariffs import admin
from tests.billing.scenario import ORG_NUMBER, march
from tests.tariffs.builders import charged, database, driver, oslo, transaction

APRIL_1 = date(2026, 4, 1)
SELLER = BillingSettings(
    seller_name="Solsiden Lading AS",
    seller_org_number="923609016",
    seller_street="Solsiden 1",
    seller_postal_code="3475",
    seller_city="Sætre",
    seller_email="faktura@solsiden.example",
    bank_account="12345678903",
)


async def run(s, period: str = "2026-03", **kw):
    kw.setdefault("issue_date", APRIL_1)
    return await run_invoices(s, period, due_days=14, settings=SELLER, **kw)


async def test_a_month_is_invoiced_once_per_customer_with_a_line_per_session(db_url):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        result = await run(s)
        assert result.repriced == 6 and result.unpriced_session_ids == []
        by_user = {inv.user_id: inv for inv in result.invoices}
        assert set(by_user) == {m.kari.id, m.ola.id}  # not the guest, not the free van
        kari, ola = by_user[m.kari.id], by_user[m.ola.id]
        assert (kari.total_ore, kari.vat_ore, kari.net_ore) == (6000, 1200, 4800)
        assert (ola.total_ore, ola.buyer_name) == (2100, "Hansen Transport AS")
        assert [inv.number for inv in result.invoices] == [1, 2]
        for inv in result.invoices:
            assert is_valid_kid(inv.kid) and inv.kid.startswith(f"{inv.user_id:07d}")
            assert (inv.issue_date, inv.due_date, inv.status) == (
                APRIL_1,
                date(2026, 4, 15),
                "open",
            )
        assert result.sessions_invoiced == 5

        detail = await get_invoice(s, kari.id, m.kari.id)
        assert detail is not None
        assert [line.total_ore for line in detail.lines] == [2500, 2000, 1500]
        assert sum(line.net_ore for line in detail.lines) == kari.net_ore
        assert detail.lines[0].description.startswith("Lading Solsiden borettslag, SOL-1 #1")
        assert "10,00 kWh" in detail.lines[0].description
        assert detail.lines[0].details[0].description_nb == "Energi"
        assert detail.seller.name == "Solsiden Lading AS"
        assert detail.buyer.org_number is None

        ola_detail = await get_invoice(s, ola.id, None)
        assert ola_detail is not None and ola_detail.buyer.org_number == ORG_NUMBER


async def test_running_a_month_again_invoices_only_sessions_that_arrived_late(db_url):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        await run(s)
        again = await run(s)
        assert again.invoices == [] and again.sessions_invoiced == 0
        await charged(s, m.where, m.kari, oslo(2026, 3, 25, 7, 0), 60, 4)
        late = await run(s)
        assert [(inv.user_id, inv.total_ore, inv.number) for inv in late.invoices] == [
            (m.kari.id, 1000, 3)
        ]
        sessions_on_invoices = (
            await s.execute(select(func.count(InvoiceLine.id.distinct())))
        ).scalar_one()
        assert sessions_on_invoices == 6
        april = await run(s, "2026-04", issue_date=date(2026, 5, 1))
        assert [(inv.user_id, inv.total_ore) for inv in april.invoices] == [(m.ola.id, 1200)]


async def test_unpriced_sessions_wait_for_a_later_run(db_url):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        await admin.create_tariff(s, "Spot")
        await admin.add_component(s, "Spot", kind="spot_energy", price_ore=10, spot_area="NO1")
        await admin.attach_tariff(
            s, "Spot", site=m.where.site, group="member", valid_from=oslo(2026, 3, 15)
        )
        result = await run(s)
        late_kari = [
            cs.id
            for cs in (await s.execute(select(ChargingSession))).scalars()
            if cs.user_id == m.kari.id and cs.started_at >= oslo(2026, 3, 15)
        ]
        assert sorted(result.unpriced_session_ids) == sorted(late_kari)
        kari = next(inv for inv in result.invoices if inv.user_id == m.kari.id)
        assert kari.total_ore == 2500


async def test_customers_see_only_their_own_invoices(db_url):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        result = await run(s)
        kari_invoice = next(inv for inv in result.invoices if inv.user_id == m.kari.id)
        assert [inv.id for inv in await list_invoices(s, m.kari.id)] == [kari_invoice.id]
        assert await list_invoices(s, m.guest.id) == []
        assert await get_invoice(s, kari_invoice.id, m.ola.id) is None
        assert await get_invoice(s, 999, None) is None
        assert len(await list_all_invoices(s, period="2026-03")) == 2


async def test_invoices_go_from_open_to_overdue_to_paid(db_url):
    async with database(db_url) as db, transaction(db) as s:
        await march(s)
        result = await run(s)
        first, second = result.invoices
        assert await mark_overdue(s, date(2026, 4, 15)) == 0
        assert await mark_overdue(s, date(2026, 4, 16)) == 2
        paid = await mark_paid(s, first.id, oslo(2026, 4, 20, 9, 0))
        assert (paid.status, paid.amount_due_ore) == ("paid", 0)
        overdue = await get_invoice(s, second.id, None)
        assert overdue is not None
        assert (overdue.summary.status, overdue.summary.amount_due_ore) == ("overdue", 2100)
        # The next run marks overdue invoices itself.
        assert (await run(s, "2026-04", issue_date=date(2026, 5, 1))).marked_overdue == 0


async def test_credit_notes_cancel_sessions_and_then_the_whole_invoice(db_url):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        kari = next(inv for inv in (await run(s)).invoices if inv.user_id == m.kari.id)
        detail = await get_invoice(s, kari.id, None)
        assert detail is not None
        first_line = detail.lines[0]

        note = await credit_invoice(s, kari.id, "Feil måler", line_ids=[first_line.id])
        assert (note.number, note.total_ore, note.vat_ore, note.invoice_number) == (
            3,
            2500,
            500,
            kari.number,
        )
        with pytest.raises(BillingError, match="is credited"):
            await credit_invoice(s, kari.id, "again", line_ids=[first_line.id])
        partly = await get_invoice(s, kari.id, None)
        assert partly is not None
        assert (partly.summary.status, partly.summary.amount_due_ore) == ("open", 3500)
        assert [line.credited for line in partly.lines] == [True, False, False]

        rest = await credit_invoice(s, kari.id, "Avsluttet avtale", issue_date=date(2026, 4, 5))
        assert (rest.number, rest.total_ore, len(rest.lines)) == (4, 3500, 2)
        done = await get_invoice(s, kari.id, None)
        assert done is not None
        assert (done.summary.status, done.summary.credited_ore) == ("credited", 6000)
        assert [n.number for n in done.credit_notes] == [3, 4]
        with pytest.raises(BillingError, match="nothing left"):
            await credit_invoice(s, kari.id, "third time")
        with pytest.raises(BillingError, match="credited"):
            await mark_paid(s, kari.id)
        states = set(
            (
                await s.execute(
                    select(ChargingSession.payment_state).where(
                        ChargingSession.user_id == m.kari.id
                    )
                )
            ).scalars()
        )
        assert states == {"credited"}
        assert (await run(s)).invoices == []  # credited sessions are not invoiced again


async def test_html_invoice_shows_who_what_and_how_to_pay(db_url):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        ola = next(inv for inv in (await run(s)).invoices if inv.user_id == m.ola.id)
        detail = await get_invoice(s, ola.id, None)
        assert detail is not None
        page = render_invoice_html(detail)
        for expected in (
            "Faktura 2",
            "Hansen Transport AS",
            "Org.nr. 974 760 673",
            "Deres ref.: Ola H.",
            "Solsiden Lading AS",
            "1234.56.78903",
            ola.kid,
            "15.04.2026",
            "21,00",
            "Lading Solsiden borettslag, SOL-1 #2",
            "Ubetalt",
        ):
            assert expected in page, expected
        assert "<script" not in page


async def test_a_wrong_organisation_number_is_refused(db_url):
    async with database(db_url) as db, transaction(db) as s:
        user = await driver(s, "91000009", "member")
        with pytest.raises(BillingError, match="not a Norwegian organisation number"):
            await set_billing_profile(s, user.id, org_number="974 760 672")
        profile = await set_billing_profile(s, user.id, org_number="974 760 673", city="Hurum")
        assert (profile.org_number, profile.city) == ("974760673", "Hurum")
