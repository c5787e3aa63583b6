"""Charger password hashing (OCPP security profiles 1 and 2): only hashes are stored."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

# scrypt parameters: ~15 ms per check on one core. Chargers reconnect often, so the gateway
# caches successful checks in memory (see ocpp_gateway.auth) instead of weakening these.
_N, _R, _P = 2**14, 8, 1
MIN_PASSWORD_BYTES = 16


def hash_password(password: str) -> str:
    if len(password.encode()) < MIN_PASSWORD_BYTES:
        raise ValueError(f"a charger password needs at least {MIN_PASSWORD_BYTES} bytes")
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    salt_b64, digest_b64 = base64.b64encode(salt).decode(), base64.b64encode(digest).decode()
    return f"scrypt${_N}${_R}${_P}${salt_b64}${digest_b64}"


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    salt = base64.b64decode(salt_b64)
    expected = base64.b64decode(digest_b64)
    actual = hashlib.scrypt(
        password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
    )
    return hmac.compare_digest(actual, expected)


def password_check(key: bytes, charge_point_id: str, stored_hash: str, password: str) -> str:
    """What a gateway stores after verifying `password` against `stored_hash` the slow way:
    an HMAC keyed by a server secret (not in the database), so a restarted gateway checks
    a reconnecting charger in microseconds, and the database alone does not allow guessing
    the password faster than scrypt does. A new password (a new hash) makes it stale."""
    message = f"{charge_point_id}\x00{stored_hash}\x00{password}".encode()
    return hmac.new(key, message, hashlib.sha256).hexdigest()
