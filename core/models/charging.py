"""Charging sessions (OCPP transactions), their meter samples and 2.x transaction events."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, UTCDateTime
from core.models.infrastructure import BigId
from core.timeutil import utcnow


class SessionStatus(StrEnum):
    """A session's life: STARTING (asked to start, not yet reported by the charger) →
    ACTIVE ⇄ SUSPENDED (charger silent) → COMPLETED; or STARTING → FAILED."""

    STARTING = "starting"
    ACTIVE = "active"
    SUSPENDED = "suspended"
    COMPLETED = "completed"
    FAILED = "failed"


# Sessions a charger may still be delivering energy on.
OPEN_STATUSES = (SessionStatus.ACTIVE.value, SessionStatus.SUSPENDED.value)
# Sessions that hold a connector or a driver (no second start while one of these exists).
BUSY_STATUSES = (SessionStatus.STARTING.value, *OPEN_STATUSES)


class StartChannel(StrEnum):
    """How a session was started: every channel ends in the same settlement rules."""

    APP = "app"
    SMS = "sms"
    RFID = "rfid"  # the charger asked about a token (RFID card, or a cached/offline start)
    GUEST = "guest"
    AUTOCHARGE = "autocharge"  # the car's vehicle id, linked to the driver
    PLUG_AND_CHARGE = "pnc"  # ISO 15118 contract (eMAID)


class SettlementState(StrEnum):
    """How a finished session is paid (`ChargingSession.payment_state`).

    Every completed session ends in exactly one settled state; NONE and UNPRICED are
    waiting for the settlement job, CAPTURE_FAILED for a retry."""

    NONE = "none"
    UNPRICED = "unpriced"
    PAID = "paid"  # the exact cost captured (card / Vipps)
    PARTIALLY_PAID = "partially_paid"  # the cost exceeded what could be collected
    NOTHING_DUE = "nothing_due"  # cost 0: free by tariff, or nothing delivered
    TO_INVOICE = "to_invoice"  # an invoice customer's session, waiting for the invoice run
    INVOICED = "invoiced"
    CREDITED = "credited"
    CAPTURE_FAILED = "capture_failed"
    CANCEL_FAILED = "cancel_failed"
    UNPAID = "unpaid"  # nobody could be charged: `payment_note` says why


SETTLED_STATES = frozenset(
    {
        SettlementState.PAID,
        SettlementState.PARTIALLY_PAID,
        SettlementState.NOTHING_DUE,
        SettlementState.TO_INVOICE,
        SettlementState.INVOICED,
        SettlementState.CREDITED,
        SettlementState.CANCEL_FAILED,
        SettlementState.UNPAID,
    }
)


class ChargingSession(Base):
    __tablename__ = "charging_sessions"
    __table_args__ = (
        UniqueConstraint("charger_id", "transaction_id"),
        # 1.6 has no charger-side transaction id: a replayed StartTransaction is recognised
        # by (connector, idTag, meterStart, timestamp).
        UniqueConstraint("charger_id", "start_key"),
        Index("ix_charging_sessions_status_charger", "status", "charger_id"),
        Index("ix_charging_sessions_payment_state_stopped", "payment_state", "stopped_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("chargers.id", ondelete="CASCADE"))
    connector_pk: Mapped[int | None] = mapped_column(
        ForeignKey("connectors.id", ondelete="SET NULL")
    )
    evse_id: Mapped[int | None] = mapped_column(Integer)
    connector_id: Mapped[int | None] = mapped_column(Integer)
    transaction_id: Mapped[str] = mapped_column(String(64))
    start_key: Mapped[str | None] = mapped_column(String(200))
    id_token: Mapped[str | None] = mapped_column(String(64))
    id_token_pk: Mapped[int | None] = mapped_column(ForeignKey("id_tokens.id", ondelete="SET NULL"))
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    auth_status: Mapped[str | None] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default=SessionStatus.ACTIVE.value)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    meter_start_wh: Mapped[int | None] = mapped_column(BigInteger)
    meter_stop_wh: Mapped[int | None] = mapped_column(BigInteger)
    energy_wh: Mapped[int] = mapped_column(BigInteger, default=0)
    stop_reason: Mapped[str | None] = mapped_column(String(40))
    # Latest live values, for the session view without scanning samples.
    last_energy_wh: Mapped[int | None] = mapped_column(BigInteger)
    last_power_w: Mapped[int | None] = mapped_column(Integer)
    last_soc: Mapped[int | None] = mapped_column(Integer)
    # V2G: the export register (Energy.Active.Export.Register) at start and last seen, and
    # the energy the car delivered back (last - start).
    meter_export_start_wh: Mapped[int | None] = mapped_column(BigInteger)
    last_export_wh: Mapped[int | None] = mapped_column(BigInteger)
    energy_exported_wh: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    last_sample_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # 2.x: highest seqNo applied, and whether events were queued while offline.
    last_seq_no: Mapped[int | None] = mapped_column(Integer)
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    remote_start_id: Mapped[int | None] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(12))
    # Why a session FAILED or is SUSPENDED, in words for the driver and support.
    status_reason: Mapped[str | None] = mapped_column(String(200))
    # Suspicious data seen on this session (meter_regression, timestamp_in_future, ...).
    flags: Mapped[list[str]] = mapped_column(JSONType, default=list)
    # Price (core.tariffs): total incl. VAT and the VAT in it, in øre; None until priced.
    cost_ore: Mapped[int | None] = mapped_column(BigInteger)
    vat_ore: Mapped[int | None] = mapped_column(BigInteger)
    cost_breakdown: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariffs.id", ondelete="SET NULL"))
    price_group: Mapped[str | None] = mapped_column(String(40))
    priced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A SettlementState.
    payment_state: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    # Why a session is UNPAID (no_payment_method, card_declined: ...), or other settlement notes.
    payment_note: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class MeterSample(Base):
    __tablename__ = "meter_samples"
    __table_args__ = (
        Index("ix_meter_samples_session_sampled", "session_id", "sampled_at"),
        # A replayed MeterValues message inserts nothing new.
        UniqueConstraint("charger_id", "connector_id", "sampled_at", "context"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("charging_sessions.id", ondelete="CASCADE")
    )
    charger_id: Mapped[int] = mapped_column(ForeignKey("chargers.id", ondelete="CASCADE"))
    connector_id: Mapped[int] = mapped_column(Integer)
    sampled_at: Mapped[datetime] = mapped_column(UTCDateTime)
    context: Mapped[str] = mapped_column(String(30), default="Sample.Periodic")
    energy_wh: Mapped[int | None] = mapped_column(BigInteger)
    power_w: Mapped[int | None] = mapped_column(Integer)
    current_a: Mapped[float | None] = mapped_column(Float)
    voltage_v: Mapped[float | None] = mapped_column(Float)
    soc: Mapped[int | None] = mapped_column(Integer)
    energy_export_wh: Mapped[int | None] = mapped_column(BigInteger)


class TransactionEventRecord(Base):
    """Every applied 2.x TransactionEvent, unique per (session, seqNo): replays are no-ops."""

    __tablename__ = "transaction_events"
    __table_args__ = (UniqueConstraint("session_id", "seq_no"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("charging_sessions.id", ondelete="CASCADE"))
    seq_no: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(10))
    trigger_reason: Mapped[str] = mapped_column(String(40))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime)
    offline: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
