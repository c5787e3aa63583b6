"""Plug & Charge contracts as the operator and organisation admins manage them: a driver's
eMAID added (with its contract certificate, if the mobility operator sent one) or revoked,
scoped and audited like the driver's RFID tags (core.orgs). Revoking keeps the contract
on record, cancelled: the car is then refused with ContractCancelled (core.identity.pnc)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field
from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.identity import pnc
from core.identity.tokens import normalize_emaid
from core.models import ChargingContract, IdToken, User
from core.orgs import repository as repo
from core.orgs.audit import record, snapshot
from core.orgs.errors import Conflict, Invalid, NotFound
from core.orgs.schemas import Id, _In, _Out
from core.orgs.scope import Actor
from core.orgs.service import require_driver_write
from core.pki import certs
from core.users.service import UserError

_AUDITED = ("certificate_pem",)  # the certificate is public but long: its serial is logged


class ContractIn(_In):
    driver_id: Id
    emaid: Annotated[str, Field(min_length=14, max_length=24, pattern=r"^[0-9A-Za-z-]+$")] = Field(
        description="e.g. NO-LFT-C12345678-9 (dashes are ignored)"
    )
    certificate: Annotated[str | None, Field(max_length=10_000)] = Field(
        default=None, description="The contract certificate (PEM), if the MO sent it."
    )


class ContractOut(_Out):
    id: int
    driver_id: int
    emaid: str
    status: Literal["active", "cancelled"]
    serial_number: str | None
    not_after: datetime | None
    created_at: datetime


def contract_out(c: ChargingContract) -> ContractOut:
    return ContractOut(
        id=c.id,
        driver_id=c.user_id,
        emaid=c.emaid,
        status=c.status,  # type: ignore[arg-type]
        serial_number=c.serial_number,
        not_after=c.not_after,
        created_at=c.created_at,
    )


def contracts_query(actor: Actor) -> Select[ChargingContract]:
    """Contracts of drivers who are members of the actor's organisations."""
    drivers = repo.drivers_query(actor).with_only_columns(User.id)
    return select(ChargingContract).where(ChargingContract.user_id.in_(drivers))


async def get_contract(session: AsyncSession, actor: Actor, contract_id: int) -> ChargingContract:
    found = (
        await session.execute(contracts_query(actor).where(ChargingContract.id == contract_id))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"contract {contract_id} not found")
    return found


async def find_contract(session: AsyncSession, actor: Actor, emaid: str) -> ChargingContract:
    value = normalize_emaid(emaid)
    found = (
        await session.execute(contracts_query(actor).where(ChargingContract.emaid == value))
    ).scalar_one_or_none()
    if found is None:
        raise NotFound(f"contract {value} not found")
    return found


def _logged(c: ChargingContract) -> dict[str, object] | None:
    shown = snapshot(c)
    return {k: v for k, v in shown.items() if k not in _AUDITED} if shown else None


async def add_contract(session: AsyncSession, actor: Actor, data: ContractIn) -> ChargingContract:
    user = await repo.get_driver(session, actor, data.driver_id)
    org_id = await require_driver_write(session, actor, user.id)
    emaid = normalize_emaid(data.emaid)
    taken = await session.execute(select(IdToken.id).where(IdToken.token == emaid))
    if taken.first() is not None or await pnc.contract_by_emaid(session, emaid) is not None:
        raise Conflict(f"the eMAID {emaid} is registered already")
    if data.certificate and not certs.load_chain(data.certificate):
        raise Invalid("certificate: no PEM certificate in it")
    try:
        contract = await pnc.add_contract(session, user, emaid, data.certificate)
    except UserError as error:
        raise Invalid(str(error)) from None
    await record(
        session, actor, "contract.create", "contract", contract.id, org_id, after=_logged(contract)
    )
    return contract


async def revoke_contract(
    session: AsyncSession, actor: Actor, contract: ChargingContract
) -> ChargingContract:
    """Cancel the contract and block its token (kept on record; repeating is harmless)."""
    org_id = await require_driver_write(session, actor, contract.user_id)
    before = _logged(contract)
    await pnc.cancel_contract(session, contract.emaid)
    await record(
        session,
        actor,
        "contract.revoke",
        "contract",
        contract.id,
        org_id,
        before=before,
        after=_logged(contract),
    )
    return contract
