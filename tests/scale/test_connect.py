"""Connecting is cheap: a charger whose password was verified once is checked again
without scrypt, also by a gateway that has just started (a reconnect storm)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from core.models import Charger
from ocpp_gateway import server
from tests.helpers import add_fleet, arrange, boot16, connect

PASSWORD = "a-charger-password-0123"


async def test_a_restarted_gateway_checks_a_known_password_without_scrypt(
    runtime, ocpp_url, monkeypatch
):
    await add_fleet(runtime, "PW-1", password=PASSWORD)
    async with connect(ocpp_url, "PW-1", password=PASSWORD) as cp:
        await cp.call(boot16())

    async def check(session):
        return await session.scalar(
            select(Charger.password_check).where(Charger.charge_point_id == "PW-1")
        )

    assert await arrange(runtime, check)
    # As after a restart: nothing in memory, and scrypt must not be needed.
    runtime.gateway._verified.clear()
    calls = []
    monkeypatch.setattr(server, "verify_password", lambda *a: calls.append(a) or False)
    async with connect(ocpp_url, "PW-1", password=PASSWORD) as cp:
        await cp.call(boot16())
    assert calls == []
    # A wrong password does not match the check: it goes to scrypt, and is refused.
    runtime.gateway._verified.clear()
    with pytest.raises(Exception, match="401"):
        async with connect(ocpp_url, "PW-1", password="not-the-password-at-all"):
            pass
    assert len(calls) == 1
