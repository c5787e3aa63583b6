"""V2G over real websockets (OCPP 2.1): a car charges, gives power back at a peak, and
charges again; energy in, energy out, the cost and the owner's credit exact to the øre."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import select

from core.identity.v2g import quarter
from core.models import ChargingSession, Site, SpotPrice, V2gCredit
from core.timeutil import format_ocpp_datetime
from tests.helpers import add_fleet, arrange, connect
from tests.ocpp_gateway.test_v201 import boot, event
from tests.pages.flows import until
from tests.payments.test_every_start_settled import rows, settled


def meter(at: datetime, imported_wh: int, exported_wh: int) -> list[dict]:
    return [
        {
            "timestamp": format_ocpp_datetime(at),
            "sampled_value": [
                {"value": imported_wh, "measurand": "Energy.Active.Import.Register"},
                {"value": exported_wh, "measurand": "Energy.Active.Export.Register"},
            ],
        }
    ]


async def test_charge_discharge_at_a_peak_and_charge_again_exact_to_the_ore(runtime, ocpp_url):
    await add_fleet(runtime, "V2G-1")  # Kari, invoiced monthly
    base = quarter(datetime.now(UTC) - timedelta(hours=2))
    peak = base + timedelta(minutes=15)

    async def prices(s):
        (await s.execute(select(Site))).scalar_one().list_price_ore_per_kwh = 500
        for starts_at, price in ((base, "80.1234"), (peak, "250.5")):
            s.add(SpotPrice(area="NO1", starts_at=starts_at, price_ore_per_kwh=Decimal(price)))

    await arrange(runtime, prices)
    at = [base + timedelta(minutes=m) for m in (0, 10, 16, 28, 40)]
    # import, export registers (Wh): charge 2 kWh, give back 1.5 kWh + 0.3 kWh at the
    # peak, charge 1 kWh more.
    readings = [(10_000, 500), (12_000, 500), (12_000, 500), (12_000, 2_300), (13_000, 2_300)]
    async with connect(ocpp_url, "V2G-1", "2.1") as cp:
        await cp.call(boot())
        for seq, (when, (imp, exp)) in enumerate(zip(at, readings, strict=True)):
            kind = "Started" if seq == 0 else "Ended" if seq == len(at) - 1 else "Updated"
            extra = (
                {
                    "id_token": {"id_token": "TAG-OK", "type": "ISO14443"},
                    "evse": {"id": 1, "connector_id": 1},
                }
                if seq == 0
                else {}
            )
            await cp.call(
                event(
                    kind,
                    seq,
                    format_ocpp_datetime(when),
                    tx="v2g-1",
                    meter_value=meter(when, imp, exp),
                    **extra,
                )
            )
    (cs,) = await rows(runtime, ChargingSession)
    cs = await until(lambda: settled(runtime, cs.id), "settlement")
    # 3 kWh in at kr 5,00: kr 15,00. 1.8 kWh out in the peak quarter at (250.5 - 10)
    # øre/kWh: 432.9 øre, credited 433 øre.
    assert (cs.energy_wh, cs.energy_exported_wh, cs.cost_ore, cs.payment_state) == (
        3_000,
        1_800,
        1_500,
        "to_invoice",
    )
    (credit,) = await rows(runtime, V2gCredit)
    assert (credit.session_id, credit.user_id, credit.energy_wh, credit.credit_ore) == (
        cs.id,
        cs.user_id,
        1_800,
        433,
    )
    assert credit.lines == [
        {"starts_at": peak.isoformat(), "wh": 1_800, "ore_per_kwh": "240.5", "ore": "432.9"}
    ]
