"""What the billing services hand out: invoices, credit notes, runs, shares, report rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from core.tariffs.schemas import CostLine


@dataclass(frozen=True)
class Party:
    """A buyer or seller as printed on an invoice (a snapshot taken when it was issued)."""

    name: str
    org_number: str | None = None
    street: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = "NO"
    email: str | None = None
    phone: str | None = None
    reference: str = ""  # the buyer's reference (EHF BuyerReference)
    customer_number: int | None = None
    vat_registered: bool = True
    bank_account: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Party:
        return cls(
            name=data.get("name") or "",
            org_number=data.get("org_number"),
            street=data.get("street") or "",
            postal_code=data.get("postal_code") or "",
            city=data.get("city") or "",
            country=data.get("country") or "NO",
            email=data.get("email"),
            phone=data.get("phone"),
            reference=data.get("reference") or "",
            customer_number=data.get("customer_number"),
            vat_registered=bool(data.get("vat_registered", True)),
            bank_account=data.get("bank_account"),
        )


@dataclass(frozen=True)
class InvoiceSummary:
    id: int
    number: int
    user_id: int
    period: str  # YYYY-MM
    issue_date: date
    due_date: date
    kid: str
    status: str  # open | paid | overdue | credited
    net_ore: int
    vat_ore: int
    total_ore: int
    credited_ore: int
    paid_at: datetime | None
    buyer_name: str
    currency: str = "NOK"
    fees_ore: int = 0  # reminder fees (purregebyr), no VAT
    reminders_sent: int = 0

    @property
    def amount_due_ore(self) -> int:
        if self.status not in _DUE:
            return 0
        return max(self.total_ore + self.fees_ore - self.credited_ore, 0)


_DUE = ("open", "overdue")


@dataclass(frozen=True)
class InvoiceLineView:
    id: int
    position: int
    session_id: int | None
    description: str
    started_at: datetime | None
    stopped_at: datetime | None
    energy_wh: int
    net_ore: int
    vat_ore: int
    total_ore: int
    details: list[CostLine]
    credited: bool = False


@dataclass(frozen=True)
class CreditNoteLineView:
    invoice_line_id: int
    description: str
    net_ore: int
    vat_ore: int
    total_ore: int


@dataclass(frozen=True)
class CreditNoteView:
    id: int
    number: int
    invoice_id: int
    invoice_number: int
    issue_date: date
    reason: str
    net_ore: int  # positive: the amount credited
    vat_ore: int
    total_ore: int
    lines: list[CreditNoteLineView]


@dataclass(frozen=True)
class InvoiceDetail:
    summary: InvoiceSummary
    buyer: Party
    seller: Party
    lines: list[InvoiceLineView]
    credit_notes: list[CreditNoteView] = field(default_factory=list)
    period_start: datetime | None = None
    period_end: datetime | None = None

    @property
    def id(self) -> int:
        return self.summary.id


@dataclass(frozen=True)
class InvoiceRunResult:
    period: str
    invoices: list[InvoiceSummary]
    sessions_invoiced: int
    repriced: int
    # Completed sessions of invoice customers that could not be priced (no price, missing
    # spot price...): left for a later run.
    unpriced_session_ids: list[int]
    marked_overdue: int


@dataclass(frozen=True)
class BillShare:
    user_id: int | None  # None: energy no user can be billed for (unknown tags)
    name: str
    energy_wh: int
    amount_ore: int


@dataclass(frozen=True)
class BillSplit:
    id: int
    site: str
    period: str
    amount_ore: int
    energy_wh: int
    shares: list[BillShare]


@dataclass(frozen=True)
class ReportRow:
    key: str  # user id, group, site name or YYYY-MM
    label: str
    sessions: int
    energy_wh: int
    net_ore: int
    vat_ore: int
    total_ore: int
    unpriced_sessions: int
