"""API keys for the operator REST API: shown once, stored hashed, revocable, last use kept.

A key reads `lf_<prefix>_<secret>`. The prefix (public, unique) finds the row; only the
SHA-256 of the secret is stored (a random 256-bit secret needs no slow hash).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import ApiKey, Role
from core.orgs import repository as repo
from core.orgs.audit import record, snapshot
from core.orgs.errors import Unauthenticated
from core.orgs.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut
from core.orgs.scope import Access, Actor, Grant
from core.timeutil import utcnow

# last_used_at is written at most this often per key: a busy key must not write per call.
TOUCH_EVERY = timedelta(seconds=60)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def create_key(session: AsyncSession, actor: Actor, data: ApiKeyIn) -> ApiKeyCreated:
    role = Role(data.role)
    if role.operator:
        actor.require(Access.OPERATOR, None, "API key")
        org_id = None
    else:
        if data.organisation_id is None:
            from core.orgs.errors import Invalid

            raise Invalid(f"a {role.value} key belongs to an organisation: give organisation_id")
        org = await repo.get_organisation(session, actor, data.organisation_id)
        actor.require(Access.WRITE, org.id, "organisation")
        org_id = org.id
    prefix = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        prefix=prefix,
        key_hash=_hash(secret),
        name=data.name,
        role=role.value,
        organisation_id=org_id,
        created_by=actor.audit_label(),
    )
    session.add(key)
    await session.flush()
    await record(session, actor, "api_key.create", "api_key", key.id, org_id, after=snapshot(key))
    out = ApiKeyOut.model_validate(key)
    return ApiKeyCreated(**out.model_dump(), key=f"lf_{prefix}_{secret}")


async def revoke_key(session: AsyncSession, actor: Actor, key_id: int) -> ApiKey:
    key = await repo.get_api_key(session, actor, key_id)
    if key.organisation_id is None:
        actor.require(Access.OPERATOR, None, "API key")
    before = snapshot(key)
    if key.revoked_at is None:
        key.revoked_at = utcnow()
    await session.flush()
    await record(
        session,
        actor,
        "api_key.revoke",
        "api_key",
        key.id,
        key.organisation_id,
        before=before,
        after=snapshot(key),
    )
    return key


async def find_key(session: AsyncSession, actor: Actor, ref: str) -> ApiKey:
    """By id or prefix (the CLI's `apikey revoke`)."""
    text = ref.strip()
    if text.startswith("lf_"):
        text = text[3:].split("_", 1)[0]
    query = repo.api_keys_query(actor)
    condition = ApiKey.prefix == text
    if text.isdigit() and len(text) < 12:
        condition = condition | (ApiKey.id == int(text))
    rows = list((await session.execute(query.where(condition).limit(2))).scalars())
    if len(rows) != 1:
        from core.orgs.errors import NotFound

        raise NotFound(f"no API key {ref!r}")
    return rows[0]


async def authenticate(session: AsyncSession, presented: str, ip: str = "") -> tuple[Actor, bool]:
    """The actor a bearer key stands for, and whether its last use should be recorded
    (`touch`); Unauthenticated for anything else."""
    parts = presented.split("_", 2)
    if len(parts) != 3 or parts[0] != "lf" or not parts[1] or not parts[2]:
        raise Unauthenticated("not an API key")
    key = (
        await session.execute(select(ApiKey).where(ApiKey.prefix == parts[1]))
    ).scalar_one_or_none()
    if key is None or not hmac.compare_digest(key.key_hash, _hash(parts[2])):
        raise Unauthenticated("unknown API key")
    if key.revoked_at is not None:
        raise Unauthenticated("this API key has been revoked")
    now = utcnow()
    stale = key.last_used_at is None or now - key.last_used_at >= TOUCH_EVERY
    label = f"api key {key.prefix}" + (f" ({key.name})" if key.name else "")
    grants = (Grant(Role(key.role), key.organisation_id),)
    return Actor("api_key", key.id, label, grants, ip), stale


async def touch(session: AsyncSession, key_id: int) -> None:
    """Record a key's use (in a transaction of its own: a failed request used it too)."""
    await session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=utcnow()))
