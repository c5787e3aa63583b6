"""Monthly invoices for members and businesses: one line per charging session, with KID.

The invoice run for a period (a calendar month, Europe/Oslo) takes the completed sessions of
customers billed by invoice (`User.invoice_billing`) that stopped in the period and are not
billed yet (`payment_state == "none"`). Sessions still unpriced are priced first; what cannot
be priced (no price configured, spot price missing) is reported and left for a later run.
Each customer gets one invoice with one line per session; the session is marked "invoiced"
and can never be on a second invoice (unique invoice_lines.session_id), so running the same
period again invoices only sessions that arrived late. An invoice line carries the session's
net and VAT as priced (VAT computed per cost line, see core.tariffs.engine); the invoice's
totals are the sums of its lines. An invoice of 0 kr is not issued.

V2G credits (core.identity.v2g: energy a car gave back) not yet credited go on the owner's
next invoice as negative lines, each whole and exactly once (v2g_credits.invoice_id is
set in the same transaction). A credit is a price reduction with VAT included, split 4/5
net and 1/5 VAT like every line; credits are applied oldest first while the invoice stays
at or above 0 kr, the rest wait for the next invoice.

Numbers of invoices and credit notes come from one gapless series (document_counters),
allocated inside the transaction that issues the document.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core import l10n
from core.billing.errors import BillingError
from core.billing.kid import KidError, make_kid
from core.billing.orgnr import valid_org_number
from core.billing.periods import PeriodError, local_date, local_today, period_bounds
from core.billing.schemas import (
    InvoiceDetail,
    InvoiceLineView,
    InvoiceRunResult,
    InvoiceSummary,
    Party,
)
from core.billing.settings import BillingSettings, get_billing_settings
from core.models import (
    BillingProfile,
    Charger,
    ChargingSession,
    CreditNoteLine,
    DocumentCounter,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    SessionStatus,
    User,
    V2gCredit,
)
from core.models.infrastructure import Site
from core.tariffs.errors import TariffError
from core.tariffs.schemas import CostLine
from core.tariffs.service import price_session
from core.tariffs.windows import DASH
from core.timeutil import OSLO, utcnow

__all__ = [
    "BillingError",
    "get_invoice",
    "list_invoices",
    "mark_overdue",
    "mark_paid",
    "run_invoices",
]

SERIES = "sales"


async def next_number(session: AsyncSession, series: str = SERIES) -> int:
    """The next number of a gapless series; the row stays locked until commit."""
    if session.get_bind().dialect.name == "postgresql":
        insert: Any = postgresql.insert(DocumentCounter)
    else:
        insert = sqlite.insert(DocumentCounter)
    stmt = (
        insert.values(series=series, value=1)
        .on_conflict_do_update(index_elements=["series"], set_={"value": DocumentCounter.value + 1})
        .returning(DocumentCounter.value)
    )
    return int((await session.execute(stmt)).scalar_one())


def summary_of(inv: Invoice) -> InvoiceSummary:
    return InvoiceSummary(
        id=inv.id,
        number=inv.number,
        user_id=inv.user_id,
        period=inv.period,
        issue_date=inv.issue_date,
        due_date=inv.due_date,
        kid=inv.kid,
        status=inv.status,
        net_ore=inv.net_ore,
        vat_ore=inv.vat_ore,
        total_ore=inv.total_ore,
        credited_ore=inv.credited_ore,
        paid_at=inv.paid_at,
        buyer_name=str(inv.buyer.get("name") or ""),
        currency=inv.currency,
        fees_ore=inv.fees_ore or 0,
        reminders_sent=inv.reminders_sent or 0,
    )


# --------------------------------------------------------------------------- customers


async def set_billing_profile(
    session: AsyncSession,
    user_id: int,
    *,
    company_name: str | None = None,
    org_number: str | None = None,
    street: str | None = None,
    postal_code: str | None = None,
    city: str | None = None,
    country: str | None = None,
    email: str | None = None,
    buyer_reference: str | None = None,
    invoice_billing: bool | None = None,
) -> BillingProfile:
    """Create or change where a customer's invoices go (None leaves a field as it is)."""
    user = await session.get(User, user_id)
    if user is None:
        raise BillingError(f"no user {user_id}")
    if org_number is not None:
        org_number = org_number.replace(" ", "")
        if org_number and not valid_org_number(org_number):
            raise BillingError(f"{org_number} is not a Norwegian organisation number")
    profile = (
        await session.execute(select(BillingProfile).where(BillingProfile.user_id == user_id))
    ).scalar_one_or_none()
    if profile is None:
        profile = BillingProfile(user_id=user_id)
        session.add(profile)
    values = {
        "company_name": company_name,
        "street": street,
        "postal_code": postal_code,
        "city": city,
        "country": country.upper() if country else None,
        "email": email,
        "buyer_reference": buyer_reference,
    }
    for name, value in values.items():
        if value is not None:
            setattr(profile, name, value)
    if org_number is not None:
        profile.org_number = org_number or None
    if invoice_billing is not None:
        user.invoice_billing = invoice_billing
    await session.flush()
    return profile


