"""Sites, chargers, connectors and what chargers report about themselves."""

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
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, JSONType, UTCDateTime
from core.timeutil import utcnow

BigId = BigInteger().with_variant(Integer(), "sqlite")


class RegistrationStatus(StrEnum):
    ACCEPTED = "Accepted"
    PENDING = "Pending"
    REJECTED = "Rejected"


class ConnectorStatus(StrEnum):
    """A version-neutral connector status (1.6 statuses map onto these)."""

    AVAILABLE = "Available"
    PREPARING = "Preparing"
    CHARGING = "Charging"
    SUSPENDED_EV = "SuspendedEV"
    SUSPENDED_EVSE = "SuspendedEVSE"
    FINISHING = "Finishing"
    RESERVED = "Reserved"
    OCCUPIED = "Occupied"
    UNAVAILABLE = "Unavailable"
    FAULTED = "Faulted"
    UNKNOWN = "Unknown"


class Site(Base):
    __tablename__ = "sites"
    __table_args__ = (Index("ix_sites_latitude_longitude", "latitude", "longitude"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # The organisation that owns the site; None: the operator's own (see core.orgs).
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="RESTRICT"), index=True
    )
    address: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(80), default="")
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    grid_capacity_a: Mapped[int | None] = mapped_column(Integer)
    grid_capacity_w: Mapped[int | None] = mapped_column(Integer)
    public: Mapped[bool] = mapped_column(Boolean, default=True)
    # List price shown before the tariff engine prices a driver's group: øre per kWh, incl. VAT.
    list_price_ore_per_kwh: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    chargers: Mapped[list[Charger]] = relationship(back_populates="site", lazy="raise")


class Charger(Base):
    __tablename__ = "chargers"
    __table_args__ = (
        Index("ix_chargers_site_search", "site_id", "registration_status", "online", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # OCPP identity: the last path segment of the websocket URL.
    charge_point_id: Mapped[str] = mapped_column(String(48), unique=True)
    # The code printed on the charger (defaults to the charge point id), and its normalised
    # form for lookups that forgive case, spaces, dashes and O/0 mix-ups (SMS, guest links).
    public_code: Mapped[str | None] = mapped_column(String(48), unique=True)
    code_key: Mapped[str | None] = mapped_column(String(48), index=True)
    site_id: Mapped[int | None] = mapped_column(
        ForeignKey("sites.id", ondelete="SET NULL"), index=True
    )
    vendor: Mapped[str | None] = mapped_column(String(50))
    model: Mapped[str | None] = mapped_column(String(50))
    serial_number: Mapped[str | None] = mapped_column(String(50))
    firmware_version: Mapped[str | None] = mapped_column(String(50))
    iccid: Mapped[str | None] = mapped_column(String(20))
    imsi: Mapped[str | None] = mapped_column(String(20))
    meter_type: Mapped[str | None] = mapped_column(String(50))
    meter_serial_number: Mapped[str | None] = mapped_column(String(50))
    ocpp_version: Mapped[str | None] = mapped_column(String(8))
    registration_status: Mapped[str] = mapped_column(
        String(16), default=RegistrationStatus.ACCEPTED.value
    )
    # Status of the charger as a whole (1.6 connector 0).
    status: Mapped[str] = mapped_column(String(16), default=ConnectorStatus.UNKNOWN.value)
    error_code: Mapped[str | None] = mapped_column(String(50))
    password_hash: Mapped[str | None] = mapped_column(String(200))
    # HMAC of the password last verified against password_hash, keyed by a server secret:
    # a restarted gateway checks a reconnecting charger without scrypt (core.security).
    password_check: Mapped[str | None] = mapped_column(String(64))
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    connected_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_seen_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_boot_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    firmware_status: Mapped[str | None] = mapped_column(String(40))
    diagnostics_status: Mapped[str | None] = mapped_column(String(40))
    max_power_w: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Removed by the operator (core.chargers.admin): kept, with its sessions, for history;
    # refused at boot (registration Rejected) and left out of searches and listings.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    site: Mapped[Site | None] = relationship(back_populates="chargers", lazy="raise")
    connectors: Mapped[list[Connector]] = relationship(
        back_populates="charger", lazy="raise", order_by="Connector.connector_id"
    )


class Connector(Base):
    """One plug. In OCPP 2.x terms an (EVSE, connector) pair; in 1.6, evse_id == connector_id."""

    __tablename__ = "connectors"
    __table_args__ = (
        UniqueConstraint("charger_id", "evse_id", "connector_id"),
        Index("ix_connectors_search", "charger_id", "max_power_w", "status", "connector_type"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("chargers.id", ondelete="CASCADE"))
    evse_id: Mapped[int] = mapped_column(Integer)
    connector_id: Mapped[int] = mapped_column(Integer)
    connector_type: Mapped[str] = mapped_column(String(20), default="Type2")
    max_power_w: Mapped[int] = mapped_column(Integer, default=22_000)
    status: Mapped[str] = mapped_column(String(16), default=ConnectorStatus.UNKNOWN.value)
    error_code: Mapped[str | None] = mapped_column(String(50))
    vendor_error_code: Mapped[str | None] = mapped_column(String(50))
    status_info: Mapped[str | None] = mapped_column(String(50))
    status_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    charger: Mapped[Charger] = relationship(back_populates="connectors", lazy="raise")


class ChargerEvent(Base):
    """What a charger reported that is not a transaction: firmware, diagnostics, security..."""

    __tablename__ = "charger_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charger_id: Mapped[int] = mapped_column(
        ForeignKey("chargers.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(60))
    occurred_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    summary: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, default=dict)


class ChargerStatusChange(Base):
    """A connector's status or a charger's connection, each time it changed: what fault
    history and uptime are read from. core.chargers.service writes a row only when the
    status (or error code, or online/offline) differs from the one stored."""

    __tablename__ = "charger_status_changes"
    __table_args__ = (Index("ix_charger_status_changes_charger_at", "charger_id", "at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("chargers.id", ondelete="CASCADE"))
    # connection: Online/Offline of the charger; status: a ConnectorStatus of an EVSE's
    # connector (evse 0: the charger as a whole).
    kind: Mapped[str] = mapped_column(String(12))
    evse_id: Mapped[int] = mapped_column(Integer, default=0)
    connector_id: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(16))
    error_code: Mapped[str | None] = mapped_column(String(50))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChargerVariable(Base):
    """A configuration key (1.6) or device-model variable (2.x) as last reported."""

    __tablename__ = "charger_variables"
    __table_args__ = (
        UniqueConstraint(
            "charger_id",
            "component",
            "component_instance",
            "evse_id",
            "connector_id",
            "variable",
            "variable_instance",
            "attribute_type",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    charger_id: Mapped[int] = mapped_column(ForeignKey("chargers.id", ondelete="CASCADE"))
    component: Mapped[str] = mapped_column(String(50), default="")
    component_instance: Mapped[str] = mapped_column(String(50), default="")
    evse_id: Mapped[int] = mapped_column(Integer, default=0)
    connector_id: Mapped[int] = mapped_column(Integer, default=0)
    variable: Mapped[str] = mapped_column(String(50))
    variable_instance: Mapped[str] = mapped_column(String(50), default="")
    attribute_type: Mapped[str] = mapped_column(String(16), default="Actual")
    value: Mapped[str | None] = mapped_column(String(2500))
    readonly: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
