"""CSMS-initiated commands through the CommandBus, translated per OCPP version."""

from __future__ import annotations

import asyncio

import pytest

from core import bus
from tests.helpers import add_fleet, boot16, connect


async def test_every_command_reaches_a_16_charger_in_its_shape(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    commands = runtime.gateway_ctx.commands
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        profile = {
            "chargingProfileId": 1,
            "stackLevel": 0,
            "chargingProfilePurpose": "TxDefaultProfile",
            "chargingProfileKind": "Absolute",
            "chargingSchedule": {
                "chargingRateUnit": "A",
                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": 16.0}],
            },
        }
        sent = [
            bus.RemoteStart(id_token="TAG-OK", evse_id=1),
            bus.RemoteStop(transaction_id="17"),
            bus.Reset(kind="hard"),
            bus.UnlockConnector(connector_id=1, evse_id=2),
            bus.ChangeAvailability(operative=False, evse_id=1),
            bus.TriggerMessage(message="StatusNotification", evse_id=1),
            bus.GetConfiguration(keys=("HeartbeatInterval",)),
            bus.SetConfiguration(key="HeartbeatInterval", value="600"),
            bus.SetChargingProfile(evse_id=1, profile=profile),
            bus.ClearChargingProfile(profile_id=1),
        ]
        results = [await commands.send("CP-1", c) for c in sent]
    assert all(r.accepted for r in results), results
    actions = [a for a, _ in cp.received]
    assert actions == [
        "RemoteStartTransaction",
        "RemoteStopTransaction",
        "Reset",
        "UnlockConnector",
        "ChangeAvailability",
        "TriggerMessage",
        "GetConfiguration",
        "ChangeConfiguration",
        "SetChargingProfile",
        "ClearChargingProfile",
    ]
    received = dict(cp.received)
    assert received["RemoteStartTransaction"] == {"id_tag": "TAG-OK", "connector_id": 1}
    assert received["RemoteStopTransaction"] == {"transaction_id": 17}
    assert received["Reset"] == {"type": "Hard"}
    assert received["ChangeAvailability"] == {"connector_id": 1, "type": "Inoperative"}
    assert results[6].payload["configuration_key"][0]["value"] == "300"


async def test_2x_charger_gets_request_start_and_get_variables(runtime, ocpp_url):
    await add_fleet(runtime, "EZ-1")
    commands = runtime.gateway_ctx.commands
    async with connect(ocpp_url, "EZ-1", "2.0.1") as cp:
        start = await commands.send(
            "EZ-1", bus.RemoteStart(id_token="TAG-OK", evse_id=1, remote_start_id=42)
        )
        config = await commands.send("EZ-1", bus.GetConfiguration(keys=("HeartbeatInterval",)))
        reset = await commands.send("EZ-1", bus.Reset())
    assert start.accepted and config.accepted and reset.accepted
    received = dict(cp.received)
    assert received["RequestStartTransaction"]["id_token"] == {
        "id_token": "TAG-OK",
        "type": "Central",
    }
    assert received["RequestStartTransaction"]["remote_start_id"] == 42
    assert received["Reset"] == {"type": "OnIdle"}


async def test_command_to_offline_charger_fails_fast(runtime):
    await add_fleet(runtime, "CP-1")
    with pytest.raises(bus.ChargerOffline):
        await asyncio.wait_for(runtime.gateway_ctx.commands.send("CP-1", bus.Reset()), timeout=1)


async def test_command_times_out_when_the_charger_does_not_answer(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        cp.answer_delay = 3
        with pytest.raises(bus.CommandTimeout):
            await runtime.gateway_ctx.commands.send("CP-1", bus.Reset(), timeout=0.5)


async def test_one_command_in_flight_second_gets_busy(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    commands = runtime.gateway_ctx.commands
    async with connect(ocpp_url, "CP-1") as cp:
        cp.answer_delay = 1.0
        first = asyncio.create_task(commands.send("CP-1", bus.Reset(), timeout=3))
        await asyncio.sleep(0.2)
        with pytest.raises(bus.ChargerBusy):
            await commands.send("CP-1", bus.Reset(), timeout=0.3)
        assert (await first).accepted
    assert [a for a, _ in cp.received] == ["Reset"]


async def test_rejected_command_reports_the_chargers_status(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        cp.answer_status = "Rejected"
        result = await runtime.gateway_ctx.commands.send("CP-1", bus.RemoteStart(id_token="X"))
    assert result.status == "Rejected" and not result.accepted


async def test_malformed_charging_profile_is_refused_before_sending(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        with pytest.raises(bus.CommandInvalid):
            await runtime.gateway_ctx.commands.send(
                "CP-1", bus.SetChargingProfile(evse_id=1, profile={"nonsense": True})
            )
    assert cp.received == []
