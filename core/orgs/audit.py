"""The audit log: every change and support action, who, when, what, before and after."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import inspect
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import AuditEntry
from core.orgs.scope import Actor
from core.timeutil import utcnow

# Never written to the log, whatever the object.
_SECRET = {"password_hash", "key_hash", "token_hash", "code_hash", "totp_nonce"}


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _json(v) for k, v in value.items()}
    return value


def snapshot(row: object | None) -> dict[str, Any] | None:
    """The columns of an ORM row as JSON-able values (secrets left out)."""
    if row is None:
        return None
    mapper = inspect(row.__class__)
    return {c.key: _json(getattr(row, c.key)) for c in mapper.column_attrs if c.key not in _SECRET}


def changed(before: dict[str, Any] | None, after: dict[str, Any] | None) -> bool:
    return before != after


async def record(
    session: AsyncSession,
    actor: Actor,
    action: str,
    object_type: str,
    object_id: object,
    organisation_id: int | None,
    *,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an entry in the caller's transaction: it is written exactly when the change is."""
    entry = AuditEntry(
        at=utcnow(),
        actor_kind=actor.kind,
        actor_id=actor.id,
        actor_label=actor.audit_label(),
        organisation_id=organisation_id,
        action=action,
        object_type=object_type,
        object_id=str(object_id)[:64],
        before=_json(before) if before is not None else None,
        after=_json(after) if after is not None else None,
        ip=actor.ip[:45],
    )
    session.add(entry)
    await session.flush()
    return entry
