"""What the car says (NotifyEVChargingNeeds, SoC in meter values) reaches the live session
and the allocator's read side (core.identity.needs.current_needs), over real websockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v21 import call as call21
from ocpp.v201 import call as call201

from core.identity.needs import current_needs
from core.models import ChargingSession
from core.timeutil import format_ocpp_datetime
from tests.api.graphql_helpers import gql, sign_in
from tests.helpers import add_fleet, arrange, connect
from tests.identity.test_v2x_profile import Charger21
from tests.ocpp_gateway.test_v201 import boot, energy, event, ts
from tests.payments.test_every_start_settled import KARI, rows


async def test_the_cars_needs_and_soc_reach_the_session_and_the_allocator(runtime, ocpp_url):
    await add_fleet(runtime, "EZ-1")
    departure = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    async with connect(ocpp_url, "EZ-1", "2.0.1") as cp:
        await cp.call(boot())
        await cp.call(
            event(
                "Started",
                0,
                ts(-60),
                tx="n-1",
                id_token={"id_token": "TAG-OK", "type": "ISO14443"},
                evse={"id": 1, "connector_id": 1},
                meter_value=energy(1_000, ts(-60)),
            )
        )
        answer = await cp.call(
            call201.NotifyEVChargingNeeds(
                evse_id=1,
                charging_needs={
                    "requested_energy_transfer": "DC",
                    "departure_time": format_ocpp_datetime(departure),
                    "dc_charging_parameters": {
                        "ev_max_current": 200,
                        "ev_max_voltage": 800,
                        "energy_amount": 30_000,
                        "ev_max_power": 150_000,
                        "state_of_charge": 42,
                        "ev_energy_capacity": 77_000,
                        "full_soc": 100,
                    },
                },
            )
        )
        assert answer.status == "Accepted"
        (cs,) = await rows(runtime, ChargingSession)
        assert cs.last_soc == 42

        (seen,) = await arrange(runtime, lambda s: current_needs(s))
        assert (
            seen.session_id,
            seen.soc,
            seen.energy_amount_wh,
            seen.departure_at,
            seen.ev_max_power_w,
            seen.bidirectional,
        ) == (cs.id, 42, 30_000, departure, 150_000, False)

        # The meter's SoC, sampled later, is the newer word.
        await cp.call(
            event("Updated", 1, ts(0), tx="n-1", meter_value=energy(5_000, ts(0), soc=55))
        )
        (seen,) = await arrange(runtime, lambda s: current_needs(s))
        assert seen.soc == 55
        await cp.call(event("Ended", 2, ts(1), tx="n-1", meter_value=energy(5_000, ts(1))))
    # A car that has left needs nothing.
    assert await arrange(runtime, lambda s: current_needs(s)) == []


SESSION = """query($id: ID!) { session(id: $id) { v2xControlMode energyTransferModes } }"""


async def test_the_v2x_modes_a_21_charger_reports_are_stored_and_shown(runtime, ocpp_url, client):
    await add_fleet(runtime, "EZ-21")
    async with connect(ocpp_url, "EZ-21", "2.1", charger_class=Charger21) as cp:
        await cp.call(boot())
        await cp.call(
            event(
                "Started",
                0,
                ts(-60),
                tx="n-21",
                id_token={"id_token": "TAG-OK", "type": "ISO14443"},
                evse={"id": 1, "connector_id": 1},
                meter_value=energy(1_000, ts(-60)),
            )
        )
        answer = await cp.call(
            call21.NotifyEVChargingNeeds(
                evse_id=1,
                charging_needs={
                    "requested_energy_transfer": "DC_BPT",
                    "available_energy_transfer": ["DC", "DC_BPT"],
                    "control_mode": "DynamicControl",
                    "dc_charging_parameters": {"ev_max_current": 200, "ev_max_voltage": 800},
                },
            )
        )
        assert answer.status == "Accepted"
        (seen,) = await arrange(runtime, lambda s: current_needs(s))
        assert seen.bidirectional is True
    (cs,) = await rows(runtime, ChargingSession)
    token = (await sign_in(client, runtime, KARI))["accessToken"]
    shown = await gql(client, SESSION, {"id": str(cs.id)}, token=token)
    assert shown["data"]["session"] == {
        "v2xControlMode": "DynamicControl",
        "energyTransferModes": ["DC", "DC_BPT"],
    }
