"""The delivery channels as configured (LADEFLYT_SMTP_URL, LADEFLYT_PEPPOL_*, directories)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.billing.peppol_rules import check_ehf
from core.billing.schematron import SchematronRunner, rule_files
from core.config import Settings
from core.db import transaction
from core.invoicing.consent import import_consents
from core.invoicing.dispatcher import Channels, EhfCheck
from core.invoicing.receipts import queue_due_receipts
from core.ports import MailSender, PeppolAccessPoint
from delivery.email import ConsoleMailSender, SmtpMailSender
from delivery.files import EfakturaFileOutbox, FileDropAccessPoint, FilePrintShop
from delivery.peppol_http import HttpAccessPoint

log = logging.getLogger(__name__)
Chore = Callable[[], Awaitable[None]]


def directory(settings: Settings, explicit: str, name: str) -> Path:
    return Path(explicit) if explicit else Path(settings.delivery_dir) / name


def mail_sender(settings: Settings) -> MailSender:
    if settings.smtp_url:
        return SmtpMailSender(
            settings.smtp_url, settings.mail_from, timeout=settings.smtp_timeout_s
        )
    return ConsoleMailSender(settings.mail_from)


def access_point(settings: Settings) -> PeppolAccessPoint:
    if settings.peppol_access_point == "http":
        return HttpAccessPoint(
            settings.peppol_ap_url,
            settings.peppol_ap_api_key,
            timeout=settings.peppol_ap_timeout_s,
        )
    if settings.peppol_access_point != "file":
        raise ValueError(f"unknown LADEFLYT_PEPPOL_ACCESS_POINT {settings.peppol_access_point!r}")
    return FileDropAccessPoint(directory(settings, settings.peppol_outbox_dir, "ehf"))


def ehf_check(settings: Settings) -> EhfCheck:
    """The built-in rules always; the official Schematron too when its folder is set.
    Returns the fatal findings only (warnings are logged)."""
    runner = (
        SchematronRunner(rule_files(settings.ehf_rules_dir)) if settings.ehf_rules_dir else None
    )

    def check(xml: bytes) -> list[str]:
        findings = check_ehf(xml)
        if runner is not None:
            findings += runner.validate(xml)
        for f in findings:
            if not f.fatal:
                log.warning("EHF warning %s", f)
        return [str(f) for f in findings if f.fatal]

    return check


def channels(settings: Settings, *, mail: MailSender | None = None) -> Channels:
    return Channels(
        mail=mail or mail_sender(settings),
        efaktura=EfakturaFileOutbox(directory(settings, settings.efaktura_outbox_dir, "efaktura")),
        peppol=access_point(settings),
        printer=FilePrintShop(directory(settings, settings.print_dir, "print")),
        ehf_check=ehf_check(settings),
    )


def receipt_chore(sessions: async_sessionmaker[AsyncSession]) -> Chore:
    """Queue the e-mail receipts of sessions paid lately."""

    async def chore() -> None:
        async with transaction(sessions) as session:
            await queue_due_receipts(session)

    return chore


def consent_chore(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Chore:
    """Import the consent files the distributor drops in <eFaktura outbox>/consents-in
    (`*.csv`; a name ending in `-full.csv` is the whole picture), then move them to done/."""
    inbox = directory(settings, settings.efaktura_outbox_dir, "efaktura") / "consents-in"

    async def chore() -> None:
        if not inbox.is_dir():
            return
        for path in sorted(inbox.glob("*.csv")):
            text = path.read_text(encoding="utf-8-sig")
            async with transaction(sessions) as session:
                result = await import_consents(
                    session, text, source=path.name, full=path.name.endswith("-full.csv")
                )
            done = inbox / "done"
            done.mkdir(exist_ok=True)
            path.replace(done / path.name)
            log.info(
                "eFaktura consents %s: %d updated, %d withdrawn, %d unknown",
                path.name,
                result.updated,
                result.withdrawn,
                len(result.unknown),
            )

    return chore
