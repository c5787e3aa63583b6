"""Staff sign-in: e-mail or phone + one-time code, then TOTP where required, then a session.

The code step reuses the drivers' machinery and limits (core.users.auth: keyed hashes,
`login_code_ttl_s`, `login_code_max_attempts`, per-identity and per-IP rate limits). A
signed-in browser holds a random session token (only its hash is stored) in an HttpOnly
cookie; its CSRF token is derived from the session, so nothing else is stored for it.
Sessions end after `staff_session_ttl_s`, after `staff_session_idle_s` unused, on sign-out,
or when revoked. Transport (cookies, headers) lives in api/staff_auth.py.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.messaging.templates import render
from core.models import StaffLoginCode, StaffMember, StaffSession
from core.operator import Operator
from core.orgs import totp
from core.orgs.errors import Forbidden, RateLimited, Unauthenticated
from core.orgs.scope import Actor
from core.orgs.staff import grants_of, needs_totp, normalize_identity
from core.ports import MailSender, OutboundEmail, OutboundSms, SmsSender
from core.timeutil import utcnow
from core.users.auth import load_secret

ACTIVE = "active"
TOTP = "totp"  # enrolled: waiting for a code
TOTP_SETUP = "totp_setup"  # must enrol: the secret is shown in this step only
# last_seen_at is written at most this often per session.
_TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SignInStep:
    """The browser's new session token and what it must do next (stage)."""

    token: str
    stage: str
    csrf_token: str
    # Only at TOTP_SETUP: the otpauth:// URI for an authenticator app (shown once).
    totp_uri: str | None = None


@dataclass(frozen=True)
class StaffContext:
    """A signed-in staff member, for endpoints and dashboard pages."""

    session: StaffSession
    staff: StaffMember
    actor: Actor
    csrf_token: str