def _buyer(user: User, profile: BillingProfile | None) -> dict[str, Any]:
    p = profile
    return {
        "name": (p.company_name if p and p.company_name else "") or user.name or user.phone,
        "person": user.name,
        "org_number": p.org_number if p else None,
        "street": p.street if p else "",
        "postal_code": p.postal_code if p else "",
        "city": p.city if p else "",
        "country": p.country if p else "NO",
        "email": (p.email if p and p.email else None) or user.email,
        "phone": user.phone,
        "reference": p.buyer_reference if p else "",
        "customer_number": user.id,
    }


# --------------------------------------------------------------------------- the run


def _kwh(energy_wh: int) -> str:
    return l10n.number(Decimal(energy_wh) / 1000, "nb", decimals=2)


def _line_text(cs: ChargingSession, cp_id: str, site: str | None) -> str:
    start = cs.started_at.astimezone(OSLO)
    stop = (cs.stopped_at or cs.started_at).astimezone(OSLO)
    end = f"{stop:%H:%M}" if stop.date() == start.date() else f"{stop:%d.%m. %H:%M}"
    where = f"{site}, {cp_id}" if site else cp_id
    plug = f" #{cs.evse_id}" if cs.evse_id else ""
    return f"Lading {where}{plug}, {start:%d.%m.%Y %H:%M}{DASH}{end}, {_kwh(cs.energy_wh)} kWh"


