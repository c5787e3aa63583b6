"""Bad frames get the spec's CALLERROR for the connection's OCPP version; the socket stays up."""

from __future__ import annotations

import pytest

from tests.helpers import add_fleet, raw, send_raw

BOOT16 = {"chargePointVendor": "Zaptec", "chargePointModel": "Go"}
BOOT201 = {"chargingStation": {"vendorName": "Zaptec", "model": "Go"}, "reason": "PowerUp"}


async def _still_alive(ws, protocol: str) -> None:
    payload = BOOT16 if protocol == "1.6" else BOOT201
    answer = await send_raw(ws, [2, "alive", "BootNotification", payload])
    assert answer[0] == 3 and answer[1] == "alive"


@pytest.mark.parametrize(
    ("protocol", "frame", "expected"),
    [
        # Unparseable: answered (the ocpp package would stay silent), id recovered if possible.
        ("1.6", '[2, "m1", "Heartbeat", {', [4, "m1", "FormationViolation"]),
        ("2.0.1", '[2, "m1", "Heartbeat", {', [4, "m1", "RpcFrameworkError"]),
        ("2.0.1", "not json at all", [4, "-1", "RpcFrameworkError"]),
        ("1.6", '{"an": "object"}', [4, "-1", "FormationViolation"]),
        ("2.0.1", '[7, "m2", "Heartbeat", {}]', [4, "m2", "MessageTypeNotSupported"]),
        # Unknown action: NotImplemented, not the package's NotSupported.
        ("1.6", '[2, "m3", "MakeCoffee", {}]', [4, "m3", "NotImplemented"]),
        ("2.0.1", '[2, "m3", "MakeCoffee", {}]', [4, "m3", "NotImplemented"]),
        # Known to the version but not something a charger sends to a CSMS.
        ("1.6", '[2, "m4", "RemoteStartTransaction", {"idTag": "x"}]', [4, "m4", "NotSupported"]),
        # Schema violations, spelled per version.
        ("1.6", '[2, "m5", "Authorize", {}]', [4, "m5", "ProtocolError"]),
        ("2.0.1", '[2, "m5", "Authorize", {}]', [4, "m5", "OccurrenceConstraintViolation"]),
        ("1.6", '[2, "m6", "Authorize", {"idTag": 42}]', [4, "m6", "TypeConstraintViolation"]),
        (
            "1.6",
            '[2, "m7", "Authorize", {"idTag": "x", "extra": 1}]',
            [4, "m7", "FormationViolation"],
        ),
        ("2.0.1", '[2, "m7", "Heartbeat", {"extra": 1}]', [4, "m7", "FormatViolation"]),
        (
            "1.6",
            '[2, "m8", "Authorize", {"idTag": "' + "x" * 21 + '"}]',
            [4, "m8", "PropertyConstraintViolation"],
        ),
        (
            "1.6",
            '[2, "m9", "StatusNotification", {"connectorId": 1, "errorCode": "NoError",'
            ' "status": "Dancing"}]',
            [4, "m9", "PropertyConstraintViolation"],
        ),
        (
            "1.6",
            '[2, "m10", "MeterValues", {"connectorId": 1, "meterValue": []}]',
            [4, "m10", "OccurenceConstraintViolation"],
        ),
        (
            "2.0.1",
            '[2, "m10", "MeterValues", {"evseId": 1, "meterValue": []}]',
            [4, "m10", "OccurrenceConstraintViolation"],
        ),
    ],
)
async def test_bad_frame_gets_spec_error_code_and_connection_stays_up(
    runtime, ocpp_url, protocol, frame, expected
):
    await add_fleet(runtime, "CP-1")
    async with raw(ocpp_url, "CP-1", protocol) as ws:
        answer = await send_raw(ws, frame)
        assert answer[:3] == expected
        assert isinstance(answer[3], str) and isinstance(answer[4], dict)
        await _still_alive(ws, protocol)


@pytest.mark.parametrize("protocol", ["1.6", "2.0.1"])
async def test_oversized_frame_is_refused_and_connection_stays_up(runtime, ocpp_url, protocol):
    await add_fleet(runtime, "CP-1")
    big = '[2, "big1", "DataTransfer", {"vendorId": "x", "data": "' + "A" * 100_000 + '"}]'
    async with raw(ocpp_url, "CP-1", protocol) as ws:
        answer = await send_raw(ws, big)
        code = "FormationViolation" if protocol == "1.6" else "FormatViolation"
        assert answer[:3] == [4, "big1", code]
        await _still_alive(ws, protocol)


async def test_messages_before_acceptance_get_security_error(runtime, ocpp_url, settings):
    settings.ocpp_accept_unknown = True
    async with raw(ocpp_url, "NEW-ONE", "1.6") as ws:
        boot = await send_raw(ws, [2, "b", "BootNotification", BOOT16])
        assert boot[2]["status"] == "Pending"
        answer = await send_raw(ws, [2, "a", "Authorize", {"idTag": "TAG"}])
        assert answer[:3] == [4, "a", "SecurityError"]
        heartbeat = await send_raw(ws, [2, "h", "Heartbeat", {}])
        assert heartbeat[0] == 3
