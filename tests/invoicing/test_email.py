"""E-mail over SMTP: a real local server (aiosmtpd) receives the message and its PDF."""

from __future__ import annotations

import pytest

from core.ports import Attachment, DeliveryRejected, DeliveryUnavailable, OutboundEmail
from delivery.email import ConsoleMailSender, SmtpConfig, SmtpMailSender
from tests.invoicing.smtp import USER, attachments, free_port

FROM = "Solsiden Lading <faktura@solsiden.example>"


def mail(to: str = "kari@example.no") -> OutboundEmail:
    return OutboundEmail(
        to=to,
        subject="Faktura 1 fra Solsiden Lading AS",
        text="Hei Kari,\n\nHer er fakturaen. Å betale: 45,00 kr.\n",
        attachments=(Attachment("faktura-1.pdf", "application/pdf", b"%PDF-1.4 test"),),
        dedup_key="invoice:1",
    )


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://user:pa%40ss@mail.example:587?starttls=true",
            SmtpConfig("mail.example", 587, "user", "pa@ss", True, False),
        ),
        ("smtp://mail.example:587", SmtpConfig("mail.example", 587, None, None, True, False)),
        ("smtp://relay.local:25", SmtpConfig("relay.local", 25, None, None, False, False)),
        ("smtps://u:p@mail.example", SmtpConfig("mail.example", 465, "u", "p", False, True)),
        (
            "smtp://mail.example:2525?starttls=false",
            SmtpConfig("mail.example", 2525, None, None, False, False),
        ),
    ],
)
def test_smtp_urls_name_host_port_tls_and_credentials(url, expected):
    assert SmtpConfig.from_url(url) == expected


def test_a_url_that_is_not_smtp_is_refused():
    with pytest.raises(ValueError, match="not an SMTP URL"):
        SmtpConfig.from_url("http://mail.example")


async def test_the_mail_and_its_pdf_arrive_at_the_smtp_server_after_login(smtp):
    inbox, url = smtp
    message_id = await SmtpMailSender(url, FROM).send(mail())
    (received,) = inbox.messages
    assert inbox.logins == [USER]
    assert inbox.envelopes == [("faktura@solsiden.example", ["kari@example.no"])]
    assert received["Subject"] == "Faktura 1 fra Solsiden Lading AS"
    assert received["From"] == FROM and received["To"] == "kari@example.no"
    assert received["Message-ID"] == message_id
    assert message_id.endswith("@solsiden.example>")
    body = received.get_body(("plain",))
    assert body is not None and "Å betale: 45,00 kr." in body.get_content()
    assert attachments(received) == {"faktura-1.pdf": b"%PDF-1.4 test"}


async def test_the_message_id_comes_from_the_dedup_key_so_a_repeat_is_recognisable(smtp):
    inbox, url = smtp
    sender = SmtpMailSender(url, FROM)
    first, again = await sender.send(mail()), await sender.send(mail())
    other = await sender.send(OutboundEmail("kari@example.no", "x", "y", dedup_key="invoice:2"))
    assert first == again != other
    assert [m["Message-ID"] for m in inbox.messages] == [first, first, other]


async def test_a_refused_recipient_is_final_and_a_deferred_one_is_retried(smtp):
    inbox, url = smtp
    sender = SmtpMailSender(url, FROM)
    with pytest.raises(DeliveryRejected) as refused:
        await sender.send(mail("nobody@refused.example"))
    assert refused.value.code == "recipient"
    with pytest.raises(DeliveryUnavailable, match="deferred"):
        await sender.send(mail("kari@busy.example"))
    assert inbox.messages == []


async def test_wrong_credentials_and_an_unreachable_server_are_retried_later(smtp):
    _, url = smtp
    with pytest.raises(DeliveryUnavailable, match="login failed"):
        await SmtpMailSender(url.replace("s3cret", "wrong"), FROM).send(mail())
    closed = f"smtp://127.0.0.1:{free_port()}"
    with pytest.raises(DeliveryUnavailable, match="unreachable"):
        await SmtpMailSender(closed, FROM, timeout=2).send(mail())


async def test_without_an_smtp_server_mails_go_to_the_log(caplog):
    caplog.set_level("INFO", logger="delivery.email")
    sender = ConsoleMailSender(FROM)
    ref = await sender.send(mail())
    assert sender.sent == [mail()] and ref.startswith("<")
    assert "E-mail to kari@example.no: Faktura 1 fra Solsiden Lading AS" in caplog.text
    assert "faktura-1.pdf (13 bytes)" in caplog.text
