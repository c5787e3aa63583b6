"""Drivers and the id tokens (RFID cards, app and SMS identities) they charge with."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, UTCDateTime
from core.timeutil import utcnow


class IdTokenKind(StrEnum):
    RFID = "rfid"
    APP = "app"
    SMS = "sms"
    GUEST = "guest"


class IdTokenStatus(StrEnum):
    ACTIVE = "active"
    BLOCKED = "blocked"


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    email: Mapped[str | None] = mapped_column(String(254))
    customer_group: Mapped[str] = mapped_column(String(40), default="public")
    language: Mapped[str] = mapped_column(String(2), default="nb")
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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    user: Mapped[User | None] = relationship(back_populates="id_tokens", lazy="raise")
