"""The charger simulator: its charging curve, and simulated fleets against the real gateway."""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select

from core import bus
from core.models import Charger, ChargingSession, Connector
from ladeflyt.runtime import Runtime
from ocpp_gateway import sim_curve
from ocpp_gateway.sim_curve import CARS, Vehicle
from ocpp_gateway.simulator import SimulationConfig, run_simulation
from tests.helpers import add_fleet, arrange

# ------------------------------------------------------------------ charging curve


@pytest.mark.parametrize("kind", ["AC", "DC"])
def test_curve_stays_within_limits_and_the_register_only_grows(kind):
    rng = random.Random(7)
    maxima = (3_700, 7_400, 11_000, 22_000) if kind == "AC" else (50_000, 150_000, 350_000)
    for _ in range(100):
        vehicle = sim_curve.random_vehicle(rng, kind)
        connector_max = rng.choice(maxima)
        limit = rng.choice((None, None, 0.0, 4_000.0, 30_000.0))
        ceiling = min(sim_curve.peak_power_w(kind, vehicle, connector_max), limit or 1e12)
        register = 0.0
        for _ in range(2_000):
            before = vehicle.soc
            energy = sim_curve.charge(kind, vehicle, connector_max, rng.uniform(1, 900), limit)
            power = sim_curve.power_w(kind, vehicle, connector_max, limit)
            assert energy >= 0
            register += energy
            assert before <= vehicle.soc <= vehicle.target_soc <= 100
            assert 0 <= power <= ceiling + 1e-6
            reading = sim_curve.reading(kind, vehicle, power)
            assert reading.current_a >= 0 and reading.voltage_v > 0
            if vehicle.full or (limit == 0.0):
                break
        if limit != 0.0:
            assert vehicle.full and sim_curve.power_w(kind, vehicle, connector_max, limit) == 0
        else:
            assert register == 0


def test_ac_is_flat_until_90_percent_then_tapers():
    car = next(c for c in CARS if c.ac_max_w == 11_000)
    at = [sim_curve.power_w("AC", Vehicle(car, soc, 100.0), 22_000) for soc in (10, 50, 89)]
    assert at == [11_000, 11_000, 11_000]
    tapering = [sim_curve.power_w("AC", Vehicle(car, soc, 100.0), 22_000) for soc in (92, 96, 99)]
    assert tapering == sorted(tapering, reverse=True) and tapering[0] < 11_000


def test_dc_peaks_early_and_tapers_from_50_percent():
    car = next(c for c in CARS if c.dc_max_w >= 200_000)
    power = {
        soc: sim_curve.power_w("DC", Vehicle(car, soc, 100.0), 150_000)
        for soc in (20, 45, 60, 80, 95)
    }
    assert power[20] == power[45] == 150_000
    assert power[45] > power[60] > power[80] > power[95] > 0


def test_energy_is_power_times_time_on_the_flat_part():
    car = next(c for c in CARS if c.ac_max_w == 11_000)
    vehicle = Vehicle(car, 20.0, 80.0)
    assert sim_curve.charge("AC", vehicle, 22_000, 3600) == pytest.approx(11_000)
    assert vehicle.soc == pytest.approx(20 + 11_000 * 0.92 / car.capacity_wh * 100)


# ------------------------------------------------------------------ against the gateway

FAST: dict[str, Any] = {"reconnect_min": 0.05, "reconnect_max": 0.2}


