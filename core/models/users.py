"""Drivers and the id tokens (RFID cards, app and SMS identities) they charge with."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, JSONType, UTCDateTime
from core.timeutil import utcnow


class IdTokenKind(StrEnum):
    RFID = "rfid"
    APP = "app"
    SMS = "sms"
    GUEST = "guest"
    VEHICLE = "vehicle"  # Autocharge: the car's id (VID:<MAC>), linked to one of her cars
    CONTRACT = "contract"  # Plug & Charge: an eMAID (core.models.ChargingContract)


class IdTokenStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    # Legacy, read only: the global group from before organisations. Prices follow
    # memberships (core.orgs.groups); migration 0009 turned these into memberships.
    customer_group: Mapped[str] = mapped_column(String(40), default="public")
    language: Mapped[str] = mapped_column(String(2), default="nb")
    # Invoice settings: receipts by e-mail, and where monthly invoices go.
    receipt_by_email: Mapped[bool] = mapped_column(Boolean, default=False)
    invoice_channel: Mapped[str] = mapped_column(String(12), default="email")
    # Billed monthly by invoice (members, businesses) instead of paying per session.
    invoice_billing: Mapped[bool] = mapped_column(Boolean, default=False)
    # The payment provider's customer (Stripe cus_...) holding this driver's saved cards.
    payment_customer_ref: Mapped[str | None] = mapped_column(String(100))
    # Bumped by "sign out everywhere": access tokens carry the version they were issued at.
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    id_tokens: Mapped[list[IdToken]] = relationship(back_populates="user", lazy="raise")


class IdToken(Base):
    __tablename__ = "id_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stored upper-case: RFID readers disagree on the case of hex UIDs.
    token: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10), default=IdTokenKind.RFID.value)
    status: Mapped[str] = mapped_column(String(10), default=IdTokenStatus.ACTIVE.value)
    label: Mapped[str] = mapped_column(String(80), default="")
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    # The car an Autocharge vehicle id belongs to.
    vehicle_id: Mapped[int | None] = mapped_column(ForeignKey("vehicles.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User | None] = relationship(back_populates="id_tokens", lazy="raise")


class Vehicle(Base):
    __tablename__ = "vehicles"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    make: Mapped[str] = mapped_column(String(40))
    model: Mapped[str] = mapped_column(String(60))
    battery_wh: Mapped[int] = mapped_column(Integer)
    max_ac_w: Mapped[int] = mapped_column(Integer, default=11_000)
    max_dc_w: Mapped[int] = mapped_column(Integer, default=50_000)
    connector_types: Mapped[list[str]] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PaymentMethod(Base):
    """A way a driver pays per session: a saved card (Stripe) or Vipps."""

    __tablename__ = "payment_methods"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(20))  # stripe | vipps | sandbox-card | ...
    kind: Mapped[str] = mapped_column(String(12))  # card | vipps
    provider_ref: Mapped[str] = mapped_column(String(100), default="")
    brand: Mapped[str] = mapped_column(String(20), default="")
    last4: Mapped[str] = mapped_column(String(4), default="")
    label: Mapped[str] = mapped_column(String(60), default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
