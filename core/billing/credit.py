"""Credit notes: cancel an invoice, or some of its sessions, with a document of its own.

An invoice line is credited at most once (unique credit_note_lines.invoice_line_id) and for
its full amount, so a credit note repeats the net and VAT of the lines it cancels: the VAT
credited is exactly the VAT invoiced. When every line is credited the invoice's status is
"credited". Credited sessions get payment_state "credited" and are not invoiced again.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.billing.errors import BillingError
from core.billing.periods import local_today
from core.billing.schemas import CreditNoteLineView, CreditNoteView
from core.billing.service import credited_line_ids, next_number
from core.models import ChargingSession, CreditNote, CreditNoteLine, Invoice, InvoiceStatus


def _view(note: CreditNote, invoice_number: int) -> CreditNoteView:
    return CreditNoteView(
        id=note.id,
        number=note.number,
        invoice_id=note.invoice_id,
        invoice_number=invoice_number,
        issue_date=note.issue_date,
        reason=note.reason,
        net_ore=note.net_ore,
        vat_ore=note.vat_ore,
        total_ore=note.total_ore,
        lines=[
            CreditNoteLineView(
                line.invoice_line_id, line.description, line.net_ore, line.vat_ore, line.total_ore
            )
            for line in note.lines
        ],
    )


async def credit_notes_of(session: AsyncSession, inv: Invoice) -> list[CreditNoteView]:
    rows = await session.execute(
        select(CreditNote)
        .options(selectinload(CreditNote.lines))
        .where(CreditNote.invoice_id == inv.id)
        .order_by(CreditNote.number)
    )
    return [_view(note, inv.number) for note in rows.scalars()]


async def get_credit_note(session: AsyncSession, credit_note_id: int) -> CreditNoteView | None:
    note = (
        await session.execute(
            select(CreditNote)
            .options(selectinload(CreditNote.lines))
            .where(CreditNote.id == credit_note_id)
        )
    ).scalar_one_or_none()
    if note is None:
        return None
    inv = await session.get_one(Invoice, note.invoice_id)
    return _view(note, inv.number)


async def credit_invoice(
    session: AsyncSession,
    invoice_id: int,
    reason: str,
    *,
    line_ids: list[int] | None = None,
    issue_date: date | None = None,
) -> CreditNoteView:
    """Credit the given lines of an invoice (default: every line not credited yet)."""
    query = select(Invoice).options(selectinload(Invoice.lines)).where(Invoice.id == invoice_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Invoice)
    inv = (await session.execute(query)).scalar_one_or_none()
    if inv is None:
        raise BillingError(f"no invoice {invoice_id}")
    if not reason.strip():
        raise BillingError("a credit note needs a reason")
    done = await credited_line_ids(session, [line.id for line in inv.lines])
    open_lines = [line for line in inv.lines if line.id not in done]
    if line_ids is not None:
        known = {line.id for line in inv.lines}
        unknown = set(line_ids) - known
        if unknown:
            raise BillingError(f"invoice {inv.number} has no line {sorted(unknown)[0]}")
        again = set(line_ids) & done
        if again:
            raise BillingError(f"line {sorted(again)[0]} of invoice {inv.number} is credited")
        open_lines = [line for line in open_lines if line.id in set(line_ids)]
    if not open_lines:
        raise BillingError(f"invoice {inv.number} has nothing left to credit")

    net = sum(line.net_ore for line in open_lines)
    vat = sum(line.vat_ore for line in open_lines)
    note = CreditNote(
        number=await next_number(session),
        invoice_id=inv.id,
        issue_date=issue_date or local_today(),
        reason=reason.strip()[:200],
        net_ore=net,
        vat_ore=vat,
        total_ore=net + vat,
    )
    session.add(note)
    await session.flush()
    for line in open_lines:
        session.add(
            CreditNoteLine(
                credit_note_id=note.id,
                invoice_line_id=line.id,
                description=line.description,
                net_ore=line.net_ore,
                vat_ore=line.vat_ore,
                total_ore=line.total_ore,
            )
        )
    session_ids = [line.session_id for line in open_lines if line.session_id is not None]
    if session_ids:
        for cs in (
            await session.execute(
                select(ChargingSession).where(ChargingSession.id.in_(session_ids))
            )
        ).scalars():
            cs.payment_state = "credited"
    inv.credited_ore += net + vat
    if len(done) + len(open_lines) == len(inv.lines):
        inv.status = InvoiceStatus.CREDITED.value
    await session.flush()
    return CreditNoteView(
        id=note.id,
        number=note.number,
        invoice_id=inv.id,
        invoice_number=inv.number,
        issue_date=note.issue_date,
        reason=note.reason,
        net_ore=net,
        vat_ore=vat,
        total_ore=net + vat,
        lines=[
            CreditNoteLineView(
                line.id, line.description, line.net_ore, line.vat_ore, line.total_ore
            )
            for line in open_lines
        ],
    )
