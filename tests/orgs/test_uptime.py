"""Status changes and what is read from them (dashboard page 10): a charger's reports over a
real OCPP socket are recorded once per change; uptime and faulted time are the clipped sums
of those changes; fault history lists faults with their end; all scoped to the actor."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ocpp.v16 import call as call16
from sqlalchemy import insert, select

from core.chargers.service import CONNECTED, connection_rows, mark_all_offline
from core.db import transaction
from core.models import ChargerStatusChange
from core.models.orgs import Role
from core.orgs.scope import Actor, Grant
from core.orgs.uptime import faults, uptime
from tests.helpers import boot16, connect
from tests.orgs.world import build_world
from tests.pages.flows import until

OPERATOR = Actor.cli("test")
T0 = datetime(2026, 3, 2, 0, 0, tzinfo=UTC)


def org_admin(org_id: int) -> Actor:
    return Actor("staff", 1, "board", (Grant(Role.ORG_ADMIN, org_id),))


async def changes(runtime, charger_id: int) -> list[tuple]:
    async with runtime.gateway_ctx.sessions() as s:
        rows = await s.execute(
            select(
                ChargerStatusChange.kind,
                ChargerStatusChange.evse_id,
                ChargerStatusChange.status,
                ChargerStatusChange.error_code,
            )
            .where(ChargerStatusChange.charger_id == charger_id)
            .order_by(ChargerStatusChange.id)
        )
        return [tuple(r) for r in rows]


async def test_a_chargers_reports_are_recorded_once_per_change(runtime, ocpp_url):
    async with transaction(runtime.gateway_ctx.sessions) as s:
        world = await build_world(s)
    charger = world.a.ids["charger_id"]
    async with connect(ocpp_url, "KLOKK-1") as cp:
        await cp.call(boot16())
        for connector, status, error in (
            (1, "Available", "NoError"),
            (1, "Available", "NoError"),  # the same again: no new row
            (2, "Faulted", "GroundFailure"),
            (2, "Available", "NoError"),
            (0, "Available", "NoError"),
        ):
            await cp.call(
                call16.StatusNotification(connector_id=connector, error_code=error, status=status)
            )
    expected = [
        ("connection", 0, "Online", None),
        ("status", 1, "Available", None),
        ("status", 2, "Faulted", "GroundFailure"),
        ("status", 2, "Available", None),
        ("status", 0, "Available", None),
        ("connection", 0, "Offline", None),
    ]

    async def recorded() -> bool:
        return await changes(runtime, charger) == expected

    await until(recorded, "the disconnection to be recorded")
    # A restart marks every charger offline: nothing new for one that is offline already.
    async with transaction(runtime.gateway_ctx.sessions) as s:
        await mark_all_offline(s)
    assert await changes(runtime, charger) == expected


async def test_connects_and_disconnects_of_one_batch_are_each_recorded(app_runtime):
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        world = await build_world(s)
    a = world.a.ids["charger_id"]
    rows = []
    for n, online in enumerate((True, True, False, True)):
        written, _ = connection_rows(a, "KLOKK-1", online, T0 + timedelta(minutes=n))
        rows += [row for _, row in written]
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        await CONNECTED.write(s, rows)  # as the write batcher does, all in one statement
    assert [status for _, _, status, _ in await changes(app_runtime, a)] == [
        "Online",
        "Offline",
        "Online",
    ]


async def test_uptime_and_faulted_time_are_clipped_sums_of_the_changes(app_runtime):
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        world = await build_world(s)
        a, b = world.a.ids["charger_id"], world.b.ids["charger_id"]

        def row(charger: int, kind: str, status: str, hours: float, evse: int = 0, code=None):
            return {
                "charger_id": charger,
                "kind": kind,
                "evse_id": evse,
                "connector_id": 1 if evse else 0,
                "status": status,
                "error_code": code,
                "at": T0 + timedelta(hours=hours),
            }

        await s.execute(
            insert(ChargerStatusChange),
            [
                # Online from the day before the period: counts from the period's start.
                row(a, "connection", "Online", -24),
                row(a, "connection", "Offline", 6),
                row(a, "connection", "Online", 9),
                row(a, "status", "Faulted", 2, evse=2, code="GroundFailure"),
                row(a, "status", "Available", 5, evse=2),
                row(a, "status", "Faulted", 20, evse=1, code="PowerMeterFailure"),
                row(b, "connection", "Online", 0),
            ],
        )
    start, end = T0, T0 + timedelta(hours=24)
    async with app_runtime.gateway_ctx.sessions() as s:
        mine = await uptime(s, org_admin(world.a.ids["org_id"]), start, end)
        assert set(mine) == {a}
        assert mine[a].observed_s == 24 * 3600
        assert mine[a].online_s == 21 * 3600
        assert mine[a].faulted_s == (3 + 4) * 3600  # evse 2 02-05, evse 1 from 20 on
        assert round(mine[a].share or 0, 4) == 0.875
        everyone = await uptime(s, OPERATOR, start, end)
        assert everyone[b].online_s == 24 * 3600

        found = await faults(s, org_admin(world.a.ids["org_id"]), start, end)
        assert [(f.evse_id, f.error_code, f.until) for f in found] == [
            (1, "PowerMeterFailure", None),
            (2, "GroundFailure", T0 + timedelta(hours=5)),
        ]
        assert await faults(s, org_admin(world.b.ids["org_id"]), start, end) == []
