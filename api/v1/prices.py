"""/api/v1: tariffs and where they apply (a group, at a site or charger, for a period)."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlalchemy import select

from api.v1.deps import AssignmentId, Caller, Cursor, Db, Limit, OptionalId, TariffId
from core.models import Charger, Tariff, TariffAssignment
from core.orgs import prices
from core.orgs import repository as repo
from core.orgs.schemas import (
    AssignmentIn,
    AssignmentOut,
    Page,
    TariffComponentIn,
    TariffIn,
    TariffOut,
)

router = APIRouter()


@router.get("/tariffs", response_model=Page[TariffOut], tags=["prices"])
async def list_tariffs(
    db: Db, caller: Caller, cursor: Cursor = None, limit: Limit = 100
) -> Page[TariffOut]:
    """Your organisations' tariffs and any tariff in force at your sites."""
    rows, after = await repo.page(db, repo.tariffs_query(caller), Tariff.id, cursor, limit)
    return Page(items=[prices.tariff_out(t) for t in rows], next_cursor=after)


@router.post("/tariffs", response_model=TariffOut, status_code=201, tags=["prices"])
async def create_tariff(db: Db, caller: Caller, body: TariffIn) -> TariffOut:
    """A tariff of one of your organisations (prices excl. VAT, øre per unit)."""
    return prices.tariff_out(await prices.create_tariff(db, caller, body))


@router.get("/tariffs/{tariff_id}", response_model=TariffOut, tags=["prices"])
async def get_tariff(db: Db, caller: Caller, tariff_id: TariffId) -> TariffOut:
    return prices.tariff_out(await repo.get_tariff(db, caller, tariff_id))


@router.post(
    "/tariffs/{tariff_id}/components", response_model=TariffOut, status_code=201, tags=["prices"]
)
async def add_component(
    db: Db, caller: Caller, tariff_id: TariffId, body: TariffComponentIn
) -> TariffOut:
    """Add a price component; a tariff that has priced sessions cannot change (409)."""
    return prices.tariff_out(await prices.add_component(db, caller, tariff_id, body))


@router.get("/tariff-assignments", response_model=Page[AssignmentOut], tags=["prices"])
async def list_assignments(
    db: Db,
    caller: Caller,
    site_id: OptionalId = None,
    tariff_id: OptionalId = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[AssignmentOut]:
    query = repo.assignments_query(caller)
    if site_id is not None:
        await repo.get_site(db, caller, site_id)
        at_site = select(Charger.id).where(Charger.site_id == site_id)
        query = query.where(
            (TariffAssignment.site_id == site_id) | TariffAssignment.charger_id.in_(at_site)
        )
    if tariff_id is not None:
        query = query.where(TariffAssignment.tariff_id == tariff_id)
    rows, after = await repo.page(db, query, TariffAssignment.id, cursor, limit)
    return Page(items=[prices.assignment_out(a) for a in rows], next_cursor=after)


@router.post("/tariff-assignments", response_model=AssignmentOut, status_code=201, tags=["prices"])
async def create_assignment(db: Db, caller: Caller, body: AssignmentIn) -> AssignmentOut:
    """Make a tariff the price for a group at one of your sites or chargers from
    `valid_from` (default now); what applied there before ends then."""
    return prices.assignment_out(await prices.create_assignment(db, caller, body))


@router.delete("/tariff-assignments/{assignment_id}", status_code=204, tags=["prices"])
async def end_assignment(db: Db, caller: Caller, assignment_id: AssignmentId) -> Response:
    """End it now (one that has not started yet is deleted)."""
    await prices.end_assignment(db, caller, assignment_id)
    return Response(status_code=204)
