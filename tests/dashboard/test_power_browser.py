"""Power management in Chromium: a site's main fuse, peak cap and a charger's maximum are
set (and logged), the load per line is shown against the fuse with how the allocator would
share it between the cars charging now; another organisation's site is not found."""

from __future__ import annotations

from datetime import timedelta

import pytest
import pytest_asyncio

from core.db import transaction
from core.models import ChargingSession, MeterSample
from core.timeutil import utcnow
from tests.dashboard.conftest import screenshot, signed_in_page

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def charging(live, world):
    """Two cars charging on KLOKK-1, 16 A on each line each."""
    charger = world.a.ids["charger_id"]
    began = utcnow() - timedelta(minutes=20)
    async with transaction(live.gateway_ctx.sessions) as s:
        for evse in (1, 2):
            cs = ChargingSession(
                charger_id=charger,
                evse_id=evse,
                connector_id=1,
                transaction_id=f"power-{evse}",
                status="active",
                started_at=began,
                energy_wh=3_000,
                last_power_w=11_000,
                price_group="public",
                flags=[],
            )
            s.add(cs)
            await s.flush()
            s.add(
                MeterSample(
                    session_id=cs.id,
                    charger_id=charger,
                    connector_id=evse,
                    sampled_at=began + timedelta(minutes=19),
                    energy_wh=3_000,
                    power_w=11_000,
                    current_a=16.0,
                )
            )


def rows_of(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


async def test_limits_are_set_and_the_load_is_shared_against_the_fuse(
    chromium, site_url, live, world, charging
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    charger = world.a.ids["charger_id"]
    try:
        await page.goto("/dashboard/power")
        await page.get_by_role("heading", name="Effektstyring").wait_for()
        assert await page.locator("#no-balancer").count() == 1
        assert await page.locator("#line-1").inner_text() == "32,0 / \u2013 A"
        assert await page.locator("#pw-total").inner_text() == "22,0 kW"

        await page.fill("#pw-fuse", "25")
        await page.fill("#pw-peak", "17,5")
        await page.locator("#limits-form button").click()
        await page.locator("#flash-ok").wait_for()
        assert await page.locator("#line-1").inner_text() == "32,0 / 25 A"
        assert await page.locator("#pw-share").inner_text() == "128,0 %"
        # 11 kW chargers (15,9 A) under a 25 A fuse: 12,5 A each, shared.
        shares = rows_of(await page.locator("#allocation tbody").inner_text())
        assert shares == [
            "KLOKK-1 #1 11,0 16,0 31,9 12,5 (delt)",
            "KLOKK-1 #2 11,0 16,0 31,9 12,5 (delt)",
        ]

        await page.fill(f"#max-{charger}", "11")
        await page.locator(f"#charger-limits form[action$='/{charger}/max'] button").click()
        await page.locator("#flash-ok").wait_for()
        shares = rows_of(await page.locator("#allocation tbody").inner_text())
        # The charger's own supply (11 kW, 15,9 A) is shared by its two connectors.
        assert shares[0] == "KLOKK-1 #1 11,0 16,0 15,9 7,9 (delt)"
        log = await page.locator("#power-log").inner_text()
        assert "site.power" in log and "charger.update" in log and "max_power_w" in log

        # The live part is polled: its fragment alone says the same.
        assert await page.locator("#power-live").get_attribute("hx-trigger") == "every 5s"
        live_part = await page.request.get(
            f"{site_url}/dashboard/power/live?site={world.a.ids['site_id']}"
        )
        assert "32,0 / 25 A" in await live_part.text()
        await screenshot(page, "power")
    finally:
        await page.context.close()


async def test_another_organisations_power_is_not_found(chromium, site_url, live, world):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    b = world.b.ids
    try:
        await page.goto("/dashboard/power")
        csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
        for path in (
            f"/dashboard/power?site={b['site_id']}",
            f"/dashboard/power/live?site={b['site_id']}",
        ):
            response = await page.request.get(f"{site_url}{path}")
            assert response.status == 404, path
        for path, form in (
            ("/dashboard/power/limits", {"site": str(b["site_id"]), "fuse_a": "6"}),
            (
                f"/dashboard/power/chargers/{b['charger_id']}/max",
                {"site": str(b["site_id"]), "max_kw": "1"},
            ),
        ):
            response = await page.request.post(
                f"{site_url}{path}", form={**form, "csrf_token": csrf}, max_redirects=0
            )
            assert response.status == 404, path
        assert "Tofte" not in await page.locator("main").inner_text()
    finally:
        await page.context.close()
