"""/api/v1: drivers' Plug & Charge contracts (eMAID), added and revoked like their tags."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from api.v1.deps import Caller, Cursor, Db, Limit, OptionalId, id_path
from core.identity import contracts as service
from core.identity.contracts import ContractIn, ContractOut, contract_out
from core.models import ChargingContract
from core.orgs import repository as repo
from core.orgs.schemas import Page

ContractId = Annotated[int, id_path("contract")]

router = APIRouter()


@router.get("/contracts", response_model=Page[ContractOut], tags=["people"])
async def list_contracts(
    db: Db, caller: Caller, driver_id: OptionalId = None, cursor: Cursor = None, limit: Limit = 100
) -> Page[ContractOut]:
    """Plug & Charge contracts of your members."""
    query = service.contracts_query(caller)
    if driver_id is not None:
        await repo.get_driver(db, caller, driver_id)
        query = query.where(ChargingContract.user_id == driver_id)
    rows, after = await repo.page(db, query, ChargingContract.id, cursor, limit)
    return Page(items=[contract_out(c) for c in rows], next_cursor=after)


@router.post("/contracts", response_model=ContractOut, status_code=201, tags=["people"])
async def create_contract(db: Db, caller: Caller, body: ContractIn) -> ContractOut:
    """Give one of your members a Plug & Charge contract: their car's eMAID then starts
    sessions billed to them."""
    return contract_out(await service.add_contract(db, caller, body))


@router.get("/contracts/{contract_id}", response_model=ContractOut, tags=["people"])
async def get_contract(db: Db, caller: Caller, contract_id: ContractId) -> ContractOut:
    return contract_out(await service.get_contract(db, caller, contract_id))


@router.post("/contracts/{contract_id}/revoke", response_model=ContractOut, tags=["people"])
async def revoke_contract(db: Db, caller: Caller, contract_id: ContractId) -> ContractOut:
    """Cancel the contract: the car is refused (ContractCancelled) from now on."""
    contract = await service.get_contract(db, caller, contract_id)
    return contract_out(await service.revoke_contract(db, caller, contract))