async def _candidates(
    session: AsyncSession, start: datetime, end: datetime
) -> list[ChargingSession]:
    query = (
        select(ChargingSession)
        .join(User, User.id == ChargingSession.user_id)
        .where(
            User.invoice_billing.is_(True),
            ChargingSession.status == SessionStatus.COMPLETED.value,
            # Settled to the invoice (or from before settlement states existed).
            ChargingSession.payment_state.in_(("none", "to_invoice")),
            ChargingSession.stopped_at >= start,
            ChargingSession.stopped_at < end,
        )
        .order_by(ChargingSession.user_id, ChargingSession.started_at, ChargingSession.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        # Two runs at once must not both invoice a session (the unique line would fail).
        query = query.with_for_update(of=ChargingSession)
    return list((await session.execute(query)).scalars())


async def _pending_credits(
    session: AsyncSession, user_ids: list[int]
) -> dict[int, list[V2gCredit]]:
    """V2G credits of these users not on any invoice yet, oldest first."""
    if not user_ids:
        return {}
    query = (
        select(V2gCredit)
        .where(
            V2gCredit.user_id.in_(user_ids),
            V2gCredit.invoice_id.is_(None),
            V2gCredit.credit_ore > 0,
        )
        .order_by(V2gCredit.created_at, V2gCredit.id)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    out: dict[int, list[V2gCredit]] = defaultdict(list)
    for credit in (await session.execute(query)).scalars():
        assert credit.user_id is not None
        out[credit.user_id].append(credit)
    return out


def credit_split(credit_ore: int) -> tuple[int, int]:
    """(net, VAT) of a credit with 25 % VAT included: net rounded half up, VAT the rest."""
    net = (credit_ore * 4 + 2) // 5
    return net, credit_ore - net


def _credit_text(credit: V2gCredit, started_at: datetime | None) -> str:
    when = f" {started_at.astimezone(OSLO):%d.%m.%Y}" if started_at else ""
    return f"Tilbakelevert strøm (V2G){when}, {_kwh(credit.energy_wh)} kWh"


async def run_invoices(
    session: AsyncSession,
    period: str,
    *,
    due_days: int | None = None,
    issue_date: date | None = None,
    settings: BillingSettings | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> InvoiceRunResult:
    """Invoice a month's sessions for every invoice customer (safe to run again).

    `progress(done, total)` is called as each customer is done (for progress bars)."""
    settings = settings or get_billing_settings()
    try:
        start, end = period_bounds(period)
    except PeriodError as exc:
        raise BillingError(str(exc)) from None
    issued = issue_date or local_today()
    days = settings.due_days if due_days is None else due_days
    if not 0 <= days <= 365:
        raise BillingError("due days are 0-365")
    overdue = await mark_overdue(session, issued)

    repriced, unpriced = 0, []
    sessions = await _candidates(session, start, end)
    for cs in sessions:
        if cs.cost_ore is None:
            try:
                breakdown = await price_session(session, cs)
            except TariffError:
                breakdown = None
            if breakdown is None or not breakdown.price_configured:
                unpriced.append(cs.id)
                continue
            repriced += 1
    billable: dict[int, list[ChargingSession]] = defaultdict(list)
    for cs in sessions:
        if cs.cost_ore is not None and cs.user_id is not None:
            billable[cs.user_id].append(cs)

    where = await _locations(session, {cs.charger_id for cs in sessions})
    users = {
        u.id: u
        for u in (await session.execute(select(User).where(User.id.in_(billable)))).scalars()
    }
    profiles = {
        p.user_id: p
        for p in (
            await session.execute(
                select(BillingProfile).where(BillingProfile.user_id.in_(billable))
            )
        ).scalars()
    }
    credits = await _pending_credits(session, list(billable))
    credited_sessions = {
        cs.id: cs.started_at
        for cs in (
            await session.execute(
                select(ChargingSession).where(
                    ChargingSession.id.in_(
                        [c.session_id for found in credits.values() for c in found]
                    )
                )
            )
        ).scalars()
    }
    invoices: list[InvoiceSummary] = []
    invoiced = 0
    if progress is not None:
        progress(0, len(billable))
    for done, (user_id, rows) in enumerate(billable.items(), start=1):
        if progress is not None and done > 1:
            progress(done - 1, len(billable))
        if sum(cs.cost_ore or 0 for cs in rows) <= 0:
            continue  # free charging only: nothing to invoice
        number = await next_number(session)
        try:
            kid = make_kid(user_id, number)
        except KidError as exc:
            raise BillingError(str(exc)) from None
        net = sum((cs.cost_ore or 0) - (cs.vat_ore or 0) for cs in rows)
        vat = sum(cs.vat_ore or 0 for cs in rows)
        applied: list[V2gCredit] = []
        for credit in credits.get(user_id, []):
            if credit.credit_ore <= net + vat:
                credit_net, credit_vat = credit_split(credit.credit_ore)
                net, vat = net - credit_net, vat - credit_vat
                applied.append(credit)
        inv = Invoice(
            number=number,
            user_id=user_id,
            period=period.strip(),
            period_start=start,
            period_end=end,
            issue_date=issued,
            due_date=issued + timedelta(days=days),
            kid=kid,
            status=InvoiceStatus.OPEN.value,
            net_ore=net,
            vat_ore=vat,
            total_ore=net + vat,
            credited_ore=0,
            buyer=_buyer(users[user_id], profiles.get(user_id)),
            seller=settings.seller(),
        )
        session.add(inv)
        await session.flush()
        for position, cs in enumerate(rows, start=1):
            cp_id, site = where.get(cs.charger_id, ("?", None))
            stored = cs.cost_breakdown or {}
            session.add(
                InvoiceLine(
                    invoice_id=inv.id,
                    position=position,
                    session_id=cs.id,
                    description=_line_text(cs, cp_id, site)[:300],
                    started_at=cs.started_at,
                    stopped_at=cs.stopped_at,
                    energy_wh=cs.energy_wh,
                    net_ore=(cs.cost_ore or 0) - (cs.vat_ore or 0),
                    vat_ore=cs.vat_ore or 0,
                    total_ore=cs.cost_ore or 0,
                    details=list(stored.get("lines", [])),
                )
            )
            cs.payment_state = "invoiced"
            invoiced += 1
        for position, credit in enumerate(applied, start=len(rows) + 1):
            credit_net, credit_vat = credit_split(credit.credit_ore)
            session.add(
                InvoiceLine(
                    invoice_id=inv.id,
                    position=position,
                    session_id=None,
                    description=_credit_text(credit, credited_sessions.get(credit.session_id))[
                        :300
                    ],
                    energy_wh=-credit.energy_wh,
                    net_ore=-credit_net,
                    vat_ore=-credit_vat,
                    total_ore=-credit.credit_ore,
                    details=[],
                )
            )
            credit.invoice_id = inv.id
        if inv.total_ore == 0:
            inv.status = InvoiceStatus.PAID.value  # the credits paid it all
            inv.paid_at = utcnow()
        await session.flush()
        invoices.append(summary_of(inv))
    if progress is not None and billable:
        progress(len(billable), len(billable))
    return InvoiceRunResult(period, invoices, invoiced, repriced, unpriced, overdue)


async def _locations(
    session: AsyncSession, charger_ids: set[int]
) -> dict[int, tuple[str, str | None]]:
    if not charger_ids:
        return {}
    rows = await session.execute(
        select(Charger.id, Charger.charge_point_id, Site.name)
        .outerjoin(Site, Site.id == Charger.site_id)
        .where(Charger.id.in_(charger_ids))
    )
    return {cid: (cp_id, site) for cid, cp_id, site in rows}


# --------------------------------------------------------------------------- status


async def mark_overdue(session: AsyncSession, today: date | None = None) -> int:
    """Open invoices past their due date become overdue; returns how many."""
    result = await session.execute(
        update(Invoice)
        .where(
            Invoice.status == InvoiceStatus.OPEN.value,
            Invoice.due_date < (today or local_today()),
        )
        .values(status=InvoiceStatus.OVERDUE.value)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def mark_paid(
    session: AsyncSession, invoice_id: int, paid_at: datetime | None = None
) -> InvoiceSummary:
    """Record that an invoice is paid (payment webhook, bank/OCR file, operator)."""
    inv = await session.get(Invoice, invoice_id)
    if inv is None:
        raise BillingError(f"no invoice {invoice_id}")
    if inv.status == InvoiceStatus.CREDITED.value:
        raise BillingError(f"invoice {inv.number} is credited; nothing to pay")
    if inv.status != InvoiceStatus.PAID.value:
        inv.status = InvoiceStatus.PAID.value
        inv.paid_at = paid_at or utcnow()
        await session.flush()
    # A reminder held for the night (or queued a moment ago) must not go out now.
    from core.invoicing.dunning import stop_reminders

    await stop_reminders(session, inv.id)
    return summary_of(inv)


async def find_by_kid(session: AsyncSession, kid: str) -> InvoiceSummary | None:
    inv = (
        await session.execute(select(Invoice).where(Invoice.kid == kid.strip()))
    ).scalar_one_or_none()
    return summary_of(inv) if inv else None


# --------------------------------------------------------------------------- queries


async def list_invoices(session: AsyncSession, user_id: int) -> list[InvoiceSummary]:
    """A customer's invoices, newest first."""
    rows = await session.execute(
        select(Invoice).where(Invoice.user_id == user_id).order_by(Invoice.number.desc())
    )
    return [summary_of(inv) for inv in rows.scalars()]


async def list_all_invoices(
    session: AsyncSession, *, period: str | None = None, status: str | None = None
) -> list[InvoiceSummary]:
    """Every invoice (for operators), newest first."""
    query = select(Invoice).order_by(Invoice.number.desc())
    if period:
        query = query.where(Invoice.period == period.strip())
    if status:
        query = query.where(Invoice.status == status)
    return [summary_of(inv) for inv in (await session.execute(query)).scalars()]


async def get_invoice(
    session: AsyncSession, invoice_id: int, user_id: int | None
) -> InvoiceDetail | None:
    """An invoice with its lines and credit notes; None if it does not exist or, when
    `user_id` is given, belongs to someone else."""
    from core.billing.credit import credit_notes_of

    inv = (
        await session.execute(
            select(Invoice).options(selectinload(Invoice.lines)).where(Invoice.id == invoice_id)
        )
    ).scalar_one_or_none()
    if inv is None or (user_id is not None and inv.user_id != user_id):
        return None
    notes = await credit_notes_of(session, inv)
    credited = {line.invoice_line_id for note in notes for line in note.lines}
    lines = [
        InvoiceLineView(
            id=line.id,
            position=line.position,
            session_id=line.session_id,
            description=line.description,
            started_at=line.started_at,
            stopped_at=line.stopped_at,
            energy_wh=line.energy_wh,
            net_ore=line.net_ore,
            vat_ore=line.vat_ore,
            total_ore=line.total_ore,
            details=[CostLine.from_json(d) for d in line.details or []],
            credited=line.id in credited,
        )
        for line in inv.lines
    ]
    return InvoiceDetail(
        summary=summary_of(inv),
        buyer=Party.from_json(inv.buyer or {}),
        seller=Party.from_json(inv.seller or {}),
        lines=lines,
        credit_notes=notes,
        period_start=inv.period_start,
        period_end=inv.period_end,
    )


async def credited_line_ids(session: AsyncSession, line_ids: list[int]) -> set[int]:
    if not line_ids:
        return set()
    rows = await session.execute(
        select(CreditNoteLine.invoice_line_id).where(CreditNoteLine.invoice_line_id.in_(line_ids))
    )
    return set(rows.scalars())


def invoice_period_dates(detail: InvoiceDetail) -> tuple[date | None, date | None]:
    """The period as local dates, last day inclusive (for EHF and printing)."""
    if detail.period_start is None or detail.period_end is None:
        return None, None
    return local_date(detail.period_start), local_date(detail.period_end) - timedelta(days=1)
