"""`ladeflyt contract add|revoke|list`: drivers' Plug & Charge contracts (eMAID), the
operator's side of /api/v1/contracts (same rules and audit, core.identity.contracts)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.identity import contracts
from core.identity.contracts import ContractIn, ContractOut, contract_out
from core.models import ChargingContract
from core.orgs.errors import NotFound
from core.users.service import get_user_by_phone
from ladeflyt.console import cli_actor, in_transaction


async def _driver_id(session: AsyncSession, phone: str) -> int:
    user = await get_user_by_phone(session, phone)
    if user is None:
        raise NotFound(f"no driver with phone {phone}")
    return user.id


def _show(c: ContractOut) -> str:
    until = f", certificate until {c.not_after:%Y-%m-%d}" if c.not_after else ""
    return f"{c.emaid} (driver {c.driver_id}): {c.status}{until}"


def cmd_add(args: argparse.Namespace, settings: Settings) -> None:
    pem = Path(args.certificate).read_text() if args.certificate else None

    async def work(session: AsyncSession) -> ContractOut:
        data = ContractIn(
            driver_id=await _driver_id(session, args.phone), emaid=args.emaid, certificate=pem
        )
        return contract_out(await contracts.add_contract(session, cli_actor(), data))

    print(f"contract {_show(in_transaction(settings, work))}")


def cmd_revoke(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> ContractOut:
        actor = cli_actor()
        found = await contracts.find_contract(session, actor, args.emaid)
        return contract_out(await contracts.revoke_contract(session, actor, found))

    print(f"contract {_show(in_transaction(settings, work))}")


def cmd_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[ContractOut]:
        query = contracts.contracts_query(cli_actor()).order_by(ChargingContract.id)
        if args.phone:
            query = query.where(ChargingContract.user_id == await _driver_id(session, args.phone))
        return [contract_out(c) for c in (await session.execute(query)).scalars()]

    rows = in_transaction(settings, work)
    if args.json:
        print(json.dumps([r.model_dump(mode="json") for r in rows], indent=2))
        return
    for row in rows:
        print(_show(row))


def register(sub: Any) -> None:
    group = sub.add_parser("contract", help="Plug & Charge contracts (eMAID) of drivers")
    cmds = group.add_subparsers(dest="contract_command", required=True)
    p = cmds.add_parser("add", help="give a driver a contract: the car's eMAID starts sessions")
    p.add_argument("phone", help="the driver's phone")
    p.add_argument("emaid", help="e.g. NO-LFT-C12345678-9")
    p.add_argument("--certificate", metavar="PEM", help="the contract certificate, if sent")
    p.set_defaults(func=cmd_add)
    p = cmds.add_parser("revoke", help="cancel a contract (the car is refused from now on)")
    p.add_argument("emaid")
    p.set_defaults(func=cmd_revoke)
    p = cmds.add_parser("list", help="contracts, oldest first")
    p.add_argument("--phone", help="only this driver's")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_list)
