"""Invoices reach people: each channel reads back what was delivered, every attempt is
recorded, failures are retried with backoff, and nothing is sent twice."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from xml.etree import ElementTree as ET

from sqlalchemy import select

from core.billing.credit import credit_invoice
from core.billing.peppol_rules import check_ehf
from core.billing.service import set_billing_profile
from core.invoicing.consent import import_consents
from core.invoicing.dispatcher import DeliveryDispatcher
from core.invoicing.outbox import queue_credit_note
from core.invoicing.receipts import queue_due_receipts
from core.invoicing.runs import issue_and_queue
from core.models import (
    DeliveryAttempt,
    DocumentDelivery,
    EfakturaConsent,
    IdToken,
    InvoiceRun,
    User,
)
from core.tariffs.service import price_session
from core.timeutil import utcnow
from delivery.setup import channels
from tests.billing.scenario import march
from tests.invoicing.conftest import pdf_text
from tests.invoicing.smtp import attachments
from tests.tariffs.builders import (
    charged,
    database,
    driver,
    member_prices,
    oslo,
    place,
    transaction,
)

APRIL_1 = date(2026, 4, 1)
CONSENTS = """efaktura_identifier;phone;email;status
EF-4791000006;+4791000006;;always
;;nobody@example.no;none
"""


async def month_with_every_channel(s) -> dict[str, User]:
    """The March borettslag, with a customer for every channel."""
    m = await march(s)
    kari, ola = m.kari, m.ola
    kari.email, kari.invoice_channel = "kari@example.no", "email"
    ola.invoice_channel = "ehf"
    per = await driver(s, "91000005", "member", name="Per Papir", invoice=True)
    per.invoice_channel = "paper"
    await set_billing_profile(s, per.id, street="Papirveien 5", postal_code="3475", city="Sætre")
    eva = await driver(s, "91000006", "member", name="Eva Efaktura", invoice=True)
    eva.email = "eva@example.no"  # she chose e-mail, but "Alltid eFaktura" wins
    await charged(s, m.where, per, oslo(2026, 3, 5, 12, 0), 60, 4)
    await charged(s, m.where, eva, oslo(2026, 3, 6, 12, 0), 60, 2)
    await import_consents(s, CONSENTS, source="consents-2026-03.csv")
    return {"kari": kari, "ola": ola, "per": per, "eva": eva}


async def test_an_invoice_run_reaches_every_customer_on_their_channel_once(
    db_url, delivery_settings, seller, smtp
):
    inbox, _ = smtp
    settings = delivery_settings
    root = Path(settings.delivery_dir)
    async with database(db_url) as db:
        async with transaction(db) as s:
            people = await month_with_every_channel(s)
            outcome = await issue_and_queue(s, "2026-03", issue_date=APRIL_1, due_days=14)
        assert outcome.channels == {"email": 1, "ehf": 1, "paper": 1, "efaktura": 1}
        numbers = {inv.user_id: inv.number for inv in outcome.result.invoices}

        dispatcher = DeliveryDispatcher(settings, db, channels(settings))
        now = utcnow()
        first = await dispatcher.run_once(now)
        assert (first.delivered, first.retried, first.failed) == (4, 0, 0)

        # E-mail: Kari gets her invoice with the PDF and a pay link.
        (mail,) = inbox.messages
        kari_no = numbers[people["kari"].id]
        assert mail["To"] == "kari@example.no"
        assert mail["Subject"] == f"Faktura {kari_no} fra Solsiden Lading AS - forfall 15.04.2026"
        text = mail.get_body(("plain",)).get_content()
        assert "Å betale:    60,00 kr" in text and "KID:" in text
        assert "Betal med kort eller Vipps: https://lading.example/invoice/" in text
        pdf = pdf_text(attachments(mail)[f"faktura-{kari_no}.pdf"])
        assert "Solsiden Lading AS" in pdf and "Org.nr. 923 609 016 MVA" in pdf
        assert "Å betale (NOK) 60,00" in pdf and "1234.56.78903" in pdf

        # EHF: Hansen Transport AS's document in the access point's file drop.
        ola_no = numbers[people["ola"].id]
        xml = (root / "ehf" / f"faktura-{ola_no}.xml").read_bytes()
        assert check_ehf(xml) == []
        doc = ET.fromstring(xml)
        ns = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"}
        assert doc.findtext("cbc:ID", namespaces=ns) == str(ola_no)
        envelope = json.loads((root / "ehf" / f"faktura-{ola_no}.json").read_text())
        assert envelope["receiver"] == "iso6523-actorid-upis::0192:974760673"
        assert envelope["sender"] == "iso6523-actorid-upis::0192:923609016"
        assert envelope["process"].endswith("urn:fdc:peppol.eu:2017:poacc:billing:01:1.0")

        # eFaktura: Eva's invoice (file + PDF) in the distributor's outbox.
        eva_no = numbers[people["eva"].id]
        ef = ET.fromstring((root / "efaktura" / f"faktura-{eva_no}.xml").read_bytes())
        efns = {"e": "urn:ladeflyt:efaktura:1"}
        assert ef.findtext("e:Payer/e:EfakturaIdentifier", namespaces=efns) == "EF-4791000006"
        assert ef.findtext("e:Issuer/e:IssuerId", namespaces=efns) == "LADEFLYT-TEST"
        assert ef.findtext("e:Document/e:Amount", namespaces=efns) == "5.00"
        assert ef.findtext("e:Document/e:DueDate", namespaces=efns) == "2026-04-15"
        eva_pdf = pdf_text((root / "efaktura" / f"faktura-{eva_no}.pdf").read_bytes())
        assert "Eva Efaktura" in eva_pdf

        # Paper: one print batch for the run, with Per's letter.
        (batch,) = (root / "print").glob("*.pdf")
        printed = pdf_text(batch.read_bytes())
        assert "1 brev" in printed and "Papirveien 5" in printed and "Per Papir" in printed
        assert first.print_batch == batch.name

        # Again, and again later: nothing is sent twice.
        again = await dispatcher.run_once(now + timedelta(days=1))
        assert (again.delivered, again.retried, again.failed) == (0, 0, 0)
        assert len(inbox.messages) == 1 and len(list((root / "print").glob("*.pdf"))) == 1

        async with transaction(db) as s:
            rows = (await s.execute(select(DocumentDelivery))).scalars().all()
            assert {(d.channel, d.status, d.attempts) for d in rows} == {
                ("email", "delivered", 1),
                ("ehf", "delivered", 1),
                ("efaktura", "delivered", 1),
                ("paper", "delivered", 1),
            }
            by_channel = {d.channel: d for d in rows}
            assert by_channel["efaktura"].reason == 'general consent ("Alltid eFaktura")'
            assert by_channel["ehf"].recipient == "0192:974760673"
            assert by_channel["email"].external_ref == mail["Message-ID"]
            attempts = (await s.execute(select(DeliveryAttempt))).scalars().all()
            assert sorted(a.outcome for a in attempts) == ["delivered"] * 4
            (run,) = (await s.execute(select(InvoiceRun))).scalars().all()
            assert (run.trigger, run.status, run.invoices, run.deliveries) == (
                "manual",
                "done",
                4,
                4,
            )


async def test_a_credit_note_follows_its_invoice_to_the_customer(
    db_url, delivery_settings, seller, smtp
):
    inbox, _ = smtp
    settings = delivery_settings
    async with database(db_url) as db:
        async with transaction(db) as s:
            people = await month_with_every_channel(s)
            outcome = await issue_and_queue(s, "2026-03", issue_date=APRIL_1, due_days=14)
            kari_invoice = next(
                i for i in outcome.result.invoices if i.user_id == people["kari"].id
            )
            ola_invoice = next(i for i in outcome.result.invoices if i.user_id == people["ola"].id)
            kari_note = await credit_invoice(s, kari_invoice.id, "Feil måleravlesning")
            ola_note = await credit_invoice(s, ola_invoice.id, "Avtalt rabatt")
            await queue_credit_note(s, kari_note.id)
            await queue_credit_note(s, ola_note.id)
        result = await DeliveryDispatcher(settings, db, channels(settings)).run_once()
        assert result.failed == 0 and result.delivered == 6
        note_mail = next(m for m in inbox.messages if m["Subject"].startswith("Kreditnota"))
        assert note_mail["Subject"] == (
            f"Kreditnota {kari_note.number} til faktura {kari_invoice.number}"
        )
        pdf = pdf_text(attachments(note_mail)[f"kreditnota-{kari_note.number}.pdf"])
        assert "Kreditnota" in pdf and "Feil måleravlesning" in pdf and "-60,00" in pdf
        xml = Path(settings.delivery_dir) / "ehf" / f"kreditnota-{ola_note.number}.xml"
        assert b"<cbc:CreditNoteTypeCode>381</cbc:CreditNoteTypeCode>" in xml.read_bytes()
        assert check_ehf(xml.read_bytes()) == []


async def test_a_server_that_is_down_is_retried_with_backoff_and_every_try_is_recorded(
    db_url, delivery_settings, seller, smtp
):
    inbox, _url = smtp
    down = delivery_settings.model_copy(update={"smtp_url": "smtp://127.0.0.1:9?starttls=false"})
    async with database(db_url) as db:
        async with transaction(db) as s:
            m = await march(s)
            m.kari.email = "kari@example.no"
            m.ola.email = "ola@example.no"
            await issue_and_queue(s, "2026-03", issue_date=APRIL_1, due_days=14)
        now = utcnow()
        failing = DeliveryDispatcher(down, db, channels(down))
        first = await failing.run_once(now)
        assert (first.delivered, first.retried) == (0, 2)
        # Not before its time: the backoff is 60 s after the first try, then 120 s.
        assert (await failing.run_once(now + timedelta(seconds=59))).retried == 0
        assert (await failing.run_once(now + timedelta(seconds=61))).retried == 2
        assert (await failing.run_once(now + timedelta(seconds=61 + 119))).retried == 0

        working = DeliveryDispatcher(delivery_settings, db, channels(delivery_settings))
        done = await working.run_once(now + timedelta(seconds=61 + 121))
        assert (done.delivered, done.retried, done.failed) == (2, 0, 0)
        assert sorted(m["To"] for m in inbox.messages) == ["kari@example.no", "ola@example.no"]
        async with transaction(db) as s:
            attempts = (
                (await s.execute(select(DeliveryAttempt).order_by(DeliveryAttempt.id)))
                .scalars()
                .all()
            )
            per_delivery: dict[int, list[str]] = {}
            for a in attempts:
                per_delivery.setdefault(a.delivery_id, []).append(a.outcome)
            assert list(per_delivery.values()) == [["retry", "retry", "delivered"]] * 2
            assert all("unreachable" in a.detail for a in attempts if a.outcome == "retry")
            assert {d.attempts for d in (await s.execute(select(DocumentDelivery))).scalars()} == {
                3
            }


async def test_out_of_attempts_or_refused_for_good_fails_with_the_reason(
    db_url, delivery_settings, seller, smtp
):
    inbox, _ = smtp
    down = delivery_settings.model_copy(
        update={"smtp_url": "smtp://127.0.0.1:9?starttls=false", "delivery_max_attempts": 2}
    )
    async with database(db_url) as db:
        async with transaction(db) as s:
            m = await march(s)
            m.kari.email = "kari@refused.example"  # the server says 550
            m.ola.email = "ola@example.no"
            await issue_and_queue(s, "2026-03", issue_date=APRIL_1, due_days=14)
        now = utcnow()
        refused = await DeliveryDispatcher(
            delivery_settings, db, channels(delivery_settings)
        ).run_once(now)
        assert (refused.delivered, refused.failed) == (1, 1)
        assert inbox.messages[0]["To"] == "ola@example.no"
        async with transaction(db) as s:
            kari = (
                await s.execute(
                    select(DocumentDelivery).where(DocumentDelivery.recipient.like("kari%"))
                )
            ).scalar_one()
            assert (kari.status, kari.attempts) == ("failed", 1)
            assert "recipient refused" in (kari.last_error or "")
            kari.status, kari.recipient = "queued", "kari@example.no"  # the operator fixes it
        failing = DeliveryDispatcher(down, db, channels(down))
        assert (await failing.run_once(now)).retried == 0  # attempt 2 of 2: given up
        async with transaction(db) as s:
            again = await s.get_one(DocumentDelivery, kari.id)
            assert again.status == "failed" and (again.last_error or "").startswith(
                "gave up after 2 attempts"
            )


async def test_ehf_for_a_customer_without_an_organisation_number_falls_back_to_email(
    db_url, delivery_settings, seller, smtp
):
    inbox, _ = smtp
    async with database(db_url) as db:
        async with transaction(db) as s:
            m = await march(s)
            m.kari.invoice_channel, m.kari.email = "ehf", "kari@example.no"
            m.ola.invoice_channel = "efaktura"  # a business: no eFaktura consent either
            outcome = await issue_and_queue(s, "2026-03", issue_date=APRIL_1, due_days=14)
        assert outcome.channels == {"email": 1, "paper": 1}
        async with transaction(db) as s:
            reasons = {
                d.channel: d.reason for d in (await s.execute(select(DocumentDelivery))).scalars()
            }
        assert reasons == {
            "email": "EHF needs an organisation number; by e-mail",
            "paper": "no eFaktura consent from the bank; on paper",
        }
        result = await DeliveryDispatcher(
            delivery_settings, db, channels(delivery_settings)
        ).run_once()
        assert result.delivered == 2 and inbox.messages[0]["To"] == "kari@example.no"


async def test_a_paid_session_e_mails_its_receipt_to_a_driver_who_asked_for_it(
    db_url, delivery_settings, seller, smtp
):
    inbox, _ = smtp
    async with database(db_url) as db:
        async with transaction(db) as s:
            where = await place(s)
            await member_prices(s, where)
            kari = await driver(s, "91000001", "member", name="Kari Nordmann")
            kari.email, kari.receipt_by_email = "kari@example.no", True
            ola = await driver(s, "91000002", "member", name="Ola")  # no receipts, thanks
            ola.email = "ola@example.no"
            sessions = []
            for who in (kari, ola):
                token = IdToken(token=f"APP-{who.id}", kind="app", user_id=who.id)
                s.add(token)
                await s.flush()
                cs = await charged(s, where, who, utcnow() - timedelta(hours=3), 60, 10)
                cs.id_token_pk = token.id
                await price_session(s, cs)
                cs.payment_state = "paid"
                sessions.append(cs.id)
        async with transaction(db) as s:
            assert await queue_due_receipts(s) == 1
            assert await queue_due_receipts(s) == 0
        result = await DeliveryDispatcher(
            delivery_settings, db, channels(delivery_settings)
        ).run_once()
        assert result.delivered == 1
    (mail,) = inbox.messages
    assert mail["To"] == "kari@example.no" and mail["Subject"].startswith("Kvittering for lading")
    text = mail.get_body(("plain",)).get_content()
    assert "Totalt:  25,00 kr (herav MVA 5,00 kr)" in text
    assert f"https://lading.example/receipts/{sessions[0]}?t=" in text
    receipt = pdf_text(attachments(mail)[f"kvittering-{sessions[0]}.pdf"])
    assert "Kvittering" in receipt and "Totalt (NOK) 25,00" in receipt


async def test_consent_files_dropped_by_the_distributor_are_read_and_put_away(
    db_url, delivery_settings, seller
):
    from ladeflyt.runtime import invoice_delivery

    inbox = Path(delivery_settings.delivery_dir) / "efaktura" / "consents-in"
    inbox.mkdir(parents=True)
    (inbox / "2026-04-01.csv").write_text(
        "efaktura_identifier;phone;status\nEF-1;91000001;alltid\n", encoding="utf-8"
    )
    async with database(db_url) as db:
        async with transaction(db) as s:
            await driver(s, "91000001", "member", name="Kari", invoice=True)
        deliveries, _ = invoice_delivery(delivery_settings, db)
        await deliveries.housekeeping()
        async with transaction(db) as s:
            (consent,) = (await s.execute(select(EfakturaConsent))).scalars().all()
            assert (consent.status, consent.efaktura_identifier, consent.source) == (
                "always",
                "EF-1",
                "2026-04-01.csv",
            )
    assert list(inbox.glob("*.csv")) == [] and (inbox / "done" / "2026-04-01.csv").exists()


async def test_a_send_interrupted_by_a_dead_process_is_retried_only_where_that_is_safe(
    db_url, delivery_settings, seller, smtp
):
    inbox, _ = smtp
    async with database(db_url) as db:
        async with transaction(db) as s:
            m = await march(s)
            m.kari.email = "kari@example.no"
            m.ola.invoice_channel = "ehf"
            await issue_and_queue(s, "2026-03", issue_date=APRIL_1, due_days=14)
            long_ago = utcnow() - timedelta(hours=1)
            for d in (await s.execute(select(DocumentDelivery))).scalars():
                d.status, d.attempts, d.updated_at = "sending", 1, long_ago
        dispatcher = DeliveryDispatcher(delivery_settings, db, channels(delivery_settings))
        assert await dispatcher.recover_interrupted() == 2
        result = await dispatcher.run_once()
        assert (result.delivered, result.failed) == (1, 0)
        async with transaction(db) as s:
            by_channel = {
                d.channel: d for d in (await s.execute(select(DocumentDelivery))).scalars()
            }
        # The EHF file drop replaces its file: sent again. The e-mail may have gone out.
        assert by_channel["ehf"].status == "delivered"
        assert (by_channel["email"].status, by_channel["email"].last_error) == (
            "failed",
            "interrupted while sending: check whether it arrived",
        )
        assert inbox.messages == []
