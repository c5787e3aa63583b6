"""OCPP 1.6 over real websockets: boot, status, authorize, transactions, replays."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v16 import call as call16
from sqlalchemy import func, select

from core.models import Charger, ChargingSession, Connector, IdToken, MeterSample
from core.timeutil import format_ocpp_datetime
from ladeflyt.runtime import Runtime
from tests.helpers import add_fleet, arrange, boot16, connect


def ts(offset_s: float = 0) -> str:
    return format_ocpp_datetime(datetime.now(UTC) + timedelta(seconds=offset_s))


def meter(wh: int, at: str, power_w: int | None = None) -> list[dict]:
    sampled = [{"value": str(wh), "measurand": "Energy.Active.Import.Register", "unit": "Wh"}]
    if power_w is not None:
        sampled.append(
            {"value": str(power_w / 1000), "measurand": "Power.Active.Import", "unit": "kW"}
        )
    return [{"timestamp": at, "sampledValue": sampled}]


async def _session(runtime: Runtime, tx: int) -> ChargingSession:
    async def work(s):
        return (
            await s.execute(
                select(ChargingSession).where(ChargingSession.transaction_id == str(tx))
            )
        ).scalar_one()

    return await arrange(runtime, work)


async def test_boot_marks_charger_online_and_stores_identity(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        result = await cp.call(
            call16.BootNotification(
                charge_point_vendor="Zaptec",
                charge_point_model="Pro",
                charge_point_serial_number="ZAP123",
                firmware_version="2.3.1",
            )
        )
        assert result.status == "Accepted"
        assert result.interval == 300
        hb = await cp.call(call16.Heartbeat())
        assert hb.current_time.endswith("Z")

        async def charger(s):
            return (
                await s.execute(select(Charger).where(Charger.charge_point_id == "CP-1"))
            ).scalar_one()

        row = await arrange(runtime, charger)
        assert (row.vendor, row.model, row.serial_number, row.firmware_version) == (
            "Zaptec",
            "Pro",
            "ZAP123",
            "2.3.1",
        )
        assert row.online and row.ocpp_version == "1.6"
    # After the socket closes the charger is offline.
    for _ in range(50):
        row = await arrange(runtime, charger)
        if not row.online:
            break
        import asyncio

        await asyncio.sleep(0.05)
    assert not row.online


async def test_status_notification_updates_connector_and_ignores_older_reports(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        await cp.call(
            call16.StatusNotification(
                connector_id=1, error_code="NoError", status="Charging", timestamp=ts()
            )
        )
        await cp.call(
            call16.StatusNotification(
                connector_id=1, error_code="NoError", status="Available", timestamp=ts(-60)
            )
        )
        await cp.call(
            call16.StatusNotification(
                connector_id=2, error_code="GroundFailure", status="Faulted", timestamp=ts()
            )
        )

    async def connectors(s):
        return {
            c.evse_id: (c.status, c.error_code)
            for c in (await s.execute(select(Connector))).scalars()
        }

    assert await arrange(runtime, connectors) == {
        1: ("Charging", None),
        2: ("Faulted", "GroundFailure"),
    }


async def test_status_notification_with_absurd_connector_id_is_answered_and_creates_nothing(
    runtime, ocpp_url
):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        result = await cp.call(
            call16.StatusNotification(
                connector_id=1_850_000_000, error_code="NoError", status="Available"
            )
        )
        assert result is not None

    async def count(s):
        return (await s.execute(select(func.count()).select_from(Connector))).scalar_one()

    assert await arrange(runtime, count) == 2


async def test_authorize_answers_accepted_invalid_blocked_and_expired(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1", tags=("TAG-OK", "TAG-BLOCKED", "TAG-OLD"))

    async def tweak(s):
        rows = {t.token: t for t in (await s.execute(select(IdToken))).scalars()}
        rows["TAG-BLOCKED"].status = "blocked"
        rows["TAG-OLD"].expires_at = datetime.now(UTC) - timedelta(days=1)

    await arrange(runtime, tweak)
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        answers = {
            tag: (await cp.call(call16.Authorize(id_tag=tag))).id_tag_info["status"]
            for tag in ("TAG-OK", "tag-ok", "TAG-BLOCKED", "TAG-OLD", "NOPE")
        }
    assert answers == {
        "TAG-OK": "Accepted",
        "tag-ok": "Accepted",
        "TAG-BLOCKED": "Blocked",
        "TAG-OLD": "Expired",
        "NOPE": "Invalid",
    }


async def test_full_transaction_records_energy_samples_and_stop(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        start = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG-OK", meter_start=10_000, timestamp=ts(-120)
            )
        )
        assert start.id_tag_info["status"] == "Accepted"
        tx = start.transaction_id
        await cp.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=meter(11_500, ts(-60), power_w=11_000),
            )
        )
        await cp.call(
            call16.MeterValues(
                connector_id=1, transaction_id=tx, meter_value=meter(12_400, ts(-1), power_w=10_500)
            )
        )
        live = await _session(runtime, tx)
        assert (live.status, live.energy_wh, live.last_power_w) == ("active", 2_400, 10_500)
        stop = await cp.call(
            call16.StopTransaction(
                meter_stop=12_500,
                timestamp=ts(),
                transaction_id=tx,
                id_tag="TAG-OK",
                reason="EVDisconnected",
            )
        )
        assert stop.id_tag_info["status"] == "Accepted"

    done = await _session(runtime, tx)
    assert done.status == "completed"
    assert (done.meter_start_wh, done.meter_stop_wh, done.energy_wh) == (10_000, 12_500, 2_500)
    assert done.stop_reason == "EVDisconnected"
    assert done.user_id is not None
    assert done.flags == []

    async def samples(s):
        return (
            await s.execute(
                select(func.count())
                .select_from(MeterSample)
                .where(MeterSample.session_id == done.id)
            )
        ).scalar_one()

    assert await arrange(runtime, samples) == 2


async def test_replayed_start_transaction_gets_the_same_transaction_id(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    start = call16.StartTransaction(
        connector_id=1, id_tag="TAG-OK", meter_start=500, timestamp=ts(-30)
    )
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        first = await cp.call(start)
    # The charger reconnects and replays its queue.
    async with connect(ocpp_url, "CP-1") as cp:
        second = await cp.call(start)
        third = await cp.call(start)
    assert first.transaction_id == second.transaction_id == third.transaction_id

    async def count(s):
        return (await s.execute(select(func.count()).select_from(ChargingSession))).scalar_one()

    assert await arrange(runtime, count) == 1


async def test_duplicate_stop_transaction_does_not_double_bill(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        tx = (
            await cp.call(
                call16.StartTransaction(
                    connector_id=1, id_tag="TAG-OK", meter_start=1_000, timestamp=ts(-600)
                )
            )
        ).transaction_id
        stop = call16.StopTransaction(
            meter_stop=8_000,
            timestamp=ts(-1),
            transaction_id=tx,
            transaction_data=meter(8_000, ts(-1)),
        )
        for _ in range(3):
            await cp.call(stop)
        # A stale retry with another meter reading must not change the billed energy either.
        await cp.call(call16.StopTransaction(meter_stop=9_999, timestamp=ts(), transaction_id=tx))
    done = await _session(runtime, tx)
    assert (done.status, done.energy_wh, done.meter_stop_wh) == ("completed", 7_000, 8_000)


async def test_replayed_meter_values_add_no_samples(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        tx = (
            await cp.call(
                call16.StartTransaction(
                    connector_id=1, id_tag="TAG-OK", meter_start=0, timestamp=ts(-90)
                )
            )
        ).transaction_id
        mv = call16.MeterValues(connector_id=1, transaction_id=tx, meter_value=meter(700, ts(-30)))
        for _ in range(3):
            await cp.call(mv)
    s = await _session(runtime, tx)

    async def count(sess):
        return (
            await sess.execute(
                select(func.count()).select_from(MeterSample).where(MeterSample.session_id == s.id)
            )
        ).scalar_one()

    assert await arrange(runtime, count) == 1
    assert s.energy_wh == 700


async def test_stop_for_unknown_transaction_minus_one_is_kept_flagged(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        data = [
            {
                "timestamp": ts(-300),
                "sampledValue": [{"value": "2000", "context": "Transaction.Begin"}],
            },
            {
                "timestamp": ts(-1),
                "sampledValue": [{"value": "5000", "context": "Transaction.End"}],
            },
        ]
        stop = call16.StopTransaction(
            meter_stop=5_000,
            timestamp=ts(-1),
            transaction_id=-1,
            id_tag="TAG-OK",
            transaction_data=data,
        )
        assert await cp.call(stop) is not None
        await cp.call(stop)  # replayed

    async def rows(s):
        return list((await s.execute(select(ChargingSession))).scalars())

    sessions = await arrange(runtime, rows)
    assert len(sessions) == 1
    orphan = sessions[0]
    assert orphan.status == "completed"
    assert orphan.energy_wh == 3_000
    assert "unknown_transaction" in orphan.flags


async def test_suspicious_data_is_flagged_never_rejected(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        start = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG-OK", meter_start=5_000, timestamp="1970-01-01T00:00:00Z"
            )
        )
        tx = start.transaction_id
        await cp.call(
            call16.MeterValues(
                connector_id=1, transaction_id=tx, meter_value=meter(6_000, ts(3600 * 24 * 30))
            )
        )
        await cp.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=tx,
                meter_value=meter(4_000, ts(-5), power_w=9_000_000),
            )
        )
        await cp.call(call16.StopTransaction(meter_stop=4_500, timestamp=ts(), transaction_id=tx))
    s = await _session(runtime, tx)
    assert s.status == "completed"
    assert s.started_at.year >= 2025  # the 1970 clock was replaced by the receive time
    assert {
        "timestamp_too_old",
        "timestamp_in_future",
        "meter_regression",
        "implausible_power",
    } <= set(s.flags)
    assert s.energy_wh == 0


async def test_new_start_on_busy_connector_supersedes_the_session_whose_stop_was_lost(
    runtime, ocpp_url
):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        old = (
            await cp.call(
                call16.StartTransaction(
                    connector_id=1, id_tag="TAG-OK", meter_start=0, timestamp=ts(-3600)
                )
            )
        ).transaction_id
        new = (
            await cp.call(
                call16.StartTransaction(
                    connector_id=1, id_tag="TAG-OK", meter_start=9_000, timestamp=ts(-10)
                )
            )
        ).transaction_id
    stale, fresh = await _session(runtime, old), await _session(runtime, new)
    assert (stale.status, stale.stop_reason) == ("completed", "Superseded")
    assert "stop_missing" in stale.flags
    assert fresh.status == "active"


async def test_unknown_id_tag_start_is_recorded_but_answered_invalid(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        start = await cp.call(
            call16.StartTransaction(
                connector_id=2, id_tag="STRANGER", meter_start=0, timestamp=ts()
            )
        )
    assert start.id_tag_info["status"] == "Invalid"
    s = await _session(runtime, start.transaction_id)
    assert (s.auth_status, s.user_id, s.evse_id) == ("Invalid", None, 2)


async def test_data_transfer_and_status_notifications_are_stored(runtime, ocpp_url):
    from core.models import ChargerEvent

    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        dt = await cp.call(call16.DataTransfer(vendor_id="com.zaptec", message_id="x", data="{}"))
        assert dt.status == "UnknownVendorId"
        await cp.call(call16.FirmwareStatusNotification(status="Installed"))
        await cp.call(call16.DiagnosticsStatusNotification(status="Uploaded"))

    async def state(s):
        kinds = [e.kind for e in (await s.execute(select(ChargerEvent))).scalars()]
        charger = (await s.execute(select(Charger))).scalar_one()
        return kinds, charger.firmware_status, charger.diagnostics_status

    kinds, firmware, diagnostics = await arrange(runtime, state)
    assert {"DataTransfer", "FirmwareStatusNotification", "DiagnosticsStatusNotification"} <= set(
        kinds
    )
    assert (firmware, diagnostics) == ("Installed", "Uploaded")