async def eventually(check: Callable[[], Awaitable[Any]], timeout: float = 30.0) -> Any:
    """Poll `check` until it returns something truthy."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = await check()
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"not reached within {timeout}s (last: {result!r})")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def simulating(**kwargs: Any) -> AsyncIterator[dict[str, Any]]:
    """Run a simulation in the background; its stats are in the yielded dict afterwards."""
    stop = asyncio.Event()
    task = asyncio.create_task(run_simulation(SimulationConfig(stop=stop, **FAST, **kwargs)))
    stats: dict[str, Any] = {}
    try:
        yield stats
    except BaseException:  # keep the test's own failure: pull the plug
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        raise
    stop.set()
    stats.update(await asyncio.wait_for(task, 30))


async def sessions(runtime: Runtime, cp_id: str | None = None) -> list[ChargingSession]:
    async def work(s):
        query = select(ChargingSession).join(Charger, Charger.id == ChargingSession.charger_id)
        if cp_id is not None:
            query = query.where(Charger.charge_point_id == cp_id)
        return list((await s.execute(query.order_by(ChargingSession.id))).scalars())

    return await arrange(runtime, work)


async def chargers(runtime: Runtime) -> dict[str, Charger]:
    async def work(s):
        return {c.charge_point_id: c for c in (await s.execute(select(Charger))).scalars()}

    return await arrange(runtime, work)


async def connector_status(runtime: Runtime, cp_id: str, evse_id: int) -> str | None:
    async def work(s):
        return (
            await s.execute(
                select(Connector.status)
                .join(Charger, Charger.id == Connector.charger_id)
                .where(Charger.charge_point_id == cp_id, Connector.evse_id == evse_id)
            )
        ).scalar_one_or_none()

    return await arrange(runtime, work)


async def test_simulated_fleet_comes_online_and_records_sessions(runtime, ocpp_url):
    v16, v2 = ["SIM16-1", "SIM16-2", "SIM16-DC-3"], ["SIM2-1", "SIM2-DC-2"]
    await add_fleet(runtime, *v16, *v2, tags=("TAG-OK", "TAG-SIM"))
    common = {"url": ocpp_url, "id_tags": ["TAG-SIM"], "initial_occupancy": 1.0, "speedup": 1800.0}
    common["meter_interval"] = 300.0

    async def all_charging() -> bool:
        rows = await sessions(runtime)
        with_energy = {r.charger_id for r in rows if r.energy_wh > 0}
        online = [c for c in (await chargers(runtime)).values() if c.online]
        return len(online) == 5 and len(with_energy) == 5

    async with (
        simulating(ids=v16, protocol="1.6", **common) as stats16,
        simulating(ids=v2, protocol="2.0.1", seed=2, **common) as stats2,
    ):
        await eventually(all_charging)
        rows = await chargers(runtime)
        assert {rows[i].ocpp_version for i in v16} == {"1.6"}
        assert {rows[i].ocpp_version for i in v2} == {"2.0.1"}
        assert {(c.vendor, c.registration_status) for c in rows.values()} == {
            ("Ladeflyt", "Accepted")
        }
        assert rows["SIM16-DC-3"].model == "SimCharger DC150"

    for stats in (stats16, stats2):
        assert stats["errors"] == 0 and stats["connect_failures"] == 0
        assert stats["sessions_started"] == stats["sessions_stopped"] > 0
        assert stats["energy_kwh"] > 0
    done = await sessions(runtime)
    # Every session ended cleanly (the run's end stops them), with plausible data only.
    assert done and {(r.status, r.id_token, tuple(r.flags)) for r in done} == {
        ("completed", "TAG-SIM", ())
    }
    assert all(r.meter_stop_wh >= r.meter_start_wh for r in done)
    assert {r.evse_id for r in done} <= {1, 2}
    v2_rows = [r for r in done if not r.transaction_id.isdigit()]
    assert v2_rows and all(r.last_seq_no and r.last_seq_no >= 1 for r in v2_rows)
    assert stats16["messages_by_action"]["StartTransaction"] == stats16["sessions_started"]
    assert "TransactionEvent" in stats2["messages_by_action"]


@pytest.mark.parametrize("protocol", ["1.6", "2.0.1"])
async def test_remote_start_and_stop_through_the_command_bus(runtime, ocpp_url, protocol):
    await add_fleet(runtime, "RS-1")
    commands = runtime.gateway_ctx.commands
    quiet = {"initial_occupancy": 0.0, "arrivals_per_hour": 0.0}
    async with simulating(
        url=ocpp_url, ids=["RS-1"], protocol=protocol, speedup=60.0, meter_interval=10.0, **quiet
    ) as stats:
        await eventually(lambda: _is(connector_status(runtime, "RS-1", 1), "Available"))
        started = await commands.send("RS-1", bus.RemoteStart(id_token="TAG-OK", evse_id=1))
        assert started.status == "Accepted"

        async def charging() -> ChargingSession | None:
            rows = await sessions(runtime, "RS-1")
            return next((r for r in rows if r.status == "active" and r.energy_wh > 0), None)

        session = await eventually(charging)
        assert (session.id_token, session.evse_id) == ("TAG-OK", 1)
        assert session.user_id is not None and session.last_power_w > 0
        busy = await commands.send("RS-1", bus.RemoteStart(id_token="TAG-OK", evse_id=1))
        assert busy.status == "Rejected"

        unknown = "424242" if protocol == "1.6" else "no-such-transaction"
        assert (await commands.send("RS-1", bus.RemoteStop(unknown))).status == "Rejected"
        old = runtime.gateway.connections["RS-1"]
        if protocol != "1.6":  # 2.x soft reset is OnIdle: it waits for the transaction
            reset = await commands.send("RS-1", bus.Reset(kind="soft"))
            assert reset.status == "Scheduled"

        stopped = await commands.send("RS-1", bus.RemoteStop(session.transaction_id))
        assert stopped.status == "Accepted"

        async def completed() -> ChargingSession | None:
            rows = await sessions(runtime, "RS-1")
            return next((r for r in rows if r.status == "completed"), None)

        done = await eventually(completed)
        assert done.id == session.id and done.stop_reason == "Remote" and done.energy_wh > 0
        if protocol != "1.6":
            await eventually(lambda: _reconnected(runtime, "RS-1", old))
    assert stats["sessions_started"] == stats["sessions_stopped"] == 1
    assert stats["reboots"] == (0 if protocol == "1.6" else 1)
    assert stats["errors"] == 0


async def _is(value: Awaitable[Any], expected: Any) -> bool:
    return (await value) == expected


@pytest.mark.parametrize("protocol", ["1.6", "2.0.1"])
async def test_commands_get_sensible_answers_and_reset_reboots(runtime, ocpp_url, protocol):
    await add_fleet(runtime, "CMD-1")
    commands = runtime.gateway_ctx.commands
    quiet = {"initial_occupancy": 0.0, "arrivals_per_hour": 0.0}

    async def send(command: bus.Command) -> bus.CommandResult:
        return await commands.send("CMD-1", command)

    async with simulating(
        url=ocpp_url, ids=["CMD-1"], protocol=protocol, speedup=60.0, meter_interval=10.0, **quiet
    ) as stats:
        await eventually(lambda: _is(connector_status(runtime, "CMD-1", 2), "Available"))
        assert (await send(bus.SetConfiguration("HeartbeatInterval", "120"))).status == "Accepted"
        got = await send(bus.GetConfiguration(("HeartbeatInterval",)))
        assert got.status == "Accepted" and "'120'" in str(got.payload)
        unknown = await send(bus.SetConfiguration("NoSuchKey", "1"))
        assert unknown.status == ("NotSupported" if protocol == "1.6" else "Rejected")
        assert (await send(bus.TriggerMessage("StatusNotification", evse_id=1))).accepted
        assert (await send(bus.TriggerMessage("MeterValues"))).accepted
        assert (await send(bus.UnlockConnector(connector_id=1, evse_id=1))).status == "Unlocked"

        assert (await send(bus.ChangeAvailability(False, evse_id=2))).status == "Accepted"
        await eventually(lambda: _is(connector_status(runtime, "CMD-1", 2), "Unavailable"))
        assert (await send(bus.ChangeAvailability(True, evse_id=2))).status == "Accepted"
        await eventually(lambda: _is(connector_status(runtime, "CMD-1", 2), "Available"))

        # A 16 A default profile (3 x 230 V = 11 kW) caps the next session's power.
        assert (await send(bus.SetChargingProfile(1, _profile(protocol, 16.0)))).accepted
        assert (await send(bus.RemoteStart("TAG-OK", evse_id=1))).accepted

        async def charging() -> ChargingSession | None:
            rows = await sessions(runtime, "CMD-1")
            return next((r for r in rows if r.last_power_w), None)

        session = await eventually(charging)
        assert 0 < session.last_power_w <= 16 * 230 * 3

        old = runtime.gateway.connections["CMD-1"]
        if protocol == "1.6":
            assert (await send(bus.Reset(kind="soft"))).status == "Accepted"
        else:  # soft is OnIdle: after the transaction; hard is Immediate
            assert (await send(bus.Reset(kind="soft"))).status == "Scheduled"
            assert (await send(bus.Reset(kind="hard"))).status == "Accepted"

        await eventually(lambda: _reconnected(runtime, "CMD-1", old))
        done = (await sessions(runtime, "CMD-1"))[0]
        assert done.status == "completed"
        assert done.stop_reason == ("SoftReset" if protocol == "1.6" else "ImmediateReset")
        assert (await send(bus.ClearChargingProfile(profile_id=7))).status == "Accepted"
        assert (await send(bus.ClearChargingProfile(profile_id=7))).status == "Unknown"
    assert stats["reboots"] == 1 and stats["reconnects"] == 1 and stats["errors"] == 0


async def _reconnected(runtime: Runtime, cp_id: str, old: Any) -> bool:
    new = runtime.gateway.connections.get(cp_id)
    return new is not None and new is not old and new.registration_status == "Accepted"


def _profile(protocol: str, amps: float) -> dict[str, Any]:
    period = {"startPeriod": 0, "limit": amps}
    common = {"stackLevel": 0, "chargingProfilePurpose": "TxDefaultProfile"}
    if protocol == "1.6":
        schedule: Any = {"chargingRateUnit": "A", "chargingSchedulePeriod": [period]}
        return {"chargingProfileId": 7, "chargingProfileKind": "Relative", **common} | {
            "chargingSchedule": schedule
        }
    schedule = [{"id": 1, "chargingRateUnit": "A", "chargingSchedulePeriod": [period]}]
    return {"id": 7, "chargingProfileKind": "Relative", "chargingSchedule": schedule, **common}


async def test_reconnects_after_the_connection_drops_and_sessions_go_on(runtime, ocpp_url):
    await add_fleet(runtime, "DROP-1")
    fast = {
        "speedup": 600.0,
        "meter_interval": 60.0,
        "initial_occupancy": 1.0,
        "id_tags": ["TAG-OK"],
    }
    async with simulating(url=ocpp_url, ids=["DROP-1"], **fast) as stats:

        async def energy() -> int:
            return sum(r.energy_wh for r in await sessions(runtime, "DROP-1"))

        before = await eventually(energy)
        first = runtime.gateway.connections["DROP-1"]
        await first._connection.close()
        await eventually(lambda: _reconnected(runtime, "DROP-1", first))
        await eventually(lambda: _more(energy(), before))
    assert stats["reconnects"] >= 1 and stats["connects"] >= 2
    assert stats["sessions_started"] == stats["sessions_stopped"] >= 1
    done = await sessions(runtime, "DROP-1")
    assert {(r.status, tuple(r.flags)) for r in done} == {("completed", ())}


async def _more(value: Awaitable[int], than: int) -> bool:
    return (await value) > than


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"ws://127.0.0.1:{port}/ocpp"


async def test_duration_ends_the_run_and_cancel_stops_everything():
    url = _closed_port_url()
    config = SimulationConfig(url=url, chargers=3, duration=0.3, reconnect_min=0.01)
    stats = await run_simulation(config)
    assert stats["chargers"] == 3 and stats["connects"] == 0
    assert stats["connect_failures"] >= 3 and stats["reconnects"] >= 1

    task = asyncio.create_task(run_simulation(SimulationConfig(url=url, chargers=50)))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, 5)
    leftovers = [
        t
        for t in asyncio.all_tasks()
        if t is not asyncio.current_task()
        and any(n in t.get_coro().__qualname__ for n in ("SimCharger", "Link", "simulation"))
    ]
    assert leftovers == []


async def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="protocol"):
        await run_simulation(SimulationConfig(url="ws://x/ocpp", protocol="1.5"))


@pytest.mark.parametrize("protocol", ["1.6", "2.0.1"])
async def test_autocharge_mode_plugs_in_a_car_that_names_itself(runtime, ocpp_url, protocol):
    """`--id-tags VID:<MAC>`: the simulated car identifies itself (1.6: the tag `VID:<MAC>`,
    2.x: a MacAddress token), and a car linked to a driver charges on her account."""
    await add_fleet(runtime, "SIM-AC-1", tags=("VID:0012ABCD3456",))

    async def charging() -> bool:
        return any(r.energy_wh > 0 for r in await sessions(runtime, "SIM-AC-1"))

    common = {"url": ocpp_url, "initial_occupancy": 1.0, "speedup": 1800.0}
    async with simulating(
        ids=["SIM-AC-1"], protocol=protocol, id_tags=["VID:0012ABCD3456"], **common
    ) as stats:
        await eventually(charging)
    assert stats["errors"] == 0
    done = await sessions(runtime, "SIM-AC-1")
    assert {(r.id_token, r.user_id is not None) for r in done} == {("VID:0012ABCD3456", True)}
