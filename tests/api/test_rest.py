"""Operator REST API (/api/v1) through the real ASGI app, with a real gateway and charger
behind it, called with an API key as scripts do."""

from __future__ import annotations

import pytest
from ocpp.v16 import call as call16

from core.models import Role
from core.orgs import apikeys
from core.orgs.schemas import ApiKeyIn
from core.orgs.scope import Actor
from ladeflyt.contracts import contracts
from tests.helpers import add_fleet, arrange, boot16, connect


@pytest.fixture
async def auth(runtime) -> dict[str, str]:
    async def work(s):
        return await apikeys.create_key(s, Actor.cli(), ApiKeyIn(role=Role.OPERATOR_ADMIN))

    created = await arrange(runtime, work)
    return {"Authorization": f"Bearer {created.key}"}


def test_checked_in_contracts_match_the_code():
    for path, text in contracts().items():
        assert path.read_text() == text, f"{path.name} drifted from the code: run `make contracts`"


async def test_healthz_reports_database_and_connections(client):
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "chargers_connected": 0}


async def test_operator_endpoints_need_a_key_and_the_old_routes_are_gone(client, auth):
    missing = await client.get("/api/v1/chargers")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 401
    bad = await client.get("/api/v1/chargers", headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert (await client.get("/api/chargers", headers=auth)).status_code == 404


async def test_chargers_and_sessions_are_listed_with_paging(client, runtime, ocpp_url, auth):
    await add_fleet(runtime, "CP-1", "CP-2", "CP-3")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG-OK", meter_start=0, timestamp="2026-11-29T08:00:00Z"
            )
        )
        page = (await client.get("/api/v1/chargers?limit=2", headers=auth)).json()
        assert [c["charge_point_id"] for c in page["items"]] == ["CP-1", "CP-2"]
        assert page["items"][0]["online"] is True and page["items"][1]["online"] is False
        assert [k["evse_id"] for k in page["items"][0]["connectors"]] == [1, 2]
        rest = await client.get(f"/api/v1/chargers?cursor={page['next_cursor']}", headers=auth)
        assert [c["charge_point_id"] for c in rest.json()["items"]] == ["CP-3"]
        assert rest.json()["next_cursor"] is None
        one = await client.get(f"/api/v1/chargers/{page['items'][0]['id']}", headers=auth)
        assert one.json()["vendor"] == "Zaptec"
        sessions = (await client.get("/api/v1/sessions?status=active", headers=auth)).json()
        assert [s["charge_point_id"] for s in sessions["items"]] == ["CP-1"]
    missing = await client.get("/api/v1/chargers/999999", headers=auth)
    assert missing.status_code == 404 and missing.json()["title"] == "Not found"
    bad_cursor = await client.get("/api/v1/chargers?cursor=not-a-cursor", headers=auth)
    assert bad_cursor.status_code == 422


async def test_command_endpoint_answers_per_outcome(client, runtime, ocpp_url, auth):
    await add_fleet(runtime, "CP-1")
    charger = (await client.get("/api/v1/chargers", headers=auth)).json()["items"][0]["id"]
    url = f"/api/v1/chargers/{charger}/commands"
    offline = await client.post(url, headers=auth, json={"command": "reset", "kind": "soft"})
    assert offline.status_code == 409
    assert offline.json()["type"] == "https://ladeflyt.no/problems/charger_offline"
    async with connect(ocpp_url, "CP-1") as cp:
        ok = await client.post(
            url, headers=auth, json={"command": "remote_start", "id_token": "TAG-OK", "evse_id": 1}
        )
        assert ok.status_code == 200
        assert ok.json() == {"status": "Accepted", "accepted": True, "payload": {}}
        assert cp.received[0][0] == "RemoteStartTransaction"
        invalid = await client.post(
            url,
            headers=auth,
            json={"command": "set_charging_profile", "evse_id": 1, "profile": {"bogus": 1}},
        )
        assert invalid.status_code == 422
    unknown = await client.post(url, headers=auth, json={"command": "self_destruct"})
    assert unknown.status_code == 422
    assert unknown.json()["errors"]
    audit = (await client.get("/api/v1/audit", headers=auth)).json()["items"]
    assert [a["after"]["command"] for a in audit if a["action"] == "charger.command"] == [
        "SetChargingProfile",
        "RemoteStart",
        "Reset",
    ]
