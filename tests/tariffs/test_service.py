"""Quotes and costs from the database: who pays what where, stored final prices."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from core.models import ChargingSession
from core.tariffs import admin
from core.tariffs.errors import PricingError, TariffError
from core.tariffs.service import price_session, quote, quotes, running_cost
from tests.tariffs.builders import (
    charged,
    database,
    driver,
    member_prices,
    oslo,
    place,
    transaction,
)

WEDNESDAY_NOON = oslo(2026, 5, 6, 12, 0)
WEDNESDAY_EVENING = oslo(2026, 5, 6, 19, 0)


def prices(q) -> list[tuple[str, Decimal, str]]:
    return [(c.kind, c.unit_price_ore, c.unit) for c in q.components]


async def test_member_guest_and_employee_see_their_own_group_prices(db_url):
    async with database(db_url) as db, transaction(db) as s:
        where = await place(s)
        await member_prices(s, where)
        member = await driver(s, "91000001", "member")
        employee = await driver(s, "91000002", "employee")
        tenant = await driver(s, "91000003", "tenant")  # no tariff of its own
        pk = where.connectors[0]

        q = await quote(s, pk, member.id, WEDNESDAY_NOON)
        assert (q.customer_group, q.tariff_name, q.headline_ore_per_kwh) == (
            "member",
            "Beboer",
            250,
        )
        assert prices(q) == [("energy", Decimal("250.00"), "kWh")]

        q = await quote(s, pk, employee.id, WEDNESDAY_NOON)
        assert q.headline_ore_per_kwh == 100
        assert [(c.unit_price_ore, c.window_en, c.applies_now) for c in q.components] == [
            (Decimal("100.00"), "weekdays 08:00\u201316:00", True),
            (Decimal("200.00"), "weekdays 16:00\u201308:00", False),
            (Decimal("200.00"), "weekends", False),
        ]
        assert (await quote(s, pk, employee.id, WEDNESDAY_EVENING)).headline_ore_per_kwh == 200

        for guest in (None, tenant.id):
            q = await quote(s, pk, guest, WEDNESDAY_NOON)
            assert (q.tariff_name, q.headline_ore_per_kwh) == ("Gjest", 450)
            assert prices(q) == [
                ("energy", Decimal("450.00"), "kWh"),
                ("parking", Decimal("100.00"), "min"),
            ]
            assert q.components[1].grace_minutes == 30
            assert "after 30 min" in q.components[1].description_en


async def test_service_cars_charge_for_free(db_url):
    async with database(db_url) as db, transaction(db) as s:
        where = await place(s)
        await member_prices(s, where)
        van = await driver(s, "91000004", "service")
        q = await quote(s, where.connectors[0], van.id, WEDNESDAY_NOON)
        assert (q.free, q.headline_ore_per_kwh, q.message_en) == (True, 0, "Free charging")
        cs = await charged(s, where, van, WEDNESDAY_NOON, 60, 11, idle_minutes=60)
        breakdown = await price_session(s, cs)
        assert (breakdown.total_ore, cs.cost_ore, breakdown.lines) == (0, 0, [])


async def test_a_charger_tariff_beats_the_site_tariff_for_the_same_group(db_url):
    async with database(db_url) as db, transaction(db) as s:
        where = await place(s)
        fast = await place(s, charger="SOL-DC", max_kw=150, connectors=1)
        await member_prices(s, where)
        await admin.create_tariff(s, "Hurtig")
        await admin.add_component(s, "Hurtig", kind="energy", price_ore=480)
        await admin.attach_tariff(s, "Hurtig", charger="SOL-DC", valid_from=oslo(2026, 1, 1))
        member = await driver(s, "91000001", "member")
        found = await quotes(s, [where.connectors[0], fast.connectors[0]], None, WEDNESDAY_NOON)
        assert {pk: q.tariff_name for pk, q in found.items()} == {
            where.connectors[0]: "Gjest",
            fast.connectors[0]: "Hurtig",
        }
        # The member's own site price still wins over the charger's public price.
        q = await quote(s, fast.connectors[0], member.id, WEDNESDAY_NOON)
        assert q.tariff_name == "Beboer"


async def test_list_price_is_the_fallback_and_no_price_is_said_plainly(db_url):
    async with database(db_url) as db, transaction(db) as s:
        listed = await place(s, site="Torget", charger="TORG-1", list_price=390)
        bare = await place(s, site="Ingen pris", charger="BARE-1")
        q = await quote(s, listed.connectors[0], None, WEDNESDAY_NOON)
        assert (q.source, q.tariff_name, q.headline_ore_per_kwh) == ("list_price", "Listepris", 390)
        assert prices(q) == [("energy", Decimal("390.00"), "kWh")]
        cs = await charged(s, listed, None, WEDNESDAY_NOON, 60, 10)
        assert (await price_session(s, cs)).total_ore == 3900

        q = await quote(s, bare.connectors[0], None, WEDNESDAY_NOON)
        assert (q.price_configured, q.components, q.headline_ore_per_kwh) == (False, [], None)
        assert q.message_en == "No price has been set for this charger"
        cs = await charged(s, bare, None, WEDNESDAY_NOON, 60, 10)
        breakdown = await price_session(s, cs)
        assert (breakdown.price_configured, cs.cost_ore) == (False, None)
        with pytest.raises(TariffError):
            await quote(s, 999_999, None, WEDNESDAY_NOON)


async def test_quote_lists_kwh_then_minute_then_session_prices(db_url):
    async with database(db_url) as db, transaction(db) as s:
        where = await place(s)
        await admin.create_tariff(s, "Alt")
        await admin.add_component(s, "Alt", kind="session", price_ore=400)
        await admin.add_component(s, "Alt", kind="parking", price_ore=40, grace_minutes=10)
        await admin.add_component(s, "Alt", kind="time", price_ore=1200, unit="h")
        await admin.add_component(s, "Alt", kind="energy", price_ore=300, cap_ore=20000)
        await admin.attach_tariff(s, "Alt", site=where.site, valid_from=oslo(2026, 1, 1))
        q = await quote(s, where.connectors[0], None, WEDNESDAY_NOON)
        assert prices(q) == [
            ("energy", Decimal("375.00"), "kWh"),
            ("time", Decimal("1500.00"), "h"),
            ("parking", Decimal("50.00"), "min"),
            ("session", Decimal("500.00"), "session"),
        ]
        assert q.components[0].cap_ore == 25000


async def test_final_price_is_stored_on_the_session_with_its_breakdown(db_url):
    async with database(db_url) as db:
        async with transaction(db) as s:
            where = await place(s)
            await member_prices(s, where)
            employee = await driver(s, "91000002", "employee")
            # 15:00-17:00 on a Wednesday at 11 kW: 11 kWh at 1.00 kr, 11 kWh at 2.00 kr.
            cs = await charged(s, where, employee, oslo(2026, 5, 6, 15, 0), 120, 11)
            breakdown = await price_session(s, cs)
            session_id = cs.id
        async with transaction(db) as s:
            cs = await s.get_one(ChargingSession, session_id)
            assert (cs.cost_ore, cs.vat_ore, cs.price_group) == (3300, 660, "employee")
            assert cs.tariff_id == breakdown.tariff_id is not None
            assert cs.cost_breakdown is not None and cs.cost_breakdown["final"] is True
            again = await running_cost(s, session_id, oslo(2026, 6, 1))
            assert again == breakdown
            assert [(line.quantity, line.total_ore) for line in again.lines] == [
                (Decimal("11.000"), 1100),
                (Decimal("11.000"), 2200),
            ]


async def test_a_session_keeps_the_tariff_valid_when_it_started(db_url):
    async with database(db_url) as db, transaction(db) as s:
        where = await place(s)
        await member_prices(s, where)
        member = await driver(s, "91000001", "member")
        await admin.create_tariff(s, "Beboer 2027")
        await admin.add_component(s, "Beboer 2027", kind="energy", price_ore=400)
        change = oslo(2026, 5, 6, 13, 0)
        await admin.attach_tariff(
            s, "Beboer 2027", site=where.site, group="member", valid_from=change
        )
        before = await charged(s, where, member, oslo(2026, 5, 6, 12, 30), 60, 10)
        after = await charged(s, where, member, change, 60, 10, evse=2)
        assert (await price_session(s, before)).total_ore == 2500
        assert (await price_session(s, after)).total_ore == 5000
        assert (await quote(s, where.connectors[0], member.id, change)).tariff_name == "Beboer 2027"


async def test_a_tariff_that_priced_sessions_cannot_be_changed(db_url):
    async with database(db_url) as db, transaction(db) as s:
        where = await place(s)
        await member_prices(s, where)
        await price_session(s, await charged(s, where, None, WEDNESDAY_NOON, 30, 7))
        with pytest.raises(TariffError, match="create a new tariff"):
            await admin.add_component(s, "Gjest", kind="session", price_ore=100)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"kind": "energy", "price_ore": 100, "unit": "min"}, "per kWh"),
        ({"kind": "energy", "price_ore": -1}, "cannot be negative"),
        ({"kind": "time", "price_ore": 1, "grace_minutes": 5}, "only a parking"),
        ({"kind": "spot_energy", "price_ore": 10}, "needs an area"),
        ({"kind": "energy", "price_ore": 1, "start": "08:00"}, "both"),
        ({"kind": "energy", "price_ore": 1, "days": "someday"}, "unknown day"),
        ({"kind": "energy", "price_ore": 1, "min_power_kw": 50, "max_power_kw": 22}, "band"),
        ({"kind": "coffee", "price_ore": 1}, "unknown component kind"),
    ],
)
async def test_bad_components_are_refused_with_a_reason(db_url, kwargs, message):
    async with database(db_url) as db, transaction(db) as s:
        await admin.create_tariff(s, "T")
        with pytest.raises(TariffError, match=message):
            await admin.add_component(s, "T", **kwargs)


async def test_spot_tariff_without_a_published_price_refuses_a_final_price(db_url):
    async with database(db_url) as db, transaction(db) as s:
        where = await place(s)
        await admin.create_tariff(s, "Spot")
        await admin.add_component(s, "Spot", kind="spot_energy", price_ore=30, spot_area="NO1")
        await admin.attach_tariff(s, "Spot", site=where.site, valid_from=oslo(2026, 1, 1))
        q = await quote(s, where.connectors[0], None, WEDNESDAY_NOON)
        assert q.headline_ore_per_kwh is None
        assert "not published yet" in q.components[0].description_en
        cs = await charged(s, where, None, WEDNESDAY_NOON, 60, 4)
        with pytest.raises(PricingError):
            await price_session(s, cs)
        assert cs.cost_ore is None
        assert (
            await s.execute(select(ChargingSession.cost_ore).where(ChargingSession.id == cs.id))
        ).scalar() is None


async def test_an_unpriced_session_is_priced_later_and_then_keeps_its_price(db_url):
    async with database(db_url) as db, transaction(db) as s:
        bare = await place(s, site="Ingen pris", charger="BARE-1")
        cs = await charged(s, bare, None, WEDNESDAY_NOON, 60, 10)
        assert (await price_session(s, cs)).price_configured is False
        cs.payment_state = "unpriced"  # what payments records while it waits for a price
        await admin.set_list_price(s, "Ingen pris", 390)
        assert (await price_session(s, cs)).total_ore == cs.cost_ore == 3900
        cs.payment_state = "paid"
        await admin.set_list_price(s, "Ingen pris", 500)
        assert (await price_session(s, cs)).total_ore == cs.cost_ore == 3900


async def test_detaching_a_group_tariff_falls_back_to_the_public_price(db_url):
    async with database(db_url) as db, transaction(db) as s:
        where = await place(s)
        await member_prices(s, where)
        member = await driver(s, "91000001", "member")
        later = oslo(2026, 6, 1)
        assert await admin.detach_tariff(s, site=where.site, group="member", at=later) == 1
        assert (
            await quote(s, where.connectors[0], member.id, WEDNESDAY_NOON)
        ).tariff_name == "Beboer"
        assert (await quote(s, where.connectors[0], member.id, later)).tariff_name == "Gjest"
        with pytest.raises(TariffError, match="later tariff"):
            await admin.attach_tariff(
                s, "Beboer", site=where.site, group="public", valid_from=oslo(2025, 1, 1)
            )
