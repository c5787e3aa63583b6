"""/api/v1: memberships, drivers (as members of your organisations) and their RFID tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.v1.deps import Caller, Cursor, Db, DriverId, Limit, MembershipId, OptionalId, TokenId
from core.models import IdToken, Membership, User
from core.orgs import repository as repo
from core.orgs import service
from core.orgs.groups import normalize_group
from core.orgs.schemas import (
    DriverOut,
    IdTokenIn,
    IdTokenOut,
    IdTokenPatch,
    MembershipIn,
    MembershipOut,
    MembershipPatch,
    Page,
    When,
)
from core.users.service import UserError, normalize_phone

router = APIRouter()


def membership_out(m: Membership) -> MembershipOut:
    return MembershipOut(
        id=m.id,
        driver_id=m.user_id,
        organisation_id=m.organisation_id,
        site_id=m.site_id,
        group=m.group,
        valid_from=m.valid_from,
        valid_to=m.valid_to,
        reference=m.reference,
        created_at=m.created_at,
    )


@router.get("/memberships", response_model=Page[MembershipOut], tags=["people"])
async def list_memberships(
    db: Db,
    caller: Caller,
    organisation_id: OptionalId = None,
    site_id: OptionalId = None,
    driver_id: OptionalId = None,
    group: Annotated[str | None, Query(min_length=1, max_length=40)] = None,
    active_at: When | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[MembershipOut]:
    query = repo.memberships_query(caller)
    if organisation_id is not None:
        await repo.get_organisation(db, caller, organisation_id)
        query = query.where(Membership.organisation_id == organisation_id)
    if site_id is not None:
        await repo.get_site(db, caller, site_id)
        query = query.where(Membership.site_id == site_id)
    if driver_id is not None:
        await repo.get_driver(db, caller, driver_id)
        query = query.where(Membership.user_id == driver_id)
    if group is not None:
        query = query.where(Membership.group == normalize_group(group))
    if active_at is not None:
        query = query.where(
            (Membership.valid_from.is_(None)) | (Membership.valid_from <= active_at),
            (Membership.valid_to.is_(None)) | (Membership.valid_to > active_at),
        )
    rows, after = await repo.page(db, query, Membership.id, cursor, limit)
    return Page(items=[membership_out(m) for m in rows], next_cursor=after)


@router.post("/memberships", response_model=MembershipOut, status_code=201, tags=["people"])
async def create_membership(db: Db, caller: Caller, body: MembershipIn) -> MembershipOut:
    """Enrol a driver (by id, or by phone: created if new) in a group of your organisation,
    for all its sites or one, for a period."""
    return membership_out(await service.add_membership(db, caller, body))


@router.get("/memberships/{membership_id}", response_model=MembershipOut, tags=["people"])
async def get_membership(db: Db, caller: Caller, membership_id: MembershipId) -> MembershipOut:
    return membership_out(await repo.get_membership(db, caller, membership_id))


@router.patch("/memberships/{membership_id}", response_model=MembershipOut, tags=["people"])
async def update_membership(
    db: Db, caller: Caller, membership_id: MembershipId, body: MembershipPatch
) -> MembershipOut:
    return membership_out(await service.update_membership(db, caller, membership_id, body))


@router.delete("/memberships/{membership_id}", status_code=204, tags=["people"])
async def end_membership(db: Db, caller: Caller, membership_id: MembershipId) -> Response:
    """End the membership now (sessions before it keep their group)."""
    await service.end_membership(db, caller, membership_id)
    return Response(status_code=204)


async def _drivers_out(db: Db, caller: Caller, users: list[User]) -> list[DriverOut]:
    memberships = await repo.memberships_of(db, caller, [u.id for u in users])
    return [
        DriverOut(
            id=u.id,
            phone=u.phone,
            name=u.name,
            email=u.email,
            memberships=[membership_out(m) for m in memberships[u.id]],
        )
        for u in users
    ]


@router.get("/drivers", response_model=Page[DriverOut], tags=["people"])
async def list_drivers(
    db: Db,
    caller: Caller,
    phone: Annotated[str | None, Query(min_length=8, max_length=20)] = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[DriverOut]:
    """Drivers who are (or were) members of your organisations."""
    query = repo.drivers_query(caller)
    if phone is not None:
        try:
            query = query.where(User.phone == normalize_phone(phone))
        except UserError:
            query = query.where(User.id.is_(None))
    rows, after = await repo.page(db, query, User.id, cursor, limit)
    return Page(items=await _drivers_out(db, caller, rows), next_cursor=after)


@router.get("/drivers/{driver_id}", response_model=DriverOut, tags=["people"])
async def get_driver(db: Db, caller: Caller, driver_id: DriverId) -> DriverOut:
    return (await _drivers_out(db, caller, [await repo.get_driver(db, caller, driver_id)]))[0]


def token_out(t: IdToken) -> IdTokenOut:
    return IdTokenOut(
        id=t.id,
        token=t.token,
        kind=t.kind,
        status=t.status,
        label=t.label,
        expires_at=t.expires_at,
        driver_id=t.user_id,
    )


@router.get("/id-tokens", response_model=Page[IdTokenOut], tags=["people"])
async def list_id_tokens(
    db: Db, caller: Caller, driver_id: OptionalId = None, cursor: Cursor = None, limit: Limit = 100
) -> Page[IdTokenOut]:
    """RFID tags and other id tokens of your members."""
    query = repo.id_tokens_query(caller)
    if driver_id is not None:
        await repo.get_driver(db, caller, driver_id)
        query = query.where(IdToken.user_id == driver_id)
    rows, after = await repo.page(db, query, IdToken.id, cursor, limit)
    return Page(items=[token_out(t) for t in rows], next_cursor=after)


@router.post("/id-tokens", response_model=IdTokenOut, status_code=201, tags=["people"])
async def create_id_token(db: Db, caller: Caller, body: IdTokenIn) -> IdTokenOut:
    """Give one of your members an RFID tag."""
    return token_out(await service.add_id_token(db, caller, body))


@router.get("/id-tokens/{token_id}", response_model=IdTokenOut, tags=["people"])
async def get_id_token(db: Db, caller: Caller, token_id: TokenId) -> IdTokenOut:
    return token_out(await repo.get_id_token(db, caller, token_id))


@router.patch("/id-tokens/{token_id}", response_model=IdTokenOut, tags=["people"])
async def update_id_token(
    db: Db, caller: Caller, token_id: TokenId, body: IdTokenPatch
) -> IdTokenOut:
    """Block or unblock a tag, change its label or expiry."""
    return token_out(await service.update_id_token(db, caller, token_id, body))
