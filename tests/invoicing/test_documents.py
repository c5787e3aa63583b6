"""The PDFs: an invoice shows what the HTML invoice shows, a credit note what it credits,
a receipt what a paid session cost; the text is real text (read back with pypdf)."""

from __future__ import annotations

from datetime import date

from core.billing.credit import credit_invoice
from core.billing.service import run_invoices
from core.invoicing import documents
from core.models import IdToken, Payment
from core.tariffs.service import price_session
from tests.billing.scenario import march
from tests.invoicing.conftest import pdf_text
from tests.tariffs.builders import database, transaction


async def test_the_invoice_pdf_has_seller_payment_details_and_a_line_per_session(db_url, seller):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        result = await run_invoices(s, "2026-03", issue_date=date(2026, 4, 1), due_days=14)
        kari = next(i for i in result.invoices if i.user_id == m.kari.id)
        detail, pdf = await documents.invoice_pdf_bytes(
            s, kari.id, pay_url="https://lading.example/invoice/abc"
        )
    text = pdf_text(pdf)
    lines = text.splitlines()
    for expected in (
        "Solsiden Lading AS",
        "Solsiden 1",
        "3475 Sætre",
        "Org.nr. 923 609 016 MVA",
        f"Fakturanummer {kari.number}",
        "Fakturadato 01.04.2026",
        "Forfallsdato 15.04.2026",
        "Periode 03.2026",
        f"KID {kari.kid}",
        "Kari Nordmann",
        # date, site and charger, time, kWh, kr/kWh, net, VAT, total
        "03.03.2026 Solsiden borettslag, SOL-1 19:00-20:00 10,00 2,50 20,00 5,00 25,00",
        "20.03.2026 Solsiden borettslag, SOL-1 18:00-19:00 8,00 2,50 16,00 4,00 20,00",
        "Sum eks. MVA 48,00",
        "MVA 25 % 12,00",
        "Å betale (NOK) 60,00",
        f"Betal 60,00 kr til konto 1234.56.78903 med KID {kari.kid} innen 15.04.2026.",
        "Eller betal med kort eller Vipps: https://lading.example/invoice/abc",
    ):
        assert any(expected in line for line in lines), (expected, text)
    assert len(detail.lines) == 3
    assert pdf.startswith(b"%PDF-")


async def test_the_credit_note_pdf_names_its_invoice_reason_and_amounts(db_url, seller):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        result = await run_invoices(s, "2026-03", issue_date=date(2026, 4, 1), due_days=14)
        ola = next(i for i in result.invoices if i.user_id == m.ola.id)
        note = await credit_invoice(s, ola.id, "Feil pris", issue_date=date(2026, 4, 3))
        _, view, pdf = await documents.credit_note_parts(s, note.id)
    text = pdf_text(pdf)
    for expected in (
        "Kreditnota",
        f"Kreditnotanummer {view.number}",
        f"Gjelder faktura {ola.number}",
        "Årsak: Feil pris",
        "Hansen Transport AS",
        "Org.nr. 974 760 673",
        "Kreditert (NOK) -21,00",
    ):
        assert expected in text, (expected, text)


async def test_a_paid_session_has_a_receipt_pdf(db_url, seller):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        guest_session = next(cs for cs in await _sessions(s) if cs.user_id == m.guest.id)
        await price_session(s, guest_session)
        token = IdToken(token="GUEST-RECEIPT", kind="guest", user_id=m.guest.id)
        s.add(token)
        await s.flush()
        guest_session.id_token_pk = token.id
        guest_session.payment_state = "paid"
        s.add(
            Payment(
                reference="p-receipt-test",
                purpose="session",
                provider="sandbox-card",
                method="card",
                status="captured",
                amount_requested_ore=guest_session.cost_ore or 0,
                amount_authorized_ore=40_000,
                amount_captured_ore=guest_session.cost_ore or 0,
                session_id=guest_session.id,
                id_token_pk=guest_session.id_token_pk,
            )
        )
        await s.flush()
        doc = await documents.receipt_doc(s, guest_session.id)
        assert doc is not None
        pdf = documents.receipt_pdf(doc)
    text = pdf_text(pdf)
    for expected in (
        "Kvittering",
        f"Kvitteringsnr. {guest_session.id}",
        "Dato 10.03.2026",
        "Lader SOL-1 #1",
        "Energi 3,50 kWh",
        "Sted: Solsiden borettslag",
        "Org.nr. 923 609 016 MVA",
        f"Totalt (NOK) {doc.total_ore // 100},{doc.total_ore % 100:02d}",
        "Betalt med kort",
    ):
        assert expected in text, (expected, text)


async def _sessions(s):
    from sqlalchemy import select

    from core.models import ChargingSession

    return list((await s.execute(select(ChargingSession))).scalars())
