"""TOTP (RFC 6238) second factor for staff: secrets derived, never stored.

A staff member's secret is HMAC(server secret, "totp:<staff id>:<nonce>"): the database keeps
only the nonce, so a copy of it does not let anyone make codes. Each time step is accepted
once (replays of a seen code fail), with one step of clock drift either way.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

import pyotp

from core.models import StaffMember

ISSUER = "Ladeflyt"


def new_nonce() -> str:
    return secrets.token_hex(16)


def secret_for(server_secret: str, staff_id: int, nonce: str) -> str:
    digest = hmac.new(server_secret.encode(), f"totp:{staff_id}:{nonce}".encode(), hashlib.sha256)
    return base64.b32encode(digest.digest()[:20]).decode()


def provisioning_uri(server_secret: str, staff: StaffMember) -> str:
    assert staff.totp_nonce is not None
    secret = secret_for(server_secret, staff.id, staff.totp_nonce)
    name = staff.email or staff.phone or str(staff.id)
    return pyotp.TOTP(secret).provisioning_uri(name=name, issuer_name=ISSUER)


def current_code(server_secret: str, staff: StaffMember, at: float | None = None) -> str:
    """The code an authenticator shows now (for tests and the CLI's first sign-in)."""
    assert staff.totp_nonce is not None
    totp = pyotp.TOTP(secret_for(server_secret, staff.id, staff.totp_nonce))
    return totp.at(int(at if at is not None else time.time()))


def verify(server_secret: str, staff: StaffMember, code: str, at: float | None = None) -> bool:
    """Check a code; on success remember its time step so it cannot be used again."""
    if staff.totp_nonce is None:
        return False
    code = "".join(ch for ch in code if ch.isdigit())
    if len(code) != 6:
        return False
    totp = pyotp.TOTP(secret_for(server_secret, staff.id, staff.totp_nonce))
    now = at if at is not None else time.time()
    step = int(now // totp.interval)
    for candidate in (step - 1, step, step + 1):
        if staff.totp_last_step is not None and candidate <= staff.totp_last_step:
            continue
        if hmac.compare_digest(totp.at(candidate * totp.interval), code):
            staff.totp_last_step = candidate
            return True
    return False
