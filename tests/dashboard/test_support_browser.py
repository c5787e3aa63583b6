"""Customer support in Chromium: find a driver by phone, tag, charger or session; a note;
a support stop that reaches the charger over its real OCPP socket (audited); and nothing of
another organisation found."""

from __future__ import annotations

import pytest
import pytest_asyncio
from ocpp.v16 import call as call16
from sqlalchemy import select

from core.db import transaction
from core.models import AuditEntry, ChargingSession
from core.timeutil import utcnow
from tests.dashboard.conftest import add_sessions, screenshot, signed_in_page
from tests.helpers import boot16, connect
from tests.pages.flows import until

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def running(live, world) -> int:
    a = world.a.ids
    await add_sessions(live, a["charger_id"], 2, user_id=a["driver_id"], samples=True)
    async with transaction(live.gateway_ctx.sessions) as s:
        cs = ChargingSession(
            charger_id=a["charger_id"],
            evse_id=1,
            connector_id=1,
            transaction_id="4242",
            user_id=a["driver_id"],
            id_token="KARITAG",
            status="active",
            started_at=utcnow(),
            energy_wh=1200,
            last_power_w=11_000,
            flags=[],
        )
        s.add(cs)
        await s.flush()
        return int(cs.id)


async def test_support_finds_a_member_by_phone_tag_charger_and_session(
    chromium, site_url, live, world, running
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        for query, expected in (
            ("91000001", "Driver Klokkarstua"),
            ("KARITAG", "KARITAG"),
            ("klokk-1", "KLOKK-1"),
            (str(running), f"#{running}"),
        ):
            await page.goto("/dashboard/support")
            await page.fill("#q", query)
            await page.get_by_role("button", name="Søk").click()
            await page.locator("#results").wait_for()
            assert expected in await page.locator("#results").inner_text(), query
        # B's phone, tag, charger and session: nothing.
        for query in ("91000002", "PERTAG", "TOFTE-1", str(world.b.ids["session_id"])):
            await page.goto(f"/dashboard/support?q={query}")
            assert "Fant ingenting." in await page.locator("#results").inner_text(), query
        response = await page.request.get(
            f"{site_url}/dashboard/support/driver/{world.b.ids['driver_id']}"
        )
        assert response.status == 404

        await page.goto(f"/dashboard/support/driver/{world.a.ids['driver_id']}")
        await page.fill("#note-text", "Ringte om kvittering")
        await page.get_by_role("button", name="Lagre").click()
        await page.locator("#flash-ok").wait_for()
        assert "Ringte om kvittering" in await page.locator("#notes").inner_text()
        await screenshot(page, "support")
    finally:
        await page.context.close()


async def test_support_stop_reaches_the_charger_and_is_audited(
    chromium, site_url, live, world, running, ocpp
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        async with connect(ocpp, "KLOKK-1") as charger:
            await charger.call(boot16())
            await charger.call(
                call16.StatusNotification(connector_id=1, error_code="NoError", status="Charging")
            )
            await page.goto(f"/dashboard/history/{running}")
            await page.locator("#stop").click()
            await page.locator("#flash-ok").wait_for()
            assert await page.locator("#flash-ok").inner_text() == "Utført: Accepted"
            stops = [kw for action, kw in charger.received if action == "RemoteStopTransaction"]
            assert stops == [{"transaction_id": 4242}]
        async with transaction(live.gateway_ctx.sessions) as s:
            entry = (
                (
                    await s.execute(
                        select(AuditEntry)
                        .where(AuditEntry.action == "charger.command")
                        .order_by(AuditEntry.id.desc())
                    )
                )
                .scalars()
                .first()
            )
        assert entry is not None and entry.organisation_id == world.a.ids["org_id"]
        assert entry.after["command"] == "RemoteStop"
        assert entry.actor_label.startswith(f"staff {world.a.staff_email}")
        # The charger is gone now: the next command says so on the page.
        await page.locator("#unlock").click()
        await until(lambda: page.locator("#flash-error").count(), "the offline message")
        assert "ChargerOffline" in await page.locator("#flash-error").inner_text()
    finally:
        await page.context.close()
