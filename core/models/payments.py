"""Payments: every provider payment and each operation on it, webhook events, guest
checkouts and invoice payment links."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, UTCDateTime
from core.models.infrastructure import BigId
from core.timeutil import utcnow


class Payment(Base):
    """One provider payment. Money in = money captured is checked per session from these."""

    __tablename__ = "payments"
    __table_args__ = (
        UniqueConstraint("provider", "provider_ref"),
        Index("ix_payments_status_updated", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Our reference (8-64 chars): Vipps' reference, Stripe metadata, idempotency keys.
    reference: Mapped[str] = mapped_column(String(64), unique=True)
    purpose: Mapped[str] = mapped_column(String(10))  # session | invoice
    provider: Mapped[str] = mapped_column(String(20))
    method: Mapped[str] = mapped_column(String(10))  # card | vipps
    provider_ref: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    amount_requested_ore: Mapped[int] = mapped_column(BigInteger)
    amount_authorized_ore: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_captured_ore: Mapped[int] = mapped_column(BigInteger, default=0)
    amount_refunded_ore: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="NOK")
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    # The id token this payment was taken for (a guest's one-time token, a driver's RFID
    # tag or app token) and, for a hold placed when a charger asked about a tag, the charger
    # that asked: its StartTransaction / TransactionEvent then ties the hold to the session.
    id_token_pk: Mapped[int | None] = mapped_column(
        ForeignKey("id_tokens.id", ondelete="SET NULL"), index=True
    )
    charger_id: Mapped[int | None] = mapped_column(ForeignKey("chargers.id", ondelete="SET NULL"))
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("charging_sessions.id", ondelete="SET NULL"), index=True
    )
    invoice_id: Mapped[int | None] = mapped_column(
        ForeignKey("invoices.id", ondelete="SET NULL"), index=True
    )
    redirect_url: Mapped[str | None] = mapped_column(Text)
    capture_before: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure: Mapped[str | None] = mapped_column(String(200))
    # Set once the hold was nearly used up and we asked the charger to stop.
    limit_stop_requested: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentOperation(Base):
    """Each authorise / capture / cancel / refund, with the key that makes it idempotent."""

    __tablename__ = "payment_operations"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    payment_id: Mapped[int] = mapped_column(
        ForeignKey("payments.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(10))
    amount_ore: Mapped[int] = mapped_column(BigInteger, default=0)
    idempotency_key: Mapped[str] = mapped_column(String(120), unique=True)
    outcome: Mapped[str] = mapped_column(String(12), default="pending")  # ok | declined | error
    detail: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class WebhookEvent(Base):
    """A provider webhook, stored once (source, external id) and handled by a job."""

    __tablename__ = "webhook_events"
    __table_args__ = (
        UniqueConstraint("source", "external_id"),
        Index("ix_webhook_events_unhandled", "handled_at", "received_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(12))
    external_id: Mapped[str] = mapped_column(String(120))
    type: Mapped[str] = mapped_column(String(60))
    # The provider object it is about (PaymentIntent id, Vipps reference).
    object_ref: Mapped[str] = mapped_column(String(100), default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String(300))


class GuestCheckout(Base):
    """A guest paying by link/QR: no account; the link's token is the only key."""

    __tablename__ = "guest_checkouts"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    connector_pk: Mapped[int] = mapped_column(ForeignKey("connectors.id", ondelete="CASCADE"))
    language: Mapped[str] = mapped_column(String(2), default="nb")
    phone: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(254))
    # new → paying → authorized → starting → charging → completed | failed | abandoned
    status: Mapped[str] = mapped_column(String(12), default="new")
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"))
    id_token_pk: Mapped[int | None] = mapped_column(ForeignKey("id_tokens.id", ondelete="SET NULL"))
    message: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)


class InvoicePayLink(Base):
    """A one-time link to pay an invoice (sent in SMS reminders)."""

    __tablename__ = "invoice_pay_links"

    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(
        ForeignKey("invoices.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reminder_step: Mapped[int] = mapped_column(Integer, default=0)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id", ondelete="SET NULL"))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