def _sha256(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


class StaffAuth:
    def __init__(self, settings: Settings, sms: SmsSender, email: MailSender) -> None:
        self.settings = settings
        self.sms = sms
        self.email = email
        self._secret = load_secret(settings)

    # ----------------------------------------------------------------- codes

    def _code_hash(self, identity: str, code: str) -> str:
        message = f"staff:{identity}:{code}".encode()
        return hmac.new(self._secret.encode(), message, "sha256").hexdigest()

    async def _count(self, session: AsyncSession, *where: object, minutes: int) -> int:
        since = utcnow() - timedelta(minutes=minutes)
        return int(
            (
                await session.execute(
                    select(func.count())
                    .select_from(StaffLoginCode)
                    .where(*where, StaffLoginCode.created_at >= since)  # type: ignore[arg-type]
                )
            ).scalar_one()
        )

    async def request_code(self, session: AsyncSession, identity: str, ip: str) -> str:
        """Send a code to a staff member's e-mail or phone. Answers the same whether or not
        the identity belongs to staff, so it cannot be used to find out who does."""
        kind, value = normalize_identity(identity)
        s = self.settings
        if await self._count(
            session, StaffLoginCode.identity == value, minutes=15
        ) >= s.login_codes_per_phone_per_15min or (
            ip
            and await self._count(session, StaffLoginCode.ip == ip, minutes=60)
            >= s.login_codes_per_ip_per_hour
        ):
            raise RateLimited("too many codes requested; try again later")
        code = f"{secrets.randbelow(1_000_000):06d}"
        session.add(
            StaffLoginCode(
                identity=value,
                code_hash=self._code_hash(value, code),
                ip=ip[:45],
                expires_at=utcnow() + timedelta(seconds=s.login_code_ttl_s),
            )
        )
        await session.flush()
        staff = await _staff(session, value)
        if staff is None or staff.disabled_at is not None:
            return value
        minutes = max(s.login_code_ttl_s // 60, 1)
        text = render("sign_in_code", "nb", Operator.from_settings(s), code=code, minutes=minutes)
        if kind == "email":
            await self.email.send(OutboundEmail(value, "Ladeflyt: påloggingskode", text))
        else:
            await self.sms.send(OutboundSms(to=value, body=text))
        return value

    async def link_code(self, session: AsyncSession, identity: str, ttl_s: int) -> str:
        """A code for a one-time sign-in link (the demo's admins, printed by `serve --demo`):
        the same code row and checks as a sent code, only given to the caller instead."""
        _, value = normalize_identity(identity)
        code = f"{secrets.randbelow(1_000_000):06d}"
        session.add(
            StaffLoginCode(
                identity=value,
                code_hash=self._code_hash(value, code),
                expires_at=utcnow() + timedelta(seconds=ttl_s),
            )
        )
        await session.flush()
        return code

    async def verify_code(
        self, session: AsyncSession, identity: str, code: str, ip: str = "", user_agent: str = ""
    ) -> SignInStep:
        _, value = normalize_identity(identity)
        now = utcnow()
        row = (
            await session.execute(
                select(StaffLoginCode)
                .where(StaffLoginCode.identity == value, StaffLoginCode.consumed_at.is_(None))
                .order_by(StaffLoginCode.created_at.desc(), StaffLoginCode.id.desc())
                .limit(1)
            )
        ).scalar_one_or_none()
        if row is None or row.expires_at <= now:
            raise Unauthenticated("no valid code for this address; request a new one")
        if row.attempts >= self.settings.login_code_max_attempts:
            raise RateLimited("too many attempts; request a new code")
        staff = await _staff(session, value)
        if not hmac.compare_digest(row.code_hash, self._code_hash(value, code.strip())):
            row.attempts += 1
            await session.flush()
            raise Unauthenticated("wrong code")
        row.consumed_at = now
        if staff is None or staff.disabled_at is not None:
            raise Unauthenticated("wrong code")
        grants = await grants_of(session, staff.id)
        if not grants:
            raise Unauthenticated("no roles: ask an administrator for access")
        totp_uri = None
        if not needs_totp(grants, staff):
            stage = ACTIVE
        elif staff.totp_nonce is not None:
            stage = TOTP
        else:
            staff.totp_nonce = totp.new_nonce()
            await session.flush()
            totp_uri = totp.provisioning_uri(self._secret, staff)
            stage = TOTP_SETUP
        if stage == ACTIVE:
            staff.last_sign_in_at = now
        return await self._new_session(session, staff, stage, ip, user_agent, totp_uri)

    async def _new_session(
        self,
        session: AsyncSession,
        staff: StaffMember,
        stage: str,
        ip: str,
        user_agent: str,
        totp_uri: str | None = None,
    ) -> SignInStep:
        token = secrets.token_urlsafe(32)
        now = utcnow()
        session.add(
            StaffSession(
                staff_id=staff.id,
                token_hash=_sha256(token),
                stage=stage,
                ip=ip[:45],
                user_agent=user_agent[:200],
                created_at=now,
                last_seen_at=now,
                # A half-signed-in browser gets a few minutes for its second factor.
                expires_at=now
                + timedelta(
                    seconds=self.settings.staff_session_ttl_s
                    if stage == ACTIVE
                    else self.settings.login_code_ttl_s
                ),
            )
        )
        await session.flush()
        return SignInStep(token, stage, self.csrf_token(token), totp_uri)

    # ----------------------------------------------------------------- second factor

    async def verify_totp(self, session: AsyncSession, token: str, code: str) -> SignInStep:
        row = await self._session_row(session, token)
        if row is None or row.stage not in (TOTP, TOTP_SETUP):
            raise Unauthenticated("no sign-in waiting for a second factor; start again")
        staff = await session.get_one(StaffMember, row.staff_id)
        if not totp.verify(self._secret, staff, code):
            row.totp_attempts += 1
            if row.totp_attempts >= self.settings.staff_totp_max_attempts:
                row.revoked_at = utcnow()
            await session.flush()
            raise Unauthenticated("wrong authenticator code")
        now = utcnow()
        if staff.totp_confirmed_at is None:
            staff.totp_confirmed_at = now
        staff.last_sign_in_at = now
        # A fresh token once fully signed in: the half-way one is spent.
        row.revoked_at = now
        await session.flush()
        return await self._new_session(session, staff, ACTIVE, row.ip, row.user_agent)

    # ----------------------------------------------------------------- sessions

    async def _session_row(self, session: AsyncSession, token: str) -> StaffSession | None:
        if not token:
            return None
        row = (
            await session.execute(
                select(StaffSession).where(StaffSession.token_hash == _sha256(token))
            )
        ).scalar_one_or_none()
        now = utcnow()
        if row is None or row.revoked_at is not None or row.expires_at <= now:
            return None
        idle = timedelta(seconds=self.settings.staff_session_idle_s)
        if row.stage == ACTIVE and row.last_seen_at + idle <= now:
            return None
        return row

    async def resolve(self, session: AsyncSession, token: str, ip: str = "") -> StaffContext:
        """The signed-in staff member behind a session token, or Unauthenticated."""
        row = await self._session_row(session, token)
        if row is None or row.stage != ACTIVE:
            raise Unauthenticated("not signed in, or the session has ended")
        staff = await session.get_one(StaffMember, row.staff_id)
        if staff.disabled_at is not None:
            raise Unauthenticated("this account is disabled")
        now = utcnow()
        if now - row.last_seen_at >= _TOUCH_EVERY:
            await session.execute(
                update(StaffSession).where(StaffSession.id == row.id).values(last_seen_at=now)
            )
        grants = await grants_of(session, staff.id)
        label = f"staff {staff.email or staff.phone}" + (f" ({staff.name})" if staff.name else "")
        actor = Actor("staff", staff.id, label, grants, ip)
        return StaffContext(row, staff, actor, self.csrf_token(token))

    async def sign_out(self, session: AsyncSession, token: str) -> None:
        await session.execute(
            update(StaffSession)
            .where(StaffSession.token_hash == _sha256(token), StaffSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )

    async def revoke_all(self, session: AsyncSession, staff_id: int) -> int:
        """End every session of a staff member (sign out everywhere, or an admin's revoke)."""
        result = await session.execute(
            update(StaffSession)
            .where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        return int(getattr(result, "rowcount", 0) or 0)

    async def sessions_of(self, session: AsyncSession, staff_id: int) -> list[StaffSession]:
        now = utcnow()
        return list(
            (
                await session.execute(
                    select(StaffSession)
                    .where(
                        StaffSession.staff_id == staff_id,
                        StaffSession.revoked_at.is_(None),
                        StaffSession.expires_at > now,
                        StaffSession.stage == ACTIVE,
                    )
                    .order_by(StaffSession.id)
                )
            ).scalars()
        )

    async def revoke_session(self, session: AsyncSession, staff_id: int, session_id: int) -> bool:
        result = await session.execute(
            update(StaffSession)
            .where(
                StaffSession.id == session_id,
                StaffSession.staff_id == staff_id,
                StaffSession.revoked_at.is_(None),
            )
            .values(revoked_at=utcnow())
        )
        return bool(getattr(result, "rowcount", 0))

    # ----------------------------------------------------------------- CSRF

    def csrf_token(self, token: str) -> str:
        return hmac.new(
            self._secret.encode(), f"csrf:{_sha256(token)}".encode(), "sha256"
        ).hexdigest()

    def check_csrf(self, token: str, presented: str | None) -> None:
        if not presented or not hmac.compare_digest(self.csrf_token(token), presented):
            raise Forbidden("missing or wrong CSRF token")

    def totp_code_for_tests(self, staff: StaffMember) -> str:
        return totp.current_code(self._secret, staff)


async def _staff(session: AsyncSession, identity: str) -> StaffMember | None:
    return (
        await session.execute(
            select(StaffMember).where(
                (StaffMember.email == identity) | (StaffMember.phone == identity)
            )
        )
    ).scalar_one_or_none()
