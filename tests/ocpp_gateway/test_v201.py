"""OCPP 2.0.1 (and 2.1) over real websockets: TransactionEvent ordering, replays, reports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from ocpp.v201 import call as call201
from sqlalchemy import func, select

from core.models import (
    ChargerEvent,
    ChargerVariable,
    ChargingSession,
    Connector,
    MeterSample,
    TransactionEventRecord,
)
from core.timeutil import format_ocpp_datetime
from tests.helpers import add_fleet, arrange, connect, raw, send_raw


def ts(offset_s: float = 0) -> str:
    return format_ocpp_datetime(datetime.now(UTC) + timedelta(seconds=offset_s))


def boot() -> call201.BootNotification:
    return call201.BootNotification(
        charging_station={
            "vendor_name": "Easee",
            "model": "Charge",
            "serial_number": "EZ1",
            "firmware_version": "5.1",
        },
        reason="PowerUp",
    )


def energy(wh: float, at: str, *, kw: float | None = None, soc: int | None = None) -> list[dict]:
    sampled: list[dict] = [
        {
            "value": wh / 1000,
            "measurand": "Energy.Active.Import.Register",
            "unit_of_measure": {"unit": "kWh"},
        }
    ]
    if kw is not None:
        sampled.append(
            {
                "value": kw,
                "measurand": "Power.Active.Import",
                "unit_of_measure": {"unit": "W", "multiplier": 3},
            }
        )
    if soc is not None:
        sampled.append({"value": soc, "measurand": "SoC", "unit_of_measure": {"unit": "Percent"}})
    return [{"timestamp": at, "sampled_value": sampled}]


def event(kind: str, seq: int, at: str, tx: str = "tx-1", **kw) -> call201.TransactionEvent:
    return call201.TransactionEvent(
        event_type=kind,
        timestamp=at,
        seq_no=seq,
        trigger_reason=kw.pop(
            "trigger",
            "MeterValuePeriodic"
            if kind == "Updated"
            else "Authorized"
            if kind == "Started"
            else "EVCommunicationLost",
        ),
        transaction_info={"transaction_id": tx, **kw.pop("info", {})},
        **kw,
    )


async def _session(runtime, tx: str = "tx-1") -> ChargingSession:
    async def work(s):
        return (
            await s.execute(select(ChargingSession).where(ChargingSession.transaction_id == tx))
        ).scalar_one()

    return await arrange(runtime, work)


@pytest.mark.parametrize("protocol", ["2.0.1", "2.1"])
async def test_full_transaction_energy_is_last_register_minus_first(runtime, ocpp_url, protocol):
    await add_fleet(runtime, "EZ-1")
    async with (
        connect(ocpp_url, "EZ-1", "2.0.1")
        if protocol == "2.0.1"
        else raw(ocpp_url, "EZ-1", "2.1") as cp
    ):
        if protocol == "2.1":
            ok = await send_raw(
                cp,
                [
                    2,
                    "1",
                    "BootNotification",
                    {
                        "chargingStation": {"vendorName": "Easee", "model": "Charge"},
                        "reason": "PowerUp",
                    },
                ],
            )
            assert ok[2]["status"] == "Accepted"
            frames = [
                [
                    "Started",
                    0,
                    ts(-600),
                    20_000,
                    11.0,
                    "Authorized",
                    {"idToken": "TAG-OK", "type": "ISO14443"},
                ],
                ["Updated", 1, ts(-300), 21_000, 11.0, "MeterValuePeriodic", None],
                ["Ended", 2, ts(-1), 22_250, 0.0, "EVCommunicationLost", None],
            ]
            for kind, seq, at, wh, kw, trig, token in frames:
                payload = {
                    "eventType": kind,
                    "timestamp": at,
                    "seqNo": seq,
                    "triggerReason": trig,
                    "transactionInfo": {"transactionId": "tx-1"},
                    "evse": {"id": 1, "connectorId": 1},
                    "meterValue": [
                        {
                            "timestamp": at,
                            "sampledValue": [
                                {"value": wh, "measurand": "Energy.Active.Import.Register"},
                                {
                                    "value": kw * 1000,
                                    "measurand": "Power.Active.Import",
                                    "unitOfMeasure": {"unit": "W"},
                                },
                            ],
                        }
                    ],
                }
                if token:
                    payload["idToken"] = token
                answer = await send_raw(cp, [2, f"te{seq}", "TransactionEvent", payload])
                assert answer[0] == 3, answer
        else:
            assert (await cp.call(boot())).status == "Accepted"
            started = await cp.call(
                event(
                    "Started",
                    0,
                    ts(-600),
                    evse={"id": 1, "connector_id": 1},
                    id_token={"id_token": "TAG-OK", "type": "ISO14443"},
                    meter_value=energy(20_000, ts(-600), kw=11),
                )
            )
            assert started.id_token_info["status"] == "Accepted"
            await cp.call(
                event("Updated", 1, ts(-300), meter_value=energy(21_000, ts(-300), kw=11, soc=55))
            )
            await cp.call(
                event(
                    "Ended",
                    2,
                    ts(-1),
                    info={"stopped_reason": "EVDisconnected"},
                    meter_value=energy(22_250, ts(-1), kw=0),
                )
            )
    s = await _session(runtime)
    assert s.status == "completed"
    assert (s.meter_start_wh, s.meter_stop_wh, s.energy_wh) == (20_000, 22_250, 2_250)
    assert s.user_id is not None and s.evse_id == 1
    assert s.flags == []


async def test_replayed_transaction_event_with_same_seq_no_changes_nothing(runtime, ocpp_url):
    await add_fleet(runtime, "EZ-1")
    async with connect(ocpp_url, "EZ-1", "2.0.1") as cp:
        await cp.call(boot())
        await cp.call(
            event(
                "Started",
                0,
                ts(-600),
                evse={"id": 1, "connector_id": 1},
                meter_value=energy(1_000, ts(-600)),
            )
        )
        ended = event("Ended", 1, ts(-1), meter_value=energy(4_000, ts(-1)))
        for _ in range(3):
            await cp.call(ended)
        # A replay of seqNo 1 with different content is still the same event.
        await cp.call(event("Ended", 1, ts(), meter_value=energy(9_000, ts())))
    s = await _session(runtime)
    assert (s.status, s.energy_wh) == ("completed", 3_000)

    async def counts(sess):
        events = (
            await sess.execute(select(func.count()).select_from(TransactionEventRecord))
        ).scalar_one()
        samples = (await sess.execute(select(func.count()).select_from(MeterSample))).scalar_one()
        return events, samples

    assert await arrange(runtime, counts) == (2, 2)


async def test_offline_queue_replayed_out_of_order_converges(runtime, ocpp_url):
    """The charger was offline; its queue arrives with Ended before a late Updated."""
    await add_fleet(runtime, "EZ-1")
    async with connect(ocpp_url, "EZ-1", "2.0.1") as cp:
        await cp.call(boot())
        await cp.call(event("Ended", 3, ts(-60), offline=True, meter_value=energy(9_000, ts(-60))))
        await cp.call(
            event("Updated", 1, ts(-1200), offline=True, meter_value=energy(6_000, ts(-1200)))
        )
        await cp.call(
            event(
                "Started",
                0,
                ts(-1800),
                offline=True,
                evse={"id": 2, "connector_id": 1},
                meter_value=energy(5_000, ts(-1800)),
            )
        )
        await cp.call(
            event("Updated", 2, ts(-600), offline=True, meter_value=energy(8_000, ts(-600)))
        )
    s = await _session(runtime)
    assert s.status == "completed"
    assert s.offline is True
    assert (s.meter_start_wh, s.meter_stop_wh, s.energy_wh) == (5_000, 9_000, 4_000)
    assert s.evse_id == 2
    assert abs((s.stopped_at - s.started_at).total_seconds() - 1740) < 5


async def test_updated_event_for_unknown_transaction_creates_the_session(runtime, ocpp_url):
    await add_fleet(runtime, "EZ-1")
    async with connect(ocpp_url, "EZ-1", "2.0.1") as cp:
        await cp.call(boot())
        await cp.call(
            event("Updated", 5, ts(-30), tx="lost-start", meter_value=energy(100, ts(-30)))
        )
    s = await _session(runtime, "lost-start")
    assert s.status == "active"


async def test_status_notification_and_meter_values_outside_transactions(runtime, ocpp_url):
    await add_fleet(runtime, "EZ-1")
    async with connect(ocpp_url, "EZ-1", "2.0.1") as cp:
        await cp.call(boot())
        await cp.call(
            call201.StatusNotification(
                timestamp=ts(), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
        await cp.call(call201.MeterValues(evse_id=1, meter_value=energy(777, ts())))

    async def state(s):
        status = (
            await s.execute(select(Connector.status).where(Connector.evse_id == 1))
        ).scalar_one()
        sample = (await s.execute(select(MeterSample))).scalar_one()
        return status, sample.energy_wh, sample.session_id

    assert await arrange(runtime, state) == ("Occupied", 777, None)


async def test_notify_report_event_security_and_log_status_are_stored(runtime, ocpp_url):
    await add_fleet(runtime, "EZ-1")
    async with connect(ocpp_url, "EZ-1", "2.0.1") as cp:
        await cp.call(boot())
        report = [
            {
                "component": {"name": "OCPPCommCtrlr"},
                "variable": {"name": "HeartbeatInterval"},
                "variable_attribute": [
                    {"type": "Actual", "value": "300", "mutability": "ReadWrite"}
                ],
            },
            {
                "component": {"name": "EVSE", "evse": {"id": 1}},
                "variable": {"name": "Power"},
                "variable_attribute": [
                    {"type": "MaxSet", "value": "22000", "mutability": "ReadOnly"}
                ],
            },
        ]
        await cp.call(
            call201.NotifyReport(request_id=1, generated_at=ts(), seq_no=0, report_data=report)
        )
        # A later report of the same variable overwrites it.
        report[0]["variable_attribute"][0]["value"] = "600"
        await cp.call(
            call201.NotifyReport(request_id=2, generated_at=ts(), seq_no=0, report_data=report[:1])
        )
        await cp.call(
            call201.NotifyEvent(
                generated_at=ts(),
                seq_no=0,
                event_data=[
                    {
                        "event_id": 1,
                        "timestamp": ts(),
                        "trigger": "Alerting",
                        "actual_value": "true",
                        "event_notification_type": "HardWiredNotification",
                        "component": {"name": "Connector"},
                        "variable": {"name": "Problem"},
                    }
                ],
            )
        )
        await cp.call(
            call201.SecurityEventNotification(type="TamperDetectionActivated", timestamp=ts())
        )
        await cp.call(call201.LogStatusNotification(status="Uploaded", request_id=3))
        await cp.call(call201.FirmwareStatusNotification(status="Installed"))

    async def state(s):
        variables = {
            (v.component, v.evse_id, v.variable, v.attribute_type): (v.value, v.readonly)
            for v in (await s.execute(select(ChargerVariable))).scalars()
        }
        kinds = sorted(e.kind for e in (await s.execute(select(ChargerEvent))).scalars())
        return variables, kinds

    variables, kinds = await arrange(runtime, state)
    assert variables == {
        ("OCPPCommCtrlr", 0, "HeartbeatInterval", "Actual"): ("600", False),
        ("EVSE", 1, "Power", "MaxSet"): ("22000", True),
    }
    for kind in (
        "NotifyReport",
        "NotifyEvent",
        "SecurityEventNotification",
        "LogStatusNotification",
        "FirmwareStatusNotification",
    ):
        assert kind in kinds
