"""OCPP 2.1 discharge limits: an operator's set_v2x_limits command becomes a
SetChargingProfile with `dischargeLimit` and a CentralSetpoint, checked against the 2.1
schema by the ocpp library on both ends of a real websocket."""

from __future__ import annotations

from typing import Any

import pytest
from ocpp.routing import on
from ocpp.v21 import ChargePoint as CP21
from ocpp.v21 import call_result as result21

from core.models import Role
from core.orgs import apikeys
from core.orgs.schemas import ApiKeyIn
from core.orgs.scope import Actor
from core.power.v2x import V2xError, V2xPeriod, bidirectional_profile
from tests.helpers import add_fleet, arrange, connect
from tests.ocpp_gateway.test_v201 import boot


class Charger21(CP21):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []

    @on("SetChargingProfile")
    async def on_set_profile(self, **kwargs: Any) -> Any:
        self.received.append(("SetChargingProfile", kwargs))
        return result21.SetChargingProfile(status="Accepted")


def test_a_profile_gives_back_at_most_the_discharge_limit():
    profile = bidirectional_profile(
        7, [V2xPeriod(0, 11_000, 7_000), V2xPeriod(900, 11_000, 0)], transaction_id="tx-1"
    )
    assert profile["chargingProfilePurpose"] == "TxProfile"
    assert profile["chargingSchedule"][0]["chargingSchedulePeriod"] == [
        {
            "startPeriod": 0,
            "limit": 11_000,
            "dischargeLimit": -7_000,
            "setpoint": -7_000,
            "operationMode": "CentralSetpoint",
        },
        {
            "startPeriod": 900,
            "limit": 11_000,
            "dischargeLimit": 0,
            "setpoint": 11_000,
            "operationMode": "CentralSetpoint",
        },
    ]
    with pytest.raises(V2xError):
        bidirectional_profile(1, [V2xPeriod(0, 11_000, 3_000, setpoint_w=-5_000)])
    with pytest.raises(V2xError):
        bidirectional_profile(1, [V2xPeriod(60, 11_000, 3_000)])


async def test_the_operator_sets_discharge_limits_on_a_21_charger(runtime, ocpp_url, client):
    await add_fleet(runtime, "V2X-1")

    async def key(s):
        return await apikeys.create_key(s, Actor.cli(), ApiKeyIn(role=Role.OPERATOR_ADMIN))

    auth = {"Authorization": f"Bearer {(await arrange(runtime, key)).key}"}
    charger = (await client.get("/api/v1/chargers", headers=auth)).json()["items"][0]["id"]
    url = f"/api/v1/chargers/{charger}/commands"
    command = {
        "command": "set_v2x_limits",
        "evse_id": 1,
        "charge_limit_w": 11_000,
        "discharge_limit_w": 5_000,
        "setpoint_w": -4_000,
        "duration_s": 900,
    }
    async with connect(ocpp_url, "V2X-1", "2.1", charger_class=Charger21) as cp:
        await cp.call(boot())
        answer = await client.post(url, headers=auth, json=command)
        assert answer.status_code == 200, answer.text
        assert answer.json()["accepted"] is True
        bad = await client.post(url, headers=auth, json={**command, "setpoint_w": -6_000})
        assert bad.status_code == 422
    ((action, sent),) = cp.received
    assert action == "SetChargingProfile" and sent["evse_id"] == 1
    (schedule,) = sent["charging_profile"]["charging_schedule"]
    assert (schedule["duration"], schedule["charging_schedule_period"]) == (
        900,
        [
            {
                "start_period": 0,
                "limit": 11_000,
                "discharge_limit": -5_000,
                "setpoint": -4_000,
                "operation_mode": "CentralSetpoint",
            }
        ],
    )
    assert sent["charging_profile"]["charging_profile_purpose"] == "TxDefaultProfile"
