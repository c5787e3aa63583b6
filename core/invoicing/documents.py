"""The documents a delivery hands over, built from the database when it is sent:
PDFs, e-mails, EHF XML and eFaktura files. Reading only: no row is changed here,
except that an invoice e-mail carries a fresh pay link."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.billing import ehf
from core.billing.credit import get_credit_note
from core.billing.errors import BillingError
from core.billing.pdf import (
    LineWhere,
    ReceiptDoc,
    ReceiptLine,
    account,
    credit_note_pdf,
    invoice_pdf,
    kwh,
    nok,
)
from core.billing.pdf import receipt_pdf as render_receipt
from core.billing.schemas import CreditNoteView, InvoiceDetail, Party
from core.billing.service import get_invoice
from core.billing.settings import get_billing_settings
from core.config import Settings
from core.models import Charger, ChargingSession, InvoiceLine, Site
from core.ports import Attachment, OutboundEmail
from core.timeutil import OSLO
from core.users.auth import load_secret

# --------------------------------------------------------------------------- links


def _token(settings: Settings, what: str) -> str:
    key = load_secret(settings).encode()
    return hmac.new(key, what.encode(), hashlib.sha256).hexdigest()[:32]


def invoice_pdf_token(settings: Settings, invoice_id: int) -> str:
    return _token(settings, f"invoice-pdf:{invoice_id}")


def invoice_pdf_url(settings: Settings, invoice_id: int) -> str:
    base = settings.public_base_url.rstrip("/")
    return f"{base}/invoices/{invoice_id}/pdf?t={invoice_pdf_token(settings, invoice_id)}"


def token_ok(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode(), given.encode())


# --------------------------------------------------------------------------- invoices


async def invoice_detail(session: AsyncSession, invoice_id: int) -> InvoiceDetail:
    detail = await get_invoice(session, invoice_id, None)
    if detail is None:
        raise BillingError(f"no invoice {invoice_id}")
    return detail


async def line_places(session: AsyncSession, invoice_id: int) -> dict[int, LineWhere]:
    """Site and charger of each session on the invoice."""
    rows = await session.execute(
        select(InvoiceLine.id, Charger.charge_point_id, Charger.public_code, Site.name)
        .join(ChargingSession, ChargingSession.id == InvoiceLine.session_id)
        .join(Charger, Charger.id == ChargingSession.charger_id)
        .outerjoin(Site, Site.id == Charger.site_id)
        .where(InvoiceLine.invoice_id == invoice_id)
    )
    return {line_id: LineWhere(site or "", code or cp_id) for line_id, cp_id, code, site in rows}


async def invoice_pdf_bytes(
    session: AsyncSession, invoice_id: int, *, pay_url: str | None = None
) -> tuple[InvoiceDetail, bytes]:
    detail = await invoice_detail(session, invoice_id)
    return detail, invoice_pdf(detail, await line_places(session, invoice_id), pay_url=pay_url)


async def credit_note_parts(
    session: AsyncSession, credit_note_id: int
) -> tuple[InvoiceDetail, CreditNoteView, bytes]:
    note = await get_credit_note(session, credit_note_id)
    if note is None:
        raise BillingError(f"no credit note {credit_note_id}")
    detail = await invoice_detail(session, note.invoice_id)
    return detail, note, credit_note_pdf(detail, note)


def invoice_name(detail: InvoiceDetail) -> str:
    return f"faktura-{detail.summary.number}"


def credit_note_name(note: CreditNoteView) -> str:
    return f"kreditnota-{note.number}"


def invoice_email(
    detail: InvoiceDetail, pdf: bytes, to: str, dedup_key: str, pay_url: str | None
) -> OutboundEmail:
    s = detail.summary
    lines = [
        f"Hei {detail.buyer.name},",
        "",
        f"Her er faktura {s.number} fra {detail.seller.name} for lading i {s.period}.",
        "",
        f"Å betale:    {nok(s.amount_due_ore)} kr",
        f"Forfall:     {s.due_date:%d.%m.%Y}",
        f"Konto:       {account(detail.seller.bank_account)}",
        f"KID:         {s.kid}",
    ]
    if pay_url:
        lines += ["", f"Betal med kort eller Vipps: {pay_url}"]
    lines += ["", "Fakturaen ligger vedlagt som PDF.", "", f"Vennlig hilsen {detail.seller.name}"]
    return OutboundEmail(
        to=to,
        subject=f"Faktura {s.number} fra {detail.seller.name} - forfall {s.due_date:%d.%m.%Y}",
        text="\n".join(lines) + "\n",
        attachments=(Attachment(f"{invoice_name(detail)}.pdf", "application/pdf", pdf),),
        dedup_key=dedup_key,
    )


def credit_note_email(
    detail: InvoiceDetail, note: CreditNoteView, pdf: bytes, to: str, dedup_key: str
) -> OutboundEmail:
    text = (
        f"Hei {detail.buyer.name},\n\n"
        f"Vi har kreditert {nok(note.total_ore)} kr av faktura {detail.summary.number}: "
        f"{note.reason}.\nKreditnotaen ligger vedlagt som PDF.\n\n"
        f"Vennlig hilsen {detail.seller.name}\n"
    )
    return OutboundEmail(
        to=to,
        subject=f"Kreditnota {note.number} til faktura {detail.summary.number}",
        text=text,
        attachments=(Attachment(f"{credit_note_name(note)}.pdf", "application/pdf", pdf),),
        dedup_key=dedup_key,
    )


def ehf_invoice(detail: InvoiceDetail) -> bytes:
    return ehf.invoice_xml(detail)


def ehf_credit_note(detail: InvoiceDetail, note: CreditNoteView) -> bytes:
    return ehf.credit_note_xml(detail, note)


# --------------------------------------------------------------------------- receipts


def seller_party() -> Party:
    return Party.from_json(get_billing_settings().seller())


async def receipt_doc(session: AsyncSession, session_id: int) -> ReceiptDoc | None:
    from core.payments.receipts import receipt

    r = await receipt(session, session_id)
    if r is None:
        return None
    cs = await session.get_one(ChargingSession, session_id)
    charger = await session.get_one(Charger, cs.charger_id)
    site = await session.get(Site, charger.site_id) if charger.site_id is not None else None
    return ReceiptDoc(
        session_id=r.session_id,
        charger=r.charger_code,
        site=site.name if site else "",
        evse_id=r.evse_id,
        started_at=r.started_at,
        stopped_at=r.stopped_at,
        energy_wh=r.energy_wh,
        lines=[
            ReceiptLine(f"{x.description_nb} ({_qty(x.quantity)} {x.unit})", x.total_ore)
            for x in r.lines
        ],
        net_ore=r.net_ore,
        vat_ore=r.vat_ore,
        total_ore=r.total_ore,
        paid_ore=r.paid_ore,
        method=r.method,
        seller=seller_party(),
        energy_exported_wh=r.energy_exported_wh,
        v2g_credit_ore=r.v2g_credit_ore,
    )


def _qty(value: object) -> str:
    return str(value).replace(".", ",")


def receipt_pdf(doc: ReceiptDoc) -> bytes:
    return render_receipt(doc)


def receipt_email(doc: ReceiptDoc, pdf: bytes, to: str, dedup_key: str, url: str) -> OutboundEmail:
    start = doc.started_at.astimezone(OSLO)
    plug = f" #{doc.evse_id}" if doc.evse_id else ""
    where = f", {doc.site}" if doc.site else ""
    text = (
        f"Takk for at du ladet hos {doc.seller.name}.\n\n"
        f"Lader:   {doc.charger}{plug}{where}\n"
        f"Dato:    {start:%d.%m.%Y %H:%M}\n"
        f"Energi:  {kwh(doc.energy_wh)} kWh\n"
        f"Totalt:  {nok(doc.total_ore)} kr (herav MVA {nok(doc.vat_ore)} kr)\n\n"
        f"Kvitteringen ligger vedlagt som PDF, og på nett: {url}\n"
    )
    return OutboundEmail(
        to=to,
        subject=f"Kvittering for lading {start:%d.%m.%Y}",
        text=text,
        attachments=(Attachment(f"kvittering-{doc.session_id}.pdf", "application/pdf", pdf),),
        dedup_key=dedup_key,
    )


@dataclass(frozen=True)
class Built:
    """What one delivery hands over (only the fields its channel needs are set)."""

    email: OutboundEmail | None = None
    name: str = ""
    xml: bytes = b""
    pdf: bytes = b""
    kind: str = "invoice"
    sender: str = ""
