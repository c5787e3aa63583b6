"""E-mail: over SMTP (LADEFLYT_SMTP_URL), or to the log when no server is configured.

    smtp://user:pass@mail.example:587?starttls=true   STARTTLS (the default on 587)
    smtp://mail.example:25                            plain (a relay on the local network)
    smtps://user:pass@mail.example:465                TLS from the start

The user name and password are URL-encoded in the URL (`%40` for @). The Message-ID is
derived from the delivery's dedup key, so a repeat is recognisable as the same mail.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, parseaddr
from urllib.parse import parse_qs, unquote, urlsplit

from core.ports import DeliveryRejected, DeliveryUnavailable, OutboundEmail

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SmtpConfig:
    host: str
    port: int
    username: str | None
    password: str | None
    starttls: bool
    tls: bool  # smtps: TLS from the first byte

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError(f"not an SMTP URL: {url!r} (smtp://user:pass@host:587)")
        tls = parts.scheme == "smtps"
        port = parts.port or (465 if tls else 587)
        query = {k: v[-1].lower() for k, v in parse_qs(parts.query).items()}
        default_starttls = not tls and port == 587
        starttls = query.get("starttls", "true" if default_starttls else "false") in (
            "1",
            "true",
            "yes",
        )
        return cls(
            host=parts.hostname,
            port=port,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=starttls and not tls,
            tls=tls,
        )


def message_id(dedup_key: str | None, sender: str) -> str:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "ladeflyt.invalid"
    seed = dedup_key or f"{id(sender)}"
    return f"<{hashlib.sha256(seed.encode()).hexdigest()[:32]}@{domain}>"


def build_message(message: OutboundEmail, sender: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False)
    mail["Message-ID"] = message_id(message.dedup_key, sender)
    mail.set_content(message.text)
    for a in message.attachments:
        maintype, _, subtype = a.content_type.partition("/")
        mail.add_attachment(a.data, maintype=maintype, subtype=subtype, filename=a.filename)
    return mail


class SmtpMailSender:
    def __init__(self, url: str, sender: str, *, timeout: float = 30.0) -> None:
        self.config = SmtpConfig.from_url(url)
        self.sender = sender
        self.timeout = timeout

    async def send(self, message: OutboundEmail) -> str:
        mail = build_message(message, self.sender)
        await asyncio.to_thread(self._send, mail)
        return str(mail["Message-ID"])

    def _send(self, mail: EmailMessage) -> None:
        c = self.config
        context = ssl.create_default_context()
        try:
            smtp: smtplib.SMTP
            if c.tls:
                smtp = smtplib.SMTP_SSL(c.host, c.port, timeout=self.timeout, context=context)
            else:
                smtp = smtplib.SMTP(c.host, c.port, timeout=self.timeout)
            with smtp:
                if c.starttls:
                    smtp.starttls(context=context)
                if c.username:
                    smtp.login(c.username, c.password or "")
                smtp.send_message(mail)
        except smtplib.SMTPRecipientsRefused as error:
            codes = [code for code, _ in error.recipients.values()]
            if all(400 <= code < 500 for code in codes):
                raise DeliveryUnavailable(f"recipient deferred: {error.recipients}") from None
            raise DeliveryRejected("recipient", f"recipient refused: {error.recipients}") from None
        except smtplib.SMTPAuthenticationError as error:
            # Our configuration, not the mail: keep it and try again once it is fixed.
            raise DeliveryUnavailable(f"SMTP login failed: {error.smtp_code}") from None
        except smtplib.SMTPResponseException as error:
            text = f"SMTP {error.smtp_code}: {error.smtp_error!r}"
            if 500 <= error.smtp_code < 600:
                raise DeliveryRejected(str(error.smtp_code), text) from None
            raise DeliveryUnavailable(text) from None
        except (smtplib.SMTPException, OSError) as error:
            raise DeliveryUnavailable(f"SMTP server unreachable: {error}") from None


class ConsoleMailSender:
    """No SMTP server configured: e-mails go to the log (and are kept for tests)."""

    def __init__(self, sender: str, keep: int = 500) -> None:
        self.sender = sender
        self.sent: list[OutboundEmail] = []
        self._keep = keep

    async def send(self, message: OutboundEmail) -> str:
        files = ", ".join(f"{a.filename} ({len(a.data)} bytes)" for a in message.attachments)
        log.info(
            "E-mail to %s: %s\n%s%s",
            message.to,
            message.subject,
            message.text,
            f"[attached: {files}]" if files else "",
        )
        self.sent.append(message)
        del self.sent[: -self._keep]
        return message_id(message.dedup_key, self.sender)
