"""Organisations, their customer groups and memberships, staff, API keys and the audit log."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    CheckConstraint,
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


class Role(StrEnum):
    OPERATOR_ADMIN = "operator_admin"  # everything
    OPERATOR_SUPPORT = "operator_support"  # every organisation: read, plus support actions
    ORG_ADMIN = "org_admin"  # one organisation: its sites, people, prices, reports
    ORG_VIEWER = "org_viewer"  # one organisation: read only

    @property
    def operator(self) -> bool:
        return self in (Role.OPERATOR_ADMIN, Role.OPERATOR_SUPPORT)


class Organisation(Base):
    """A customer of the operator that owns sites: borettslag, sameie, business, kommune."""

    __tablename__ = "organisations"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120), unique=True)
    # Norwegian organisasjonsnummer, 9 digits with a MOD11 check digit.
    org_number: Mapped[str | None] = mapped_column(String(9), unique=True)
    kind: Mapped[str] = mapped_column(String(20), default="other")
    # Invoice address and contact.
    street: Mapped[str] = mapped_column(String(200), default="")
    postal_code: Mapped[str] = mapped_column(String(10), default="")
    city: Mapped[str] = mapped_column(String(80), default="")
    country: Mapped[str] = mapped_column(String(2), default="NO")
    invoice_email: Mapped[str | None] = mapped_column(String(254))
    contact_name: Mapped[str] = mapped_column(String(120), default="")
    contact_email: Mapped[str | None] = mapped_column(String(254))
    contact_phone: Mapped[str | None] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CustomerGroup(Base):
    """A group an organisation defines beyond the built-in ones (core.orgs.groups)."""

    __tablename__ = "customer_groups"
    __table_args__ = (UniqueConstraint("organisation_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Membership(Base):
    """A driver in a customer group at an organisation (all its sites) or at one of its
    sites, for a period: prices follow the membership valid at that site at that time."""

    __tablename__ = "memberships"
    __table_args__ = (
        Index("ix_memberships_user_org", "user_id", "organisation_id"),
        Index("ix_memberships_organisation_group", "organisation_id", "group"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    organisation_id: Mapped[int] = mapped_column(ForeignKey("organisations.id", ondelete="CASCADE"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    group: Mapped[str] = mapped_column(String(40))
    # None: since always / until further notice. valid_to is exclusive.
    valid_from: Mapped[datetime | None] = mapped_column(UTCDateTime)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Apartment number, employee number, registration plate...
    reference: Mapped[str] = mapped_column(String(60), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffMember(Base):
    """A person who administers: operator staff, or a board/manager of an organisation."""

    __tablename__ = "staff_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str | None] = mapped_column(String(254), unique=True)
    phone: Mapped[str | None] = mapped_column(String(20), unique=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    # The TOTP secret is derived from the server secret and this nonce (core.orgs.totp),
    # so a copy of the database alone does not reveal it.
    totp_nonce: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last TOTP time step accepted: a code is never accepted twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    disabled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_sign_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffRole(Base):
    """One role of a staff member; organisation roles name their organisation."""

    __tablename__ = "staff_roles"
    __table_args__ = (
        UniqueConstraint("staff_id", "role", "organisation_id"),
        CheckConstraint(
            "(role IN ('operator_admin', 'operator_support')) = (organisation_id IS NULL)",
            name="operator_roles_have_no_organisation",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(24))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class StaffLoginCode(Base):
    """A one-time sign-in code sent to a staff member's e-mail or phone (hash only)."""

    __tablename__ = "staff_login_codes"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity: Mapped[str] = mapped_column(String(254), index=True)
    code_hash: Mapped[str] = mapped_column(String(64))
    ip: Mapped[str] = mapped_column(String(45), default="", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    consumed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class StaffSession(Base):
    """A signed-in browser: the cookie holds a random token, only its hash is stored."""

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(
        ForeignKey("staff_members.id", ondelete="CASCADE"), index=True
    )
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # totp | totp_setup: waiting for the second factor; active: signed in.
    stage: Mapped[str] = mapped_column(String(12))
    totp_attempts: Mapped[int] = mapped_column(Integer, default=0)
    ip: Mapped[str] = mapped_column(String(45), default="")
    user_agent: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiKey(Base):
    """A key for the operator REST API with one role, for the operator or an organisation.
    The key is `lf_<prefix>_<secret>`: the prefix finds the row, the secret's hash checks it."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint(
            "(role IN ('operator_admin', 'operator_support')) = (organisation_id IS NULL)",
            name="operator_keys_have_no_organisation",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    key_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(80), default="")
    role: Mapped[str] = mapped_column(String(24))
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AuditEntry(Base):
    """Every change and support action: who, when, what, before and after."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_organisation_id_id", "organisation_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    actor_kind: Mapped[str] = mapped_column(String(12))  # staff | api_key | cli | system
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor_label: Mapped[str] = mapped_column(String(200), default="")
    # Whose data it is (None: the operator's own, e.g. an unowned site).
    organisation_id: Mapped[int | None] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(60))  # membership.create, charger.command...
    object_type: Mapped[str] = mapped_column(String(40))
    object_id: Mapped[str] = mapped_column(String(64), default="")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONType)
    ip: Mapped[str] = mapped_column(String(45), default="")


class SupportNote(Base):
    """A note support or an organisation admin keeps about a driver, session or charger
    (dashboard: customer support). Only its organisation's staff and the operator see it."""

    __tablename__ = "support_notes"
    __table_args__ = (
        Index("ix_support_notes_user_id", "user_id"),
        Index("ix_support_notes_session_id", "session_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Whose it is (None: the operator's own, e.g. a guest at an operator station).
    organisation_id: Mapped[int | None] = mapped_column(
        ForeignKey("organisations.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    session_id: Mapped[int | None] = mapped_column(
        ForeignKey("charging_sessions.id", ondelete="CASCADE")
    )
    charger_id: Mapped[int | None] = mapped_column(ForeignKey("chargers.id", ondelete="CASCADE"))
    author: Mapped[str] = mapped_column(String(200), default="")
    text: Mapped[str] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
