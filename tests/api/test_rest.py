"""Operator REST API through the real ASGI app, with a real gateway and charger behind it."""

from __future__ import annotations

import httpx
import pytest

from api.app import create_app
from api.deps import Services
from ladeflyt.contracts import contracts
from tests.helpers import add_fleet, boot16, connect

AUTH = {"Authorization": "Bearer test-operator-token"}


@pytest.fixture
async def client(runtime):
    ctx = runtime.gateway_ctx
    app = create_app(Services(runtime.settings, ctx.sessions, ctx.commands))
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        yield c


def test_checked_in_contracts_match_the_code():
    for path, text in contracts().items():
        assert path.read_text() == text, f"{path.name} drifted from the code: run `make contracts`"


async def test_healthz_reports_database_and_connections(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "chargers_connected": 0}


async def test_operator_endpoints_need_the_token(client, runtime):
    assert (await client.get("/api/chargers")).status_code == 401
    bad = await client.get("/api/chargers", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    runtime.settings.operator_token = ""
    disabled = await client.get("/api/chargers", headers=AUTH)
    assert disabled.status_code == 404


async def test_chargers_and_sessions_are_listed(client, runtime, ocpp_url):
    await add_fleet(runtime, "CP-1", "CP-2")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        from ocpp.v16 import call as call16

        await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG-OK", meter_start=0, timestamp="2026-11-29T08:00:00Z"
            )
        )
        chargers = (await client.get("/api/chargers", headers=AUTH)).json()
        assert [c["charge_point_id"] for c in chargers] == ["CP-1", "CP-2"]
        assert chargers[0]["online"] is True and chargers[1]["online"] is False
        assert [k["evse_id"] for k in chargers[0]["connectors"]] == [1, 2]
        one = await client.get("/api/chargers/CP-1", headers=AUTH)
        assert one.json()["vendor"] == "Zaptec"
        sessions = (await client.get("/api/sessions?active=true", headers=AUTH)).json()
        assert len(sessions) == 1 and sessions[0]["charger_id"] == "CP-1"
    assert (await client.get("/api/chargers/NOPE", headers=AUTH)).status_code == 404


async def test_command_endpoint_answers_per_outcome(client, runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    offline = await client.post(
        "/api/chargers/CP-1/commands", headers=AUTH, json={"command": "reset", "kind": "soft"}
    )
    assert offline.status_code == 409
    async with connect(ocpp_url, "CP-1") as cp:
        ok = await client.post(
            "/api/chargers/CP-1/commands",
            headers=AUTH,
            json={"command": "remote_start", "id_token": "TAG-OK", "evse_id": 1},
        )
        assert ok.status_code == 200
        assert ok.json() == {"status": "Accepted", "accepted": True, "payload": {}}
        assert cp.received[0][0] == "RemoteStartTransaction"
        invalid = await client.post(
            "/api/chargers/CP-1/commands",
            headers=AUTH,
            json={"command": "set_charging_profile", "evse_id": 1, "profile": {"bogus": 1}},
        )
        assert invalid.status_code == 422
    unknown = await client.post(
        "/api/chargers/CP-1/commands", headers=AUTH, json={"command": "self_destruct"}
    )
    assert unknown.status_code == 422
