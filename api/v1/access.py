"""/api/v1: who am I, API keys and the audit log."""

from __future__ import annotations

from fastapi import APIRouter

from api.v1.deps import Caller, Cursor, Db, KeyId, Limit, OptionalId
from core.models import ApiKey, AuditEntry
from core.orgs import apikeys
from core.orgs import repository as repo
from core.orgs.errors import Forbidden
from core.orgs.schemas import ApiKeyCreated, ApiKeyIn, ApiKeyOut, AuditOut, GrantOut, MeOut, Page
from core.orgs.scope import Access

router = APIRouter()


@router.get("/me", response_model=MeOut, tags=["access"])
async def me(caller: Caller) -> MeOut:
    return MeOut(
        kind=caller.kind,
        id=caller.id,
        label=caller.label,
        grants=[
            GrantOut(role=g.role.value, organisation_id=g.organisation_id) for g in caller.grants
        ],
    )


@router.get("/api-keys", response_model=Page[ApiKeyOut], tags=["access"])
async def list_api_keys(
    db: Db, caller: Caller, cursor: Cursor = None, limit: Limit = 100
) -> Page[ApiKeyOut]:
    """Keys of the organisations you administer (never the keys themselves)."""
    rows, after = await repo.page(db, repo.api_keys_query(caller), ApiKey.id, cursor, limit)
    return Page(items=[ApiKeyOut.model_validate(k) for k in rows], next_cursor=after)


@router.post("/api-keys", response_model=ApiKeyCreated, status_code=201, tags=["access"])
async def create_api_key(db: Db, caller: Caller, body: ApiKeyIn) -> ApiKeyCreated:
    """The key is in this answer only; only its hash is kept."""
    return await apikeys.create_key(db, caller, body)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyOut, tags=["access"])
async def revoke_api_key(db: Db, caller: Caller, key_id: KeyId) -> ApiKeyOut:
    return ApiKeyOut.model_validate(await apikeys.revoke_key(db, caller, key_id))


@router.get("/audit", response_model=Page[AuditOut], tags=["access"])
async def audit_log(
    db: Db,
    caller: Caller,
    organisation_id: OptionalId = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[AuditOut]:
    """Every change and support action, newest first: operator admins see all, organisation
    admins their organisation's."""
    if caller.orgs(Access.AUDIT) == frozenset():
        raise Forbidden("the audit log is for operator and organisation admins")
    query = repo.audit_query(caller)
    if organisation_id is not None:
        await repo.get_organisation(db, caller, organisation_id)
        query = query.where(AuditEntry.organisation_id == organisation_id)
    rows, after = await repo.page(db, query, AuditEntry.id, cursor, limit, newest_first=True)
    return Page(items=[AuditOut.model_validate(r) for r in rows], next_cursor=after)
