"""Invoices that reach people: deliveries (an outbox per document and channel), their
attempts, eFaktura consents, invoice schedules and the record of every invoice run."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, UTCDateTime
from core.timeutil import utcnow


class Channel(StrEnum):
    EMAIL = "email"
    EFAKTURA = "efaktura"
    EHF = "ehf"
    PAPER = "paper"


class DeliveryStatus(StrEnum):
    QUEUED = "queued"  # waiting for its turn (or for a retry after `send_after`)
    SENDING = "sending"  # claimed by a dispatcher; an adapter is handing it over
    DELIVERED = "delivered"  # handed over for good (SMTP accepted, file written, AP took it)
    FAILED = "failed"  # refused for good, or out of attempts
    CANCELLED = "cancelled"  # by the operator


class DocumentDelivery(Base):
    """One document to one recipient over one channel; sent at most once (dedup_key)."""

    __tablename__ = "document_deliveries"
    __table_args__ = (Index("ix_document_deliveries_status_send_after", "status", "send_after"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # invoice:<id> | credit_note:<id> | receipt:<session id>, plus a suffix for a resend.
    dedup_key: Mapped[str] = mapped_column(String(120), unique=True)
    document: Mapped[str] = mapped_column(String(12))  # invoice | credit_note | receipt
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    credit_note_id: Mapped[int | None] = mapped_column(
        ForeignKey("credit_notes.id", ondelete="CASCADE")
    )
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("charging_sessions.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    channel: Mapped[str] = mapped_column(String(10))
    # E-mail address, eFaktura identifier, Peppol participant id or postal address line.
    recipient: Mapped[str] = mapped_column(String(254), default="")
    # Why this channel (the customer's choice, a fallback and why).
    reason: Mapped[str] = mapped_column(String(200), default="")
    status: Mapped[str] = mapped_column(String(10), default=DeliveryStatus.QUEUED.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    send_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_error: Mapped[str | None] = mapped_column(String(300))
    # What the channel handed back: SMTP Message-ID, file name, access point transmission id.
    external_ref: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeliveryAttempt(Base):
    """Every try to hand a delivery over, with its outcome."""

    __tablename__ = "delivery_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("document_deliveries.id", ondelete="CASCADE"), index=True
    )
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str] = mapped_column(String(10))  # delivered | retry | failed
    detail: Mapped[str] = mapped_column(String(500), default="")


class ConsentStatus(StrEnum):
    ALWAYS = "always"  # "Alltid eFaktura": general consent to eFaktura from every issuer
    ISSUER = "issuer"  # consent to eFaktura from this issuer only
    BLOCKED = "blocked"  # the payer reserved themselves against eFaktura from this issuer
    NONE = "none"  # no consent, or withdrawn


class EfakturaConsent(Base):
    """A customer's eFaktura consent as the bank network last reported it."""

    __tablename__ = "efaktura_consents"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    # The payer's eFaktura identifier in the bank network (the address of an eFaktura).
    efaktura_identifier: Mapped[str] = mapped_column(String(100), default="")
    status: Mapped[str] = mapped_column(String(10), default=ConsentStatus.NONE.value)
    source: Mapped[str] = mapped_column(String(200), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InvoiceSchedule(Base):
    """When invoices are made by themselves: monthly on `day_of_month` at `hour` (Oslo time)
    for the previous month. `scope` is "global" now; "org:<id>" once organisations exist."""

    __tablename__ = "invoice_schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    scope: Mapped[str] = mapped_column(String(40), unique=True)
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    day_of_month: Mapped[int] = mapped_column(Integer, default=1)
    hour: Mapped[int] = mapped_column(Integer, default=6)
    due_days: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InvoiceRun(Base):
    """One invoice run, manual or scheduled, with its progress and summary. A scheduled
    run has a claim key "<scope>:<period>": unique, so only one process ever runs it."""

    __tablename__ = "invoice_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_key: Mapped[str | None] = mapped_column(String(80), unique=True)
    scope: Mapped[str] = mapped_column(String(40), default="global")
    period: Mapped[str] = mapped_column(String(7))
    trigger: Mapped[str] = mapped_column(String(10))  # schedule | manual
    status: Mapped[str] = mapped_column(String(10))  # running | done | failed
    owner: Mapped[str] = mapped_column(String(80), default="")
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    customers: Mapped[int] = mapped_column(Integer, default=0)
    invoices: Mapped[int] = mapped_column(Integer, default=0)
    sessions: Mapped[int] = mapped_column(Integer, default=0)
    deliveries: Mapped[int] = mapped_column(Integer, default=0)
    total_ore: Mapped[int] = mapped_column(BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    summary: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
