"""Driver sign-in: phone + one-time SMS code → short-lived JWT access token + refresh token.

Codes are 6 digits, stored as a keyed hash, valid `login_code_ttl_s`, single-use, with a
bounded number of attempts; sending is rate-limited per phone and per IP. Refresh tokens
are random, stored hashed, rotated on every use; presenting a revoked one revokes them all
(a stolen token was used). "Sign out everywhere" bumps the user's token version, which
every access token carries.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.messaging.templates import render
from core.models import LoginCode, RefreshToken, User
from core.operator import Operator
from core.ports import OutboundSms, SmsSender
from core.timeutil import utcnow
from core.users.service import UserError, normalize_phone

ALGORITHM = "HS256"


class AuthError(Exception):
    """A sign-in step failed; `reason` is one of the result kinds the API reports."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class Tokens:
    access_token: str
    refresh_token: str
    access_expires_at: datetime
    user_id: int
    new_user: bool


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    token_version: int


def load_secret(settings: Settings) -> str:
    """The JWT signing secret: configured, or generated once into `secret_file` (dev)."""
    if settings.jwt_secret:
        return settings.jwt_secret
    path = Path(settings.secret_file)
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secret)
    return secret


class AuthService:
    def __init__(self, settings: Settings, sms: SmsSender) -> None:
        self.settings = settings
        self.sms = sms
        self._secret = load_secret(settings)

    # ----------------------------------------------------------------- codes

    def _code_hash(self, phone: str, code: str) -> str:
        return hmac.new(self._secret.encode(), f"{phone}:{code}".encode(), "sha256").hexdigest()

    async def request_code(self, session: AsyncSession, phone: str, ip: str) -> str:
        """Send a sign-in code; returns the normalised phone number."""
        try:
            phone = normalize_phone(phone)
        except UserError as error:
            raise AuthError("invalid_input", str(error)) from None
        now = utcnow()
        per_phone = await _count_codes(
            session, LoginCode.phone == phone, now - timedelta(minutes=15)
        )
        per_ip = await _count_codes(session, LoginCode.ip == ip, now - timedelta(hours=1))
        if per_phone >= self.settings.login_codes_per_phone_per_15min or (
            ip and per_ip >= self.settings.login_codes_per_ip_per_hour
        ):
            raise AuthError("rate_limited", "too many codes requested; try again later")
        code = f"{secrets.randbelow(1_000_000):06d}"
        session.add(
            LoginCode(
                phone=phone,
                code_hash=self._code_hash(phone, code),
                ip=ip[:45],
                expires_at=now + timedelta(seconds=self.settings.login_code_ttl_s),
            )
        )
        await session.flush()
        user = (await session.execute(select(User).where(User.phone == phone))).scalar_one_or_none()
        # Sent directly, not through the outbox: the code must not be stored in clear text.
        body = render(
            "sign_in_code",
            user.language if user else "nb",
            Operator.from_settings(self.settings),
            code=code,
            minutes=max(self.settings.login_code_ttl_s // 60, 1),
        )
        await self.sms.send(OutboundSms(to=phone, body=body))
        return phone

    async def sign_in(self, session: AsyncSession, phone: str, code: str) -> Tokens:
        try:
            phone = normalize_phone(phone)
        except UserError as error:
            raise AuthError("invalid_input", str(error)) from None
        now = utcnow()
        row = (
            await session.execute(
                select(LoginCode)
                .where(LoginCode.phone == phone, LoginCode.consumed_at.is_(None))
                .order_by(LoginCode.created_at.desc(), LoginCode.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if row is None:
            raise AuthError("invalid_code", "no code was sent to this number")
        if row.attempts >= self.settings.login_code_max_attempts:
            raise AuthError("rate_limited", "too many attempts; request a new code")
        if row.expires_at <= now:
            raise AuthError("code_expired", "the code has expired; request a new one")
        if not hmac.compare_digest(row.code_hash, self._code_hash(phone, code.strip())):
            row.attempts += 1
            await session.flush()
            raise AuthError("invalid_code", "wrong code")
        row.consumed_at = now
        user = (await session.execute(select(User).where(User.phone == phone))).scalar_one_or_none()
        new_user = user is None
        if user is None:
            user = User(phone=phone)
            session.add(user)
            await session.flush()
        return await self._issue(session, user, new_user)

    # ----------------------------------------------------------------- tokens

    async def _issue(self, session: AsyncSession, user: User, new_user: bool = False) -> Tokens:
        now = utcnow()
        expires = now + timedelta(seconds=self.settings.access_token_ttl_s)
        access = jwt.encode(
            {
                "sub": str(user.id),
                "ver": user.token_version,
                "typ": "access",
                "iat": int(now.timestamp()),
                "exp": int(expires.timestamp()),
            },
            self._secret,
            algorithm=ALGORITHM,
        )
        refresh = secrets.token_urlsafe(32)
        session.add(
            RefreshToken(
                user_id=user.id,
                token_hash=_sha256(refresh),
                expires_at=now + timedelta(days=self.settings.refresh_token_ttl_days),
            )
        )
        await session.flush()
        return Tokens(access, refresh, expires, user.id, new_user)

    async def access_token_for(self, session: AsyncSession, phone: str) -> Tokens:
        """For operators and scripted tests: tokens for an existing user, no SMS."""
        user = (
            await session.execute(select(User).where(User.phone == normalize_phone(phone)))
        ).scalar_one_or_none()
        if user is None:
            raise UserError(f"no user with phone {phone}")
        return await self._issue(session, user)

    async def refresh(self, session: AsyncSession, refresh_token: str) -> Tokens:
        now = utcnow()
        row = (
            await session.execute(
                select(RefreshToken).where(RefreshToken.token_hash == _sha256(refresh_token))
            )
        ).scalar_one_or_none()
        if row is None or row.expires_at <= now:
            raise AuthError("invalid_token", "unknown or expired refresh token")
        if row.revoked_at is not None:
            # A rotated-away token came back: assume theft, end every session of this user.
            await self.sign_out_everywhere(session, row.user_id)
            raise AuthError("invalid_token", "refresh token was already used")
        row.revoked_at = now
        user = await session.get_one(User, row.user_id)
        return await self._issue(session, user)

    async def sign_out_everywhere(self, session: AsyncSession, user_id: int) -> None:
        await session.execute(
            update(User).where(User.id == user_id).values(token_version=User.token_version + 1)
        )
        await session.execute(
            update(RefreshToken)
            .where(RefreshToken.user_id == user_id, RefreshToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    def decode_access(self, token: str) -> AccessClaims:
        try:
            claims = jwt.decode(
                token, self._secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
            )
        except jwt.PyJWTError as error:
            raise AuthError("invalid_token", str(error)) from None
        if claims.get("typ") != "access":
            raise AuthError("invalid_token", "not an access token")
        return AccessClaims(int(claims["sub"]), int(claims.get("ver", 0)))


async def _count_codes(
    session: AsyncSession, condition: ColumnElement[bool], since: datetime
) -> int:
    return int(
        (
            await session.execute(
                select(func.count())
                .select_from(LoginCode)
                .where(
                    condition,
                    LoginCode.created_at >= since,
                )
            )
        ).scalar_one()
    )


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
