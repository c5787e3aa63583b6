"""A live session's cost for `sessionUpdates` (core.sessions.live.LiveCost): read sample by
sample as the gateway stores them, and the same to the øre as pricing the whole session."""

from __future__ import annotations

from datetime import timedelta

from core.models import ChargingSession
from core.sessions import service as sessions
from core.sessions.costs import session_cost
from core.sessions.live import LiveCost, LiveCosts
from core.sessions.schemas import MeterReading
from core.sessions.service import StartResult
from core.tariffs import admin
from core.uow import UnitOfWork
from core.users.service import add_id_token
from tests.tariffs.builders import Place, database, driver, oslo, place, transaction

# Saturday 21:00 to Sunday 07:00 in Oslo: across 22:00, midnight, the change to summer time
# at 02:00 and 06:00.
START = oslo(2026, 3, 28, 21, 0)
HOURS = 10
STEP = 5  # minutes between MeterValues


async def _night_and_day(s, site: str) -> None:
    await admin.create_tariff(s, "Natt og dag")
    for price, start, end in ((200, "22:00", "06:00"), (320, "06:00", "22:00")):
        await admin.add_component(
            s, "Natt og dag", kind="energy", price_ore=price, start=start, end=end
        )
    await admin.add_component(s, "Natt og dag", kind="time", price_ore=50, days="sat")
    await admin.add_component(
        s, "Natt og dag", kind="parking", price_ore=80, grace_minutes=30, cap_ore=30_000
    )
    await admin.add_component(s, "Natt og dag", kind="session", price_ore=400)
    await admin.attach_tariff(
        s, "Natt og dag", site=site, group="public", valid_from=oslo(2026, 1, 1)
    )


async def _start(uow: UnitOfWork, where: Place, tag: str, meter_wh: int) -> StartResult:
    """StartTransaction at START, as the gateway records it."""
    return await sessions.start_transaction(
        uow,
        where.charger_id,
        where.charger,
        connector_id=1,
        id_tag=tag,
        meter_start_wh=meter_wh,
        timestamp_raw="t0",
        timestamp=START,
        received_at=START,
    )


def _watts(minute: int) -> int:
    return 0 if 4 * 60 <= minute < 5 * 60 + 30 else 11_000  # idle 01:00-02:30 (real time)


async def test_live_cost_of_a_ten_hour_session_is_the_full_price_at_every_update(db_url):
    async with database(db_url, autoflush=True) as db, transaction(db) as s:
        where = await place(s)
        await _night_and_day(s, where.site)
        guest = await driver(s, "91000009", "public")
        await add_id_token(s, "TAG-G", guest)
        uow = UnitOfWork(s)
        started = await _start(uow, where, "TAG-G", 50_000)
        live_costs = LiveCosts()
        with live_costs.follow(started.session_id) as live, live_costs.follow(started.session_id):
            assert len(live_costs) == 1
            cs = await s.get_one(ChargingSession, started.session_id)
            wh, minute, checks = 50_000, 0, 0
            while minute < HOURS * 60:
                minute += STEP
                watts = _watts(minute)
                wh += watts * STEP // 60
                at = START + timedelta(minutes=minute)
                await sessions.record_meter_values(
                    uow,
                    where.charger_id,
                    where.charger,
                    evse_id=1,
                    transaction_id=str(started.transaction_id),
                    readings=[MeterReading(at, "Sample.Periodic", energy_wh=wh, power_w=watts)],
                    received_at=at,
                )
                now = at + timedelta(seconds=30)
                got = await live.cost(s, cs, now)
                if minute % 60 == 0:
                    want = await session_cost(s, cs, now)
                    assert got == want, minute
                    checks += 1
            assert live.rebuilds == 1 and checks == HOURS
            assert got is not None and {line.kind for line in got.lines} == {
                "energy",
                "time",
                "parking",
                "session",
            }
            assert len({line.description_en for line in got.lines if line.kind == "energy"}) == 2

            # A sample arriving late, for a stretch already priced: priced from scratch once.
            late = START + timedelta(minutes=61)
            await sessions.record_meter_values(
                uow,
                where.charger_id,
                where.charger,
                evse_id=1,
                transaction_id=str(started.transaction_id),
                readings=[
                    MeterReading(late, "Sample.Periodic", energy_wh=50_000 + 11_000, power_w=0)
                ],
                received_at=now,
            )
            assert await live.cost(s, cs, now) == await session_cost(s, cs, now)
            assert live.rebuilds == 2
        assert len(live_costs) == 0


async def test_a_finished_session_costs_its_final_price(db_url):
    async with database(db_url, autoflush=True) as db, transaction(db) as s:
        where = await place(s, list_price=450)
        guest = await driver(s, "91000008", "public")
        await add_id_token(s, "TAG-F", guest)
        uow = UnitOfWork(s)
        started = await _start(uow, where, "TAG-F", 1_000)
        cs = await s.get_one(ChargingSession, started.session_id)
        live = LiveCost(cs.id)
        assert (await live.cost(s, cs, START + timedelta(minutes=1))).total_ore == 0
        stop = START + timedelta(hours=1)
        await sessions.stop_transaction(
            uow,
            where.charger_id,
            where.charger,
            transaction_id=started.transaction_id,
            id_tag="TAG-F",
            meter_stop_wh=11_000,
            timestamp_raw="t1",
            timestamp=stop,
            reason="Local",
            readings=[],
            received_at=stop,
        )
        final = await live.cost(s, cs, stop + timedelta(hours=3))
        assert final is not None and final.final and final.total_ore == 4_500
