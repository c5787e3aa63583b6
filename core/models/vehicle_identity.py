"""The car identifies itself: Autocharge vehicle ids waiting to be linked, Plug & Charge
contracts (eMAID + contract certificate), certificates signed for charging stations, what
the car says it needs (ISO 15118 charging needs), and what it gave back (V2G credits)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, JSONType, UTCDateTime
from core.timeutil import utcnow


class LinkOfferStatus(StrEnum):
    PENDING = "pending"
    LINKED = "linked"


class VehicleLinkOffer(Base):
    """An unknown vehicle id seen at a charger: the session was refused, and a driver may
    say "this is my car" (the offer is addressed to the driver who then charges there)."""

    __tablename__ = "vehicle_link_offers"
    __table_args__ = (UniqueConstraint("vehicle_token", "charger_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    vehicle_token: Mapped[str] = mapped_column(String(64), index=True)  # VID:<MAC>
    charger_id: Mapped[int] = mapped_column(ForeignKey("chargers.id", ondelete="CASCADE"))
    evse_id: Mapped[int | None] = mapped_column(Integer)
    # The driver who started a session at the same charger soon after: the offer is theirs.
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    status: Mapped[str] = mapped_column(String(10), default=LinkOfferStatus.PENDING.value)
    first_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    times_seen: Mapped[int] = mapped_column(Integer, default=1)
    linked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ContractStatus(StrEnum):
    ACTIVE = "active"
    CANCELLED = "cancelled"


class ChargingContract(Base):
    """A Plug & Charge contract: the eMAID (an IdToken of kind `contract` tied to the
    driver) and the contract certificate issued for it, identified as OCSP does."""

    __tablename__ = "charging_contracts"

    id: Mapped[int] = mapped_column(primary_key=True)
    emaid: Mapped[str] = mapped_column(String(64), unique=True)
    id_token_pk: Mapped[int] = mapped_column(ForeignKey("id_tokens.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(10), default=ContractStatus.ACTIVE.value)
    certificate_pem: Mapped[str | None] = mapped_column(Text)
    serial_number: Mapped[str | None] = mapped_column(String(40), index=True)
    not_after: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StationCertificate(Base):
    """A certificate the operator's sub-CA signed for a charging station (SignCertificate →
    CertificateSigned), kept to answer for it and to renew it."""

    __tablename__ = "station_certificates"

    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(
        ForeignKey("chargers.id", ondelete="CASCADE"), index=True
    )
    certificate_type: Mapped[str] = mapped_column(String(30))
    serial_number: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(300))
    certificate_pem: Mapped[str] = mapped_column(Text)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime)
    # Accepted / Rejected by the station (CertificateSigned's answer).
    delivery_status: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class EvChargingNeeds(Base):
    """What the car says it needs (NotifyEVChargingNeeds) and its latest state of charge,
    one row per charger EVSE while a car is plugged in: read by the power allocator."""

    __tablename__ = "ev_charging_needs"
    __table_args__ = (UniqueConstraint("charger_id", "evse_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("chargers.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("charging_sessions.id", ondelete="SET NULL"), index=True
    )
    requested_energy_transfer: Mapped[str] = mapped_column(String(20))
    energy_amount_wh: Mapped[int | None] = mapped_column(BigInteger)
    departure_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    soc: Mapped[int | None] = mapped_column(Integer)
    target_soc: Mapped[int | None] = mapped_column(Integer)
    min_soc: Mapped[int | None] = mapped_column(Integer)
    ev_min_current_a: Mapped[int | None] = mapped_column(Integer)
    ev_max_current_a: Mapped[int | None] = mapped_column(Integer)
    ev_max_voltage_v: Mapped[int | None] = mapped_column(Integer)
    ev_max_power_w: Mapped[int | None] = mapped_column(Integer)
    ev_capacity_wh: Mapped[int | None] = mapped_column(BigInteger)
    # V2G (2.1): how much the car may give back, and the modes the charger offers.
    max_discharge_power_w: Mapped[int | None] = mapped_column(Integer)
    v2x_energy_wh: Mapped[int | None] = mapped_column(BigInteger)
    control_mode: Mapped[str | None] = mapped_column(String(20))
    energy_transfer_modes: Mapped[list[str]] = mapped_column(JSONType, default=list)
    raw: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class V2gCredit(Base):
    """Energy a car delivered back in one session, paid to its owner at the operator's
    export tariff: credited on the driver's next invoice, or paid out."""

    __tablename__ = "v2g_credits"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(
        ForeignKey("charging_sessions.id", ondelete="CASCADE"), unique=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    energy_wh: Mapped[int] = mapped_column(BigInteger)
    credit_ore: Mapped[int] = mapped_column(BigInteger)
    # Per spot interval: [{"starts_at", "wh", "ore_per_kwh", "ore"}].
    lines: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, default=list)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
