"""`ladeflyt contract add|revoke|list`: a driver's Plug & Charge contract from the console,
run in-process on a real database."""

from __future__ import annotations

import json

from sqlalchemy import select

from core.models import AuditEntry, ChargingContract, IdToken
from tests.ladeflyt.helpers import ok, query


def test_an_operator_adds_and_revokes_a_drivers_emaid_contract(ladeflyt, db_url):
    ok(ladeflyt("user", "add", "91000001", "--name", "Kari"))
    assert ok(ladeflyt("contract", "add", "91000001", "NO-LFT-C12345678-9")).startswith(
        "contract NOLFTC123456789 (driver 1): active"
    )
    code, _, err = ladeflyt("contract", "add", "91000001", "NO-LFT-C12345678-9")
    assert (code, err) == (2, "error: the eMAID NOLFTC123456789 is registered already\n")
    code, _, err = ladeflyt("contract", "add", "91999999", "NO-LFT-C12345678-8")
    assert (code, err) == (2, "error: no driver with phone 91999999\n")

    ok(ladeflyt("contract", "revoke", "no-lft-c12345678-9"))
    (listed,) = json.loads(ok(ladeflyt("contract", "list", "--phone", "91000001", "--json")))
    assert (listed["emaid"], listed["status"]) == ("NOLFTC123456789", "cancelled")
    assert query(db_url, select(IdToken.token, IdToken.kind, IdToken.status)) == [
        ("NOLFTC123456789", "contract", "blocked")
    ]
    assert [a for (a,) in query(db_url, select(AuditEntry.action).order_by(AuditEntry.id))][
        -2:
    ] == ["contract.create", "contract.revoke"]
    assert len(query(db_url, select(ChargingContract.id))) == 1
