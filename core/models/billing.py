"""Tariffs and their components, where they apply, spot prices, invoices and cost sharing.

Amounts are integer øre; prices with more precision (øre per kWh or minute) are Decimal and
stored excluding VAT: VAT is added once per priced line (see core.tariffs.engine).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, JSONType, UTCDateTime
from core.models.infrastructure import BigId
from core.timeutil import utcnow

# øre with four decimals: enough for øre per Wh and for 0.8 * an incl.-VAT price.
Ore = Numeric(14, 4)


class ComponentKind(StrEnum):
    ENERGY = "energy"  # per kWh
    SPOT_ENERGY = "spot_energy"  # per kWh: the area's spot price + the component's markup
    TIME = "time"  # per minute or hour while the car draws power
    PARKING = "parking"  # per minute or hour while it does not, after a grace period
    SESSION = "session"  # once per session (start fee)


class InvoiceStatus(StrEnum):
    OPEN = "open"
    PAID = "paid"
    OVERDUE = "overdue"
    CREDITED = "credited"


class Tariff(Base):
    __tablename__ = "tariffs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), unique=True)
    description: Mapped[str] = mapped_column(String(300), default="")
    # The organisation whose prices these are; None: the operator's (any site).
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    currency: Mapped[str] = mapped_column(String(3), default="NOK")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    components: Mapped[list[TariffComponent]] = relationship(
        back_populates="tariff",
        lazy="raise",
        order_by="TariffComponent.position",
        cascade="all, delete-orphan",
    )


class TariffComponent(Base):
    """One price element; it applies only inside its window and power band."""

    __tablename__ = "tariff_components"

    id: Mapped[int] = mapped_column(primary_key=True)
    tariff_id: Mapped[int] = mapped_column(ForeignKey("tariffs.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer, default=0)
    kind: Mapped[str] = mapped_column(String(16))
    # Excl. VAT, per `unit`; for spot_energy the markup on top of the spot price.
    price_ore: Mapped[Decimal] = mapped_column(Ore)
    unit: Mapped[str] = mapped_column(String(8))  # kWh | min | h | session
    # Window in Europe/Oslo local time: weekday bits (bit 0 = Monday) and minutes of the day.
    weekdays: Mapped[int] = mapped_column(Integer, default=0b1111111)
    start_minute: Mapped[int | None] = mapped_column(Integer)
    end_minute: Mapped[int | None] = mapped_column(Integer)
    grace_minutes: Mapped[int] = mapped_column(Integer, default=0)
    # Most this component may cost in one session, excl. VAT.
    cap_ore: Mapped[Decimal | None] = mapped_column(Ore)
    # Applies when the session's highest power lies in [min, max) kW.
    min_power_kw: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    max_power_kw: Mapped[Decimal | None] = mapped_column(Numeric(8, 2))
    spot_area: Mapped[str | None] = mapped_column(String(3))
    # Spot price (excl. VAT, øre/kWh) to use for a quarter hour without a published price.
    spot_fallback_ore: Mapped[Decimal | None] = mapped_column(Ore)
    # "floor": a negative spot price counts as 0; "pass": it lowers the price (never below 0).
    spot_negative: Mapped[str] = mapped_column(String(8), default="floor")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    tariff: Mapped[Tariff] = relationship(back_populates="components", lazy="raise")


class TariffAssignment(Base):
    """A tariff for one customer group at a site or a charger, from `valid_from`."""

    __tablename__ = "tariff_assignments"
    __table_args__ = (
        CheckConstraint("(site_id IS NULL) <> (charger_id IS NULL)", name="site_or_charger"),
        Index("ix_tariff_assignments_site_group", "site_id", "customer_group"),
        Index("ix_tariff_assignments_charger_group", "charger_id", "customer_group"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tariff_id: Mapped[int] = mapped_column(ForeignKey("tariffs.id", ondelete="CASCADE"), index=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    charger_id: Mapped[int | None] = mapped_column(ForeignKey("chargers.id", ondelete="CASCADE"))
    customer_group: Mapped[str] = mapped_column(String(40), default="public")
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SpotPrice(Base):
    """A day-ahead price for one quarter hour in one area, excl. VAT."""

    __tablename__ = "spot_prices"
    __table_args__ = (UniqueConstraint("area", "starts_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    area: Mapped[str] = mapped_column(String(3))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    price_ore_per_kwh: Mapped[Decimal] = mapped_column(Ore)
    source: Mapped[str] = mapped_column(String(60), default="")
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DocumentCounter(Base):
    """Gapless number series for sales documents (invoices and credit notes)."""

    __tablename__ = "document_counters"

    series: Mapped[str] = mapped_column(String(20), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class BillingProfile(Base):
    """Who an invoice is addressed to; business customers also get EHF."""

    __tablename__ = "billing_profiles"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    company_name: Mapped[str] = mapped_column(String(120), default="")
    org_number: Mapped[str | None] = mapped_column(String(9))
    street: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(80), default="")
    country: Mapped[str] = mapped_column(String(2), default="NO")
    email: Mapped[str | None] = mapped_column(String(254))
    buyer_reference: Mapped[str] = mapped_column(String(100), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (Index("ix_invoices_user_period", "user_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="RESTRICT"))
    period: Mapped[str] = mapped_column(String(7))  # YYYY-MM, Europe/Oslo
    period_start: Mapped[datetime] = mapped_column(UTCDateTime)
    period_end: Mapped[datetime] = mapped_column(UTCDateTime)
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date)
    kid: Mapped[str] = mapped_column(String(25), unique=True)
    status: Mapped[str] = mapped_column(String(10), default=InvoiceStatus.OPEN.value, index=True)
    currency: Mapped[str] = mapped_column(String(3), default="NOK")
    net_ore: Mapped[int] = mapped_column(BigInteger)
    vat_ore: Mapped[int] = mapped_column(BigInteger)
    total_ore: Mapped[int] = mapped_column(BigInteger)
    credited_ore: Mapped[int] = mapped_column(BigInteger, default=0)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Dunning: reminder fees added (no VAT), reminders sent, handed to a debt collector.
    fees_ore: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    reminders_sent: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_reminder_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    collection_exported_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Snapshots: an issued invoice never changes when a profile or the seller does.
    buyer: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    seller: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lines: Mapped[list[InvoiceLine]] = relationship(
        back_populates="invoice", lazy="raise", order_by="InvoiceLine.position"
    )


class InvoiceLine(Base):
    """One charging session on an invoice (a session is on at most one invoice)."""

    __tablename__ = "invoice_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("charging_sessions.id", ondelete="SET NULL"), unique=True
    )
    description: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    energy_wh: Mapped[int] = mapped_column(BigInteger, default=0)
    net_ore: Mapped[int] = mapped_column(BigInteger)
    vat_ore: Mapped[int] = mapped_column(BigInteger)
    total_ore: Mapped[int] = mapped_column(BigInteger)
    # The session's cost lines as priced, for the invoice's detail view.
    details: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)

    invoice: Mapped[Invoice] = relationship(back_populates="lines", lazy="raise")


class CreditNote(Base):
    __tablename__ = "credit_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, unique=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="RESTRICT"), index=True
    )
    issue_date: Mapped[date] = mapped_column(Date)
    reason: Mapped[str] = mapped_column(String(200), default="")
    # Positive amounts: what is credited.
    net_ore: Mapped[int] = mapped_column(BigInteger)
    vat_ore: Mapped[int] = mapped_column(BigInteger)
    total_ore: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    lines: Mapped[list[CreditNoteLine]] = relationship(
        back_populates="credit_note", lazy="raise", order_by="CreditNoteLine.id"
    )


class CreditNoteLine(Base):
    __tablename__ = "credit_note_lines"

    id: Mapped[int] = mapped_column(primary_key=True)
    credit_note_id: Mapped[int] = mapped_column(
        ForeignKey("credit_notes.id", ondelete="CASCADE"), index=True
    )
    # An invoice line is credited at most once.
    invoice_line_id: Mapped[int] = mapped_column(
        ForeignKey("invoice_lines.id", ondelete="RESTRICT"), unique=True
    )
    description: Mapped[str] = mapped_column(String(300))
    net_ore: Mapped[int] = mapped_column(BigInteger)
    vat_ore: Mapped[int] = mapped_column(BigInteger)
    total_ore: Mapped[int] = mapped_column(BigInteger)

    credit_note: Mapped[CreditNote] = relationship(back_populates="lines", lazy="raise")


class ElectricityBill(Base):
    """A site's electricity bill for a month, split between its users by metered energy."""

    __tablename__ = "electricity_bills"
    __table_args__ = (UniqueConstraint("site_id", "period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    period: Mapped[str] = mapped_column(String(7))
    amount_ore: Mapped[int] = mapped_column(BigInteger)
    energy_wh: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    shares: Mapped[list[ElectricityBillShare]] = relationship(
        back_populates="bill",
        lazy="raise",
        order_by="ElectricityBillShare.id",
        cascade="all, delete-orphan",
    )


class ElectricityBillShare(Base):
    """One user's share; user_id NULL is energy no user can be billed for."""

    __tablename__ = "electricity_bill_shares"

    id: Mapped[int] = mapped_column(primary_key=True)
    bill_id: Mapped[int] = mapped_column(
        ForeignKey("electricity_bills.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    energy_wh: Mapped[int] = mapped_column(BigInteger)
    amount_ore: Mapped[int] = mapped_column(BigInteger)

    bill: Mapped[ElectricityBill] = relationship(back_populates="shares", lazy="raise")
