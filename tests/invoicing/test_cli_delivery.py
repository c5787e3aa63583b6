"""The README's borettslag example, to the end: the invoices are delivered (e-mail to Kari,
EHF to Hansen Transport AS), and the commands around it (`user update`, channel, deliveries,
PDF, EHF check, schedule, runs, overdue). In-process `ladeflyt.cli.main`, both backends."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from core.billing.peppol_rules import check_ehf
from core.config import Settings
from ladeflyt import cli
from tests.billing.test_cli_billing import SETUP, _march_sessions
from tests.invoicing.conftest import pdf_text
from tests.invoicing.smtp import attachments


@pytest.fixture
def ladeflyt(db_url, monkeypatch, capsys, tmp_path, seller, smtp):
    _, smtp_url = smtp
    settings = Settings(
        database_url=db_url,
        smtp_url=smtp_url,
        mail_from="Solsiden Lading <faktura@solsiden.example>",
        delivery_dir=str(tmp_path / "delivery"),
        jwt_secret="cli-test",
        public_base_url="https://lading.example",
    )
    monkeypatch.setattr(cli, "get_settings", lambda: settings)

    def run(*args: str, code: int = 0) -> tuple[str, str]:
        assert cli.main(list(args)) == code, capsys.readouterr()
        captured = capsys.readouterr()
        return captured.out, captured.err

    return run


def test_the_borettslag_example_ends_with_invoices_delivered(ladeflyt, db_url, smtp, tmp_path):
    inbox, _ = smtp
    for args in SETUP:
        ladeflyt(*args)
    asyncio.run(_march_sessions(db_url))

    out, _ = ladeflyt(
        "user", "update", "91000001", "--email", "kari@example.no", "--invoice-channel", "email"
    )
    assert out == "user +4791000001 updated: e-mail kari@example.no, invoice channel email\n"
    ladeflyt("user", "update", "91000002", "--invoice-channel", "ehf")
    out, _ = ladeflyt("invoices", "channel", "91000002")
    assert out == "chosen: ehf  invoices go by: ehf  to: 0192:974760673\nwhy: chose EHF\n"
    _, err = ladeflyt("user", "update", "91000003", "--email", "not-an-address", code=2)
    assert "not an e-mail address" in err

    out, err = ladeflyt("invoices", "run", "--period", "2026-03", "--issue-date", "2026-04-01")
    assert "invoice 1  Kari Nordmann" in out and "invoice 2  Hansen Transport AS" in out
    assert "2 invoice(s), 4 session(s) for 2026-03" in out
    assert "queued for delivery: 1 by efaktura" not in out
    assert "queued for delivery: 1 by ehf, 1 by email" in out
    assert "[########################] 2/2 customers" in err

    out, _ = ladeflyt("invoices", "deliver")
    lines = out.splitlines()
    assert lines[0].startswith("invoice 1     email    delivered kari@example.no")
    assert lines[1].startswith("invoice 2     ehf      delivered 0192:974760673")
    assert lines[1].endswith("faktura-2.xml")
    assert lines[-1] == "2 delivered, 0 to retry, 0 failed"
    (mail,) = inbox.messages
    pdf = pdf_text(attachments(mail)["faktura-1.pdf"])
    assert "KID 0000001000000016" in pdf and "Å betale (NOK) 45,00" in pdf
    ehf_file = tmp_path / "delivery" / "ehf" / "faktura-2.xml"
    assert check_ehf(ehf_file.read_bytes()) == []
    out, _ = ladeflyt("invoices", "deliver")
    assert out == "0 delivered, 0 to retry, 0 failed\n"

    out, _ = ladeflyt("invoices", "deliveries", "--invoice", "1")
    assert "invoice 1     email    delivered kari@example.no" in out
    assert "#1 " in out and " delivered" in out.splitlines()[1]
    ladeflyt("invoices", "pdf", "2", "--out", str(tmp_path / "f2.pdf"))
    assert "Hansen Transport AS" in pdf_text((tmp_path / "f2.pdf").read_bytes())
    out, _ = ladeflyt("invoices", "validate-ehf", "2")
    assert out.splitlines()[-1] == "0 error(s), 0 warning(s) (built-in checks)"
    out, _ = ladeflyt("invoices", "resend", "1", "--channel", "paper")
    assert out.startswith("queued again (paper to -)")

    out, _ = ladeflyt("invoices", "schedule", "set", "--day", "1", "--hour", "6")
    assert out == ("schedule global: monthly on day 1 at 06:00 (Oslo) for the previous month\n")
    out, _ = ladeflyt("invoices", "runs")
    assert "2026-03  manual   done" in out and "2 invoice(s), 4 session(s), 66.00 NOK" in out

    out, _ = ladeflyt("invoices", "overdue", "--today", "2026-04-25")
    assert "invoice 1      Kari Nordmann            due 2026-04-15 ( 10 days)" in out
    assert out.splitlines()[-1] == "2 overdue invoice(s), 66.00 NOK"
    out, _ = ladeflyt("invoices", "overdue", "--today", "2026-04-25", "--csv", "-")
    assert out.startswith("fakturanummer;kid;kundenummer;navn;")
    assert len(out.splitlines()) == 3


def test_consents_from_the_bank_network_move_a_customer_to_efaktura(ladeflyt, tmp_path):
    for args in (a for a in SETUP if a[:2] == ["user", "add"]):
        ladeflyt(*args)
    consents = Path(tmp_path / "consents.csv")
    consents.write_text(
        "efaktura_identifier;phone;email;status\nEF-1;91000001;;alltid\nEF-9;99999999;;always\n",
        encoding="utf-8",
    )
    out, _ = ladeflyt("efaktura", "import-consents", str(consents))
    assert out == "1 consent(s) updated, 0 unchanged, 0 withdrawn, 1 not our customers\n"
    out, _ = ladeflyt("invoices", "channel", "91000001")
    assert out.startswith("chosen: email  invoices go by: efaktura  to: EF-1")
    consents.write_text("phone;status\n91000002;none\n", encoding="utf-8")
    out, _ = ladeflyt("efaktura", "import-consents", str(consents), "--full")
    assert "1 withdrawn" in out
    out, _ = ladeflyt("invoices", "channel", "91000001")
    assert out.startswith("chosen: email  invoices go by: paper")
    ladeflyt("efaktura", "consent", "91000001", "--status", "blocked")
    ladeflyt("user", "update", "91000001", "--invoice-channel", "efaktura")
    out, _ = ladeflyt("invoices", "channel", "91000001")
    assert "why: reserved against eFaktura from us; on paper" in out
