"""Energy and cost sums (dashboard page 2) on SQLite and PostgreSQL: Oslo days, weeks and
months across the daylight-saving change, each grouping, and the actor's scope."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import insert

from core.db import transaction
from core.models import BillingProfile, ChargingSession
from core.models.orgs import Role
from core.orgs.energy import energy, presets
from core.orgs.fleet import SessionFilter, energy_report
from core.orgs.history import period
from core.orgs.scope import Actor, Grant
from core.orgs.sqltime import buckets, oslo_offsets
from tests.orgs.world import build_world

OPERATOR = Actor.cli("test")


def org_admin(org_id: int) -> Actor:
    return Actor("staff", 1, "board", (Grant(Role.ORG_ADMIN, org_id),))


def session_row(charger_id: int, at: datetime, wh: int, **more) -> dict:
    return {
        "charger_id": charger_id,
        "evse_id": 1,
        "connector_id": 1,
        "transaction_id": f"e-{charger_id}-{at.timestamp()}-{wh}",
        "status": "completed",
        "started_at": at,
        "stopped_at": at + timedelta(minutes=30),
        "energy_wh": wh,
        "cost_ore": wh // 4,
        "vat_ore": wh // 20,
        "flags": [],
        "offline": False,
        **more,
    }


def test_oslo_offsets_find_the_changes_of_a_year():
    offsets = oslo_offsets(datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    assert offsets[1:] == [
        (datetime(2026, 3, 29, 1, tzinfo=UTC), 7200),
        (datetime(2026, 10, 25, 1, tzinfo=UTC), 3600),
    ]
    assert offsets[0][1] == 3600


def test_buckets_and_presets():
    assert buckets(date(2026, 3, 30), date(2026, 4, 13), "week") == [
        date(2026, 3, 30),
        date(2026, 4, 6),
        date(2026, 4, 13),
    ]
    assert buckets(date(2025, 11, 15), date(2026, 2, 1), "month")[-1] == date(2026, 2, 1)
    p = presets(date(2026, 5, 17))
    assert p["last_month"] == (date(2026, 4, 1), date(2026, 4, 30))
    assert p["this_quarter"] == (date(2026, 4, 1), date(2026, 6, 30))
    assert p["last_quarter"] == (date(2026, 1, 1), date(2026, 3, 31))
    assert p["last_year"] == (date(2025, 1, 1), date(2025, 12, 31))


async def test_sums_by_oslo_day_week_and_month_across_summer_time(app_runtime):
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        world = await build_world(s)
        a, b = world.a.ids, world.b.ids
        s.add(BillingProfile(user_id=a["driver_id"], company_name="Hansen Transport AS"))
        rows = [
            # 23:30 UTC on 28 March is 00:30 on 29 March in Oslo (winter time).
            session_row(a["charger_id"], datetime(2026, 3, 28, 23, 30, tzinfo=UTC), 1000),
            # 22:30 UTC on 29 March is 00:30 on 30 March (summer time): a new week too.
            session_row(
                a["charger_id"],
                datetime(2026, 3, 29, 22, 30, tzinfo=UTC),
                2000,
                user_id=a["driver_id"],
                price_group="member",
            ),
            # 21:30 UTC on 31 March is 23:30 on 31 March: still March.
            session_row(a["charger_id"], datetime(2026, 3, 31, 21, 30, tzinfo=UTC), 4000),
            # 22:30 UTC on 31 March is 00:30 on 1 April: outside the period.
            session_row(a["charger_id"], datetime(2026, 3, 31, 22, 30, tzinfo=UTC), 8000),
            # Another organisation's, in the period.
            session_row(b["charger_id"], datetime(2026, 3, 30, 10, tzinfo=UTC), 16000),
            session_row(
                a["charger_id"],
                datetime(2026, 3, 30, 10, tzinfo=UTC),
                32000,
                status="active",
            ),
        ]
        await s.execute(insert(ChargingSession), rows)
    start, end = period(date(2026, 3, 29), date(2026, 3, 31))
    f = SessionFilter(start=start, end=end)
    actor = org_admin(a["org_id"])
    async with app_runtime.gateway_ctx.sessions() as s:
        by_day = await energy(s, actor, f, by="facility", step="day")
        assert by_day.total.energy_wh == 7000 and by_day.total.sessions == 3
        assert by_day.chart.buckets == [date(2026, 3, 29), date(2026, 3, 30), date(2026, 3, 31)]
        assert by_day.chart.energy_wh == [1000, 2000, 4000]
        by_week = await energy(s, actor, f, by="facility", step="week")
        assert by_week.chart.buckets == [date(2026, 3, 23), date(2026, 3, 30)]
        assert by_week.chart.energy_wh == [1000, 6000]
        by_month = await energy(s, actor, f, by="group", step="month")
        assert by_month.chart.energy_wh == [7000]
        assert {r.key: r.energy_wh for r in by_month.rows} == {"public": 5000, "member": 2000}

        drivers = await energy(s, actor, f, by="driver", step="day")
        assert {r.label: r.energy_wh for r in drivers.rows} == {
            "": 5000,
            "Driver Klokkarstua": 2000,
        }
        companies = await energy(s, actor, f, by="company", step="day")
        assert {r.key: r.energy_wh for r in companies.rows} == {
            "": 5000,
            "Hansen Transport AS": 2000,
        }
        sites = await energy(s, actor, f, by="site", step="day")
        assert [(r.label, r.energy_wh) for r in sites.rows] == [("Klokkarstua", 7000)]

        everyone = await energy(s, OPERATOR, f, by="site", step="day")
        assert {r.label: r.energy_wh for r in everyone.rows} == {
            "Klokkarstua": 7000,
            "Tofte": 16000,
        }
        assert everyone.chart.energy_wh == [1000, 18000, 4000]

        # The REST report's days (/api/v1/reports/energy?by=day) are the same Oslo days.
        report = await energy_report(s, actor, start=start, end=end, by="day")
        assert [(r.key, r.energy_wh) for r in report.rows] == [
            ("2026-03-29", 1000),
            ("2026-03-30", 2000),
            ("2026-03-31", 4000),
        ]
