"""E-mail senders: the console one for local runs and tests, SMTP for production."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage

from core.orgs.ports import OutboundEmail

log = logging.getLogger(__name__)


class ConsoleEmailSender:
    """Prints, and remembers what it sent."""

    def __init__(self, keep: int = 1000) -> None:
        self.sent: list[OutboundEmail] = []
        self._keep = keep

    async def send(self, message: OutboundEmail) -> str:
        log.info("e-mail to %s: %s\n%s", message.to, message.subject, message.body)
        self.sent.append(message)
        del self.sent[: -self._keep]
        return f"CONSOLE-MAIL{len(self.sent):08d}"


class SmtpEmailSender:
    """Plain SMTP (STARTTLS unless told otherwise), run in a thread: sign-in codes are few."""

    def __init__(
        self,
        host: str,
        port: int,
        sender: str,
        username: str = "",
        password: str = "",
        starttls: bool = True,
    ) -> None:
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password, self.starttls = username, password, starttls

    def _send(self, message: OutboundEmail) -> str:
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.sender, message.to, message.subject
        mail.set_content(message.body)
        with smtplib.SMTP(self.host, self.port, timeout=30) as smtp:
            if self.starttls:
                smtp.starttls()
            if self.username:
                smtp.login(self.username, self.password)
            smtp.send_message(mail)
        return str(mail.get("Message-ID") or "")

    async def send(self, message: OutboundEmail) -> str:
        return await asyncio.to_thread(self._send, message)
