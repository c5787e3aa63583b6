"""Hand what is due in the delivery outbox to its channel, at most once per delivery.

Each delivery is claimed and committed (queued -> sending) before its channel is called,
and each try is recorded in `delivery_attempts`. A channel that says "try again"
(DeliveryUnavailable, or any unexpected error) gets the delivery back after a backoff
(1, 2, 4, ... times `delivery_retry_base_s`), until `delivery_max_attempts`; one that says
"never" (DeliveryRejected, an invalid document) fails it at once. Paper deliveries are
not sent one by one: every round gathers the due ones into one print batch (one PDF).
A delivery left "sending" by a process that died is picked up by `recover_interrupted`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.billing.errors import BillingError
from core.billing.pdf import Letter, print_batch_pdf
from core.config import Settings
from core.db import transaction
from core.invoicing import documents as docs
from core.invoicing import outbox
from core.invoicing.efaktura import efaktura_xml
from core.models import Channel, DeliveryAttempt, DeliveryStatus, DocumentDelivery
from core.ports import (
    DeliveryRejected,
    DeliveryUnavailable,
    EfakturaDistributor,
    EfakturaDocument,
    MailSender,
    PeppolAccessPoint,
    PeppolDocument,
    PrintShop,
)
from core.timeutil import OSLO, utcnow

log = logging.getLogger(__name__)
# A delivery "sending" for longer than this was interrupted (its process died).
INTERRUPTED = timedelta(minutes=15)

# Checks an EHF document before it is sent; returns the fatal findings (empty = fine).
EhfCheck = Callable[[bytes], list[str]]


@dataclass
class Channels:
    """The adapters behind the ports, one per channel."""

    mail: MailSender
    efaktura: EfakturaDistributor
    peppol: PeppolAccessPoint
    printer: PrintShop
    ehf_check: EhfCheck | None = None


@dataclass
class RoundResult:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    print_batch: str | None = None
    outcomes: list[tuple[int, str, str]] = field(default_factory=list)  # id, outcome, detail


class _Invalid(Exception):
    """The document cannot be built or does not validate: no retry will help."""


class DeliveryDispatcher:
    def __init__(
        self,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        channels: Channels,
    ) -> None:
        self.settings = settings
        self._sessions = sessions
        self.channels = channels
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()
        # Periodic chores that feed the outbox (receipts of paid sessions, consent files).
        self.chores: list[Callable[[], Awaitable[Any]]] = []

    def kick(self) -> None:
        self._wake.set()

    async def run_once(self, now: datetime | None = None) -> RoundResult:
        """Send everything due; returns what happened."""
        async with self._lock:
            return await self._round(now or utcnow())

    async def _round(self, now: datetime) -> RoundResult:
        result = RoundResult()
        async with transaction(self._sessions) as session:
            ids = await outbox.due(session, now)
        paper: list[int] = []
        for delivery_id in ids:
            async with transaction(self._sessions) as session:
                delivery = await outbox.claim(session, delivery_id, now)
                if delivery is None:
                    continue
                if delivery.channel == Channel.PAPER.value:
                    paper.append(delivery_id)
                    continue
            await self._one(delivery_id, now, result)
        if paper:
            await self._print(paper, now, result)
        return result

    async def _one(self, delivery_id: int, now: datetime, result: RoundResult) -> None:
        started = utcnow()
        try:
            ref = await self._send(delivery_id)
        except (_Invalid, DeliveryRejected) as error:
            await self._finish(delivery_id, started, None, "failed", str(error), now, result)
        except DeliveryUnavailable as error:
            await self._finish(delivery_id, started, None, "retry", str(error), now, result)
        except Exception as error:
            log.exception("delivery %s failed unexpectedly", delivery_id)
            detail = f"{type(error).__name__}: {error}"
            await self._finish(delivery_id, started, None, "retry", detail, now, result)
        else:
            await self._finish(delivery_id, started, ref, "delivered", "", now, result)

    async def _send(self, delivery_id: int) -> str:
        async with transaction(self._sessions) as session:
            d = await session.get_one(DocumentDelivery, delivery_id)
            channel, key, to = d.channel, d.dedup_key, d.recipient
            built = await self._build(session, d)
        if not to:
            raise _Invalid(f"no {channel} address for this customer")
        c = self.channels
        if channel == Channel.EMAIL.value:
            assert built.email is not None
            return await c.mail.send(built.email)
        if channel == Channel.EFAKTURA.value:
            return await c.efaktura.deliver(EfakturaDocument(built.name, built.xml, built.pdf))
        if channel == Channel.EHF.value:
            if c.ehf_check is not None:
                problems = await asyncio.to_thread(c.ehf_check, built.xml)
                if problems:
                    raise _Invalid("EHF does not validate: " + "; ".join(problems[:5]))
            return await c.peppol.send(
                PeppolDocument(built.name, built.kind, built.sender, to, built.xml)
            )
        raise _Invalid(f"unknown channel {channel!r} for delivery {key}")

    async def _build(self, session: AsyncSession, d: DocumentDelivery) -> docs.Built:
        try:
            return await self._build_inner(session, d)
        except BillingError as error:  # e.g. EHF without org numbers
            raise _Invalid(str(error)) from None

    async def _build_inner(self, session: AsyncSession, d: DocumentDelivery) -> docs.Built:
        settings = self.settings
        if d.document == "receipt":
            assert d.session_id is not None
            doc = await docs.receipt_doc(session, d.session_id)
            if doc is None:
                raise _Invalid(f"no session {d.session_id}")
            from core.payments.receipts import receipt_url

            pdf = docs.receipt_pdf(doc)
            url = receipt_url(settings, d.session_id)
            return docs.Built(email=docs.receipt_email(doc, pdf, d.recipient, d.dedup_key, url))
        if d.document == "credit_note":
            assert d.credit_note_id is not None
            detail, note, pdf = await docs.credit_note_parts(session, d.credit_note_id)
            name = docs.credit_note_name(note)
            if d.channel == Channel.EMAIL.value:
                return docs.Built(
                    email=docs.credit_note_email(detail, note, pdf, d.recipient, d.dedup_key)
                )
            if d.channel == Channel.EHF.value:
                return docs.Built(
                    name=name,
                    xml=docs.ehf_credit_note(detail, note),
                    kind="credit_note",
                    sender=f"0192:{detail.seller.org_number}",
                )
            xml = efaktura_xml(
                detail,
                identifier=d.recipient,
                issuer_id=settings.efaktura_issuer_id,
                name=name,
                note=note,
            )
            return docs.Built(name=name, xml=xml, pdf=pdf, kind="credit_note")
        assert d.invoice_id is not None
        pay_url = None
        if d.channel == Channel.EMAIL.value:
            from core.payments.invoices import create_link

            token = await create_link(session, d.invoice_id, settings.invoice_link_ttl_days)
            pay_url = f"{settings.public_base_url.rstrip('/')}/invoice/{token}"
        detail, pdf = await docs.invoice_pdf_bytes(session, d.invoice_id, pay_url=pay_url)
        name = docs.invoice_name(detail)
        if d.channel == Channel.EMAIL.value:
            return docs.Built(
                email=docs.invoice_email(detail, pdf, d.recipient, d.dedup_key, pay_url)
            )
        if d.channel == Channel.EHF.value:
            return docs.Built(
                name=name,
                xml=docs.ehf_invoice(detail),
                sender=f"0192:{detail.seller.org_number}",
            )
        xml = efaktura_xml(
            detail, identifier=d.recipient, issuer_id=settings.efaktura_issuer_id, name=name
        )
        return docs.Built(name=name, xml=xml, pdf=pdf)

    async def _print(self, ids: list[int], now: datetime, result: RoundResult) -> None:
        """One PDF for every paper delivery of this round, handed to the print shop."""
        started = utcnow()
        name = f"utskrift-{now.astimezone(OSLO):%Y%m%d-%H%M%S}-{min(ids)}"
        try:
            letters = await self._letters(ids)
            pdf = print_batch_pdf(name, letters, docs.seller_party())
            ref = await self.channels.printer.submit(name, pdf)
        except (DeliveryRejected, BillingError) as error:
            for delivery_id in ids:
                await self._finish(delivery_id, started, None, "failed", str(error), now, result)
            return
        except Exception as error:
            log.exception("print batch %s failed", name)
            for delivery_id in ids:
                await self._finish(delivery_id, started, None, "retry", str(error), now, result)
            return
        for delivery_id in ids:
            await self._finish(delivery_id, started, ref, "delivered", name, now, result)
        result.print_batch = ref

    async def _letters(self, ids: list[int]) -> list[Letter]:
        letters: list[Letter] = []
        async with transaction(self._sessions) as session:
            for delivery_id in ids:
                d = await session.get_one(DocumentDelivery, delivery_id)
                if d.document == "credit_note" and d.credit_note_id is not None:
                    detail, note, _ = await docs.credit_note_parts(session, d.credit_note_id)
                    letters.append(Letter(detail, {}, "credit_note", note))
                elif d.invoice_id is not None:
                    detail = await docs.invoice_detail(session, d.invoice_id)
                    where = await docs.line_places(session, d.invoice_id)
                    letters.append(Letter(detail, where))
        return letters

    async def recover_interrupted(self, now: datetime | None = None) -> int:
        """Deliveries left in "sending" by a process that died mid-send (older than
        INTERRUPTED). Channels that cannot deliver twice (file drops replace their file, the
        access point knows the Idempotency-Key) are tried again; an e-mail may have gone out,
        so it is failed with a note for the operator (`ladeflyt invoices resend`)."""
        now = now or utcnow()
        async with transaction(self._sessions) as session:
            stuck = (
                await session.execute(
                    select(DocumentDelivery).where(
                        DocumentDelivery.status == DeliveryStatus.SENDING.value,
                        DocumentDelivery.updated_at < now - INTERRUPTED,
                    )
                )
            ).scalars()
            count = 0
            for d in stuck:
                count += 1
                d.updated_at = now
                if d.channel == Channel.EMAIL.value:
                    d.status = DeliveryStatus.FAILED.value
                    d.last_error = "interrupted while sending: check whether it arrived"
                else:
                    d.status = DeliveryStatus.QUEUED.value
                    d.send_after = now
        return count

    async def _finish(
        self,
        delivery_id: int,
        started: datetime,
        ref: str | None,
        outcome: str,
        detail: str,
        now: datetime,
        result: RoundResult,
    ) -> None:
        async with transaction(self._sessions) as session:
            d = await session.get_one(DocumentDelivery, delivery_id)
            if outcome == "retry" and d.attempts >= self.settings.delivery_max_attempts:
                outcome, detail = "failed", f"gave up after {d.attempts} attempts: {detail}"
            session.add(
                DeliveryAttempt(
                    delivery_id=delivery_id,
                    number=d.attempts,
                    started_at=started,
                    finished_at=utcnow(),
                    outcome=outcome,
                    detail=detail[:500],
                )
            )
            d.updated_at = utcnow()
            if d.status != DeliveryStatus.SENDING.value:
                return  # cancelled meanwhile
            if outcome == "delivered":
                d.status = DeliveryStatus.DELIVERED.value
                d.external_ref = (ref or "")[:200]
                d.delivered_at = utcnow()
                d.last_error = None
                result.delivered += 1
            elif outcome == "retry":
                d.status = DeliveryStatus.QUEUED.value
                d.send_after = now + outbox.backoff(d.attempts, self.settings.delivery_retry_base_s)
                d.last_error = detail[:300]
                result.retried += 1
            else:
                d.status = DeliveryStatus.FAILED.value
                d.last_error = detail[:300]
                result.failed += 1
                log.warning("delivery %s (%s) failed: %s", d.dedup_key, d.channel, detail)
            result.outcomes.append((delivery_id, outcome, detail))

    # ------------------------------------------------------------- background

    async def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="invoice-deliveries")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.housekeeping()
                outcome = await self.run_once()
                if outcome.delivered or outcome.failed:
                    log.info(
                        "deliveries: %s delivered, %s to retry, %s failed",
                        outcome.delivered,
                        outcome.retried,
                        outcome.failed,
                    )
            except Exception:
                log.exception("delivery round failed")
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.delivery_interval_s)

    async def housekeeping(self) -> None:
        try:
            await self.recover_interrupted()
        except Exception:
            log.exception("recovering interrupted deliveries failed")
        for chore in self.chores:
            try:
                await chore()
            except Exception:
                log.exception("delivery chore %s failed", chore)
