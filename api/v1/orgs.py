"""/api/v1: organisations, their groups and sites."""

from __future__ import annotations

from fastapi import APIRouter

from api.v1.deps import Caller, Cursor, Db, Limit, OptionalId, OrgId, SiteId
from core.models import Organisation, Site
from core.orgs import repository as repo
from core.orgs import service
from core.orgs.schemas import (
    GroupIn,
    GroupOut,
    OrganisationIn,
    OrganisationOut,
    OrganisationPatch,
    Page,
    SiteIn,
    SiteOut,
    SitePatch,
)

router = APIRouter()


@router.get("/organisations", response_model=Page[OrganisationOut], tags=["organisations"])
async def list_organisations(
    db: Db, caller: Caller, cursor: Cursor = None, limit: Limit = 100
) -> Page[OrganisationOut]:
    rows, after = await repo.page(
        db, repo.organisations_query(caller), Organisation.id, cursor, limit
    )
    return Page(items=[OrganisationOut.model_validate(r) for r in rows], next_cursor=after)


@router.post(
    "/organisations", response_model=OrganisationOut, status_code=201, tags=["organisations"]
)
async def create_organisation(db: Db, caller: Caller, body: OrganisationIn) -> OrganisationOut:
    """Operator admins only."""
    return OrganisationOut.model_validate(await service.create_organisation(db, caller, body))


@router.get("/organisations/{org_id}", response_model=OrganisationOut, tags=["organisations"])
async def get_organisation(db: Db, caller: Caller, org_id: OrgId) -> OrganisationOut:
    return OrganisationOut.model_validate(await repo.get_organisation(db, caller, org_id))


@router.patch("/organisations/{org_id}", response_model=OrganisationOut, tags=["organisations"])
async def update_organisation(
    db: Db, caller: Caller, org_id: OrgId, body: OrganisationPatch
) -> OrganisationOut:
    org = await service.update_organisation(db, caller, org_id, body)
    return OrganisationOut.model_validate(org)


@router.get("/organisations/{org_id}/groups", response_model=list[GroupOut], tags=["organisations"])
async def list_groups(db: Db, caller: Caller, org_id: OrgId) -> list[GroupOut]:
    """The customer groups members can have here: the built-in ones and the organisation's."""
    return await service.list_groups(db, caller, org_id)


@router.post(
    "/organisations/{org_id}/groups",
    response_model=GroupOut,
    status_code=201,
    tags=["organisations"],
)
async def add_group(db: Db, caller: Caller, org_id: OrgId, body: GroupIn) -> GroupOut:
    return await service.add_group(db, caller, org_id, body)


@router.get("/sites", response_model=Page[SiteOut], tags=["sites"])
async def list_sites(
    db: Db,
    caller: Caller,
    organisation_id: OptionalId = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[SiteOut]:
    query = repo.sites_query(caller)
    if organisation_id is not None:
        await repo.get_organisation(db, caller, organisation_id)
        query = query.where(Site.organisation_id == organisation_id)
    rows, after = await repo.page(db, query, Site.id, cursor, limit)
    return Page(items=[SiteOut.model_validate(r) for r in rows], next_cursor=after)


@router.post("/sites", response_model=SiteOut, status_code=201, tags=["sites"])
async def create_site(db: Db, caller: Caller, body: SiteIn) -> SiteOut:
    return SiteOut.model_validate(await service.create_site(db, caller, body))


@router.get("/sites/{site_id}", response_model=SiteOut, tags=["sites"])
async def get_site(db: Db, caller: Caller, site_id: SiteId) -> SiteOut:
    return SiteOut.model_validate(await repo.get_site(db, caller, site_id))


@router.patch("/sites/{site_id}", response_model=SiteOut, tags=["sites"])
async def update_site(db: Db, caller: Caller, site_id: SiteId, body: SitePatch) -> SiteOut:
    return SiteOut.model_validate(await service.update_site(db, caller, site_id, body))
