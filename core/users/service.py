"""Users and id tokens: who may charge, and with which token."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import IdToken, IdTokenKind, IdTokenStatus, User


class AuthorizationStatus(StrEnum):
    """The OCPP authorization outcome (1.6 and 2.x share these words; NoCredit is 2.x only
    and becomes Blocked in 1.6)."""

    ACCEPTED = "Accepted"
    BLOCKED = "Blocked"
    EXPIRED = "Expired"
    INVALID = "Invalid"
    NO_CREDIT = "NoCredit"


@dataclass(frozen=True)
class Authorization:
    status: AuthorizationStatus
    id_token_pk: int | None = None
    user_id: int | None = None
    expires_at: datetime | None = None
    # Decided by core.sessions.flows for a start: the STARTING session it belongs to (a
    # remote start), the hold that pays for it, how it was started, and a short text for
    # the charger's display when it is refused.
    session_id: int | None = None
    payment_id: int | None = None
    channel: str | None = None
    message: str | None = None

    @property
    def accepted(self) -> bool:
        return self.status == AuthorizationStatus.ACCEPTED


class UserError(Exception):
    """An operator asked for something that cannot be done (duplicate, unknown user...)."""


def normalize_token(token: str) -> str:
    return token.strip().upper()


def normalize_phone(phone: str) -> str:
    """E.164; a bare 8-digit number is Norwegian."""
    digits = "".join(ch for ch in phone if ch.isdigit() or ch == "+")
    if digits.startswith("00"):
        digits = "+" + digits[2:]
    if not digits.startswith("+"):
        digits = "+47" + digits if len(digits) == 8 else "+" + digits
    if not 8 <= len(digits) <= 16 or not digits[1:].isdigit():
        raise UserError(f"not a phone number: {phone!r}")
    return digits


async def authorize(session: AsyncSession, token: str, at: datetime) -> Authorization:
    row = (
        await session.execute(select(IdToken).where(IdToken.token == normalize_token(token)))
    ).scalar_one_or_none()
    if row is None:
        return Authorization(AuthorizationStatus.INVALID)
    if row.status == IdTokenStatus.BLOCKED:
        status = AuthorizationStatus.BLOCKED
    elif row.expires_at is not None and row.expires_at <= at:
        status = AuthorizationStatus.EXPIRED
    else:
        status = AuthorizationStatus.ACCEPTED
    return Authorization(status, row.id, row.user_id, row.expires_at)


async def add_user(
    session: AsyncSession,
    phone: str,
    name: str = "",
    email: str | None = None,
) -> User:
    """A driver. Customer groups are memberships of an organisation (core.orgs), not a
    property of the driver: a member at one site is a guest at the next."""
    phone = normalize_phone(phone)
    if (await session.execute(select(User.id).where(User.phone == phone))).first():
        raise UserError(f"a user with phone {phone} exists already")
    user = User(phone=phone, name=name, email=email)
    session.add(user)
    await session.flush()
    return user


async def get_user_by_phone(session: AsyncSession, phone: str) -> User | None:
    return (
        await session.execute(select(User).where(User.phone == normalize_phone(phone)))
    ).scalar_one_or_none()


async def add_id_token(
    session: AsyncSession,
    token: str,
    user: User | None,
    kind: IdTokenKind = IdTokenKind.RFID,
    label: str = "",
    expires_at: datetime | None = None,
) -> IdToken:
    value = normalize_token(token)
    if not value or (len(value) > 20 and kind == IdTokenKind.RFID):
        raise UserError("an RFID idTag is 1-20 characters (OCPP 1.6 IdToken)")
    if (await session.execute(select(IdToken.id).where(IdToken.token == value))).first():
        raise UserError(f"id token {value} exists already")
    row = IdToken(
        token=value,
        kind=kind.value,
        label=label,
        expires_at=expires_at,
        user_id=user.id if user else None,
    )
    session.add(row)
    await session.flush()
    return row
