"""Sessions are priced as chargers report them: live cost, final cost at stop, late data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v16 import call as call16
from sqlalchemy import select, text

from core.models import ChargingSession
from core.sessions import service as sessions
from core.sessions.schemas import MeterReading, TransactionEventIn
from core.tariffs import repository
from core.tariffs.service import running_cost
from core.timeutil import format_ocpp_datetime
from core.uow import UnitOfWork
from core.users.service import add_id_token
from tests.helpers import add_fleet, arrange, boot16, connect
from tests.tariffs.builders import database, driver, member_prices, oslo, place, transaction

START = oslo(2026, 5, 6, 12, 0)


def reading(minutes: int, wh: int, watts: int) -> MeterReading:
    at = START + timedelta(minutes=minutes)
    return MeterReading(at, "Sample.Periodic", energy_wh=wh, power_w=watts)


async def test_a_1_6_session_has_a_running_cost_and_a_final_price_at_stop(db_url):
    async with database(db_url, autoflush=True) as db, transaction(db) as s:
        where = await place(s)
        await member_prices(s, where)
        member = await driver(s, "91000001", "member")
        await add_id_token(s, "TAG-M", member)
        uow = UnitOfWork(s)
        started = await sessions.start_transaction(
            uow,
            where.charger_id,
            where.charger,
            connector_id=1,
            id_tag="TAG-M",
            meter_start_wh=10_000,
            timestamp_raw="t0",
            timestamp=START,
            received_at=START,
        )
        tx = str(started.transaction_id)
        totals = []
        for minute, wh, watts in ((30, 15_500, 11_000), (60, 21_000, 0), (90, 21_000, 0)):
            await sessions.record_meter_values(
                uow,
                where.charger_id,
                where.charger,
                evse_id=1,
                transaction_id=tx,
                readings=[reading(minute, wh, watts)],
                received_at=START + timedelta(minutes=minute),
            )
            live = await running_cost(s, started.session_id, START + timedelta(minutes=minute))
            assert live.final is False and live.customer_group == "member"
            totals.append(live.total_ore)
        # 5.5 kWh after 30 minutes, 11 kWh after 60; members pay no idle fee.
        assert totals == [5.5 * 250, 11 * 250, 11 * 250]

        stop_at = START + timedelta(minutes=95)
        await sessions.stop_transaction(
            uow,
            where.charger_id,
            where.charger,
            transaction_id=int(tx),
            id_tag=None,
            meter_stop_wh=21_000,
            timestamp_raw="t1",
            timestamp=stop_at,
            reason="EVDisconnected",
            readings=[],
            received_at=stop_at,
        )
        cs = await s.get_one(ChargingSession, started.session_id)
        assert (cs.cost_ore, cs.vat_ore, cs.price_group) == (2750, 550, "member")
        final = await running_cost(s, cs.id, stop_at + timedelta(days=3))
        assert final.final is True and final.total_ore == 2750


async def test_a_superseded_session_is_priced_when_the_next_one_starts(db_url):
    async with database(db_url, autoflush=True) as db, transaction(db) as s:
        where = await place(s, list_price=400)
        uow = UnitOfWork(s)
        first = await sessions.start_transaction(
            uow,
            where.charger_id,
            where.charger,
            connector_id=1,
            id_tag="ANY",
            meter_start_wh=0,
            timestamp_raw="a",
            timestamp=START,
            received_at=START,
        )
        await sessions.record_meter_values(
            uow,
            where.charger_id,
            where.charger,
            evse_id=1,
            transaction_id=str(first.transaction_id),
            readings=[reading(60, 5_000, 5_000)],
            received_at=START + timedelta(minutes=60),
        )
        later = START + timedelta(hours=3)
        await sessions.start_transaction(
            uow,
            where.charger_id,
            where.charger,
            connector_id=1,
            id_tag="ANY",
            meter_start_wh=5_000,
            timestamp_raw="b",
            timestamp=later,
            received_at=later,
        )
        cs = await s.get_one(ChargingSession, first.session_id)
        assert (cs.stop_reason, cs.cost_ore) == ("Superseded", 2000)


def _event(kind: str, seq: int, minutes: int, wh: int) -> TransactionEventIn:
    at = START + timedelta(minutes=minutes)
    return TransactionEventIn(
        event_type=kind,
        timestamp=at,
        trigger_reason="MeterValuePeriodic",
        seq_no=seq,
        transaction_id="tx-201",
        evse_id=1,
        connector_id=1,
        id_token="TAG-E",
        readings=[MeterReading(at, "Sample.Periodic", energy_wh=wh, power_w=7_000)],
    )


async def test_2x_late_events_reprice_until_the_session_is_billed(db_url):
    async with database(db_url, autoflush=True) as db, transaction(db) as s:
        where = await place(s)
        await member_prices(s, where)
        employee = await driver(s, "91000002", "employee")
        await add_id_token(s, "TAG-E", employee)
        uow = UnitOfWork(s)
        now = START + timedelta(hours=2)
        for event in (_event("Started", 0, 0, 1_000), _event("Ended", 2, 60, 8_000)):
            await sessions.apply_transaction_event(uow, where.charger_id, where.charger, event, now)
        cs = (await s.execute(select(ChargingSession))).scalar_one()
        assert cs.cost_ore == 700  # 7 kWh at 1.00 kr on a Wednesday noon

        # A queued Updated event arrives after Ended: energy and price follow the samples.
        late = _event("Updated", 1, 90, 9_000)
        await sessions.apply_transaction_event(uow, where.charger_id, where.charger, late, now)
        assert (cs.energy_wh, cs.cost_ore) == (8_000, 800)

        cs.payment_state = "invoiced"
        later = _event("Updated", 3, 100, 10_000)
        await sessions.apply_transaction_event(uow, where.charger_id, where.charger, later, now)
        assert cs.cost_ore == 800
        assert "energy_changed_after_billing" in cs.flags


async def test_a_failing_pricing_query_never_fails_the_chargers_stop(
    runtime, ocpp_url, monkeypatch
):
    await add_fleet(runtime, "CP-1")

    async def broken(session, *args, **kwargs):
        await session.execute(text("SELECT * FROM no_such_table"))

    monkeypatch.setattr(repository, "session_samples", broken)
    now = datetime.now(UTC).replace(microsecond=0)
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        start = await cp.call(
            call16.StartTransaction(
                connector_id=1,
                id_tag="TAG-OK",
                meter_start=0,
                timestamp=format_ocpp_datetime(now - timedelta(minutes=30)),
            )
        )

        async def set_list_price(s):
            await s.execute(text("UPDATE sites SET list_price_ore_per_kwh = 400"))

        await arrange(runtime, set_list_price)
        stop = await cp.call(
            call16.StopTransaction(
                meter_stop=3_000,
                timestamp=format_ocpp_datetime(now),
                transaction_id=start.transaction_id,
            )
        )
        assert stop is not None

    async def stored(s):
        return await s.get_one(ChargingSession, start.transaction_id)

    cs = await arrange(runtime, stored)
    assert (cs.status, cs.energy_wh, cs.cost_ore) == ("completed", 3_000, None)
    assert cs.flags == ["pricing_failed"]


async def test_a_charger_stop_over_ocpp_stores_the_price(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    now = datetime.now(UTC).replace(microsecond=0)

    async def prices(s):
        where = await place(s, site="Klokkarstua-2", charger="CP-2")
        await member_prices(s, where)
        cs_site = await repository.session_location(s, where.charger_id, None)
        assert cs_site is not None
        await s.execute(
            text("UPDATE chargers SET site_id = :site WHERE charge_point_id = 'CP-1'"),
            {"site": cs_site.site_id},
        )
        # The borettslag Kari is a member of owns this site too.
        await s.execute(
            text(
                "UPDATE sites SET organisation_id = (SELECT organisation_id FROM sites "
                "WHERE name = 'Klokkarstua') WHERE name = 'Klokkarstua-2'"
            )
        )

    await arrange(runtime, prices)
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        start = await cp.call(
            call16.StartTransaction(
                connector_id=1,
                id_tag="TAG-OK",
                meter_start=1_000,
                timestamp=format_ocpp_datetime(now - timedelta(hours=1)),
            )
        )
        await cp.call(
            call16.StopTransaction(
                meter_stop=11_000,
                timestamp=format_ocpp_datetime(now),
                transaction_id=start.transaction_id,
            )
        )

    async def stored(s):
        return await s.get_one(ChargingSession, start.transaction_id)

    cs = await arrange(runtime, stored)
    # add_fleet's driver is a member: 10 kWh at 2.50 kr.
    assert (cs.cost_ore, cs.vat_ore, cs.price_group, cs.flags) == (2500, 500, "member", [])
