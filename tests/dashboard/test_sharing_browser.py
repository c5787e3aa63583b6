"""Cost sharing in Chromium: a site's bill for a month previewed by metered energy, published
(audited), refused twice unless replaced, in the history and as CSV; another organisation's
member charging here is not named; another organisation's bills are not found."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio

from core.db import transaction
from core.orgs import sharing
from core.orgs.scope import Actor
from tests.dashboard.conftest import add_sessions, screenshot, signed_in_page

pytestmark = pytest.mark.asyncio(loop_scope="module")

FEB = datetime(2026, 2, 10, 12, tzinfo=UTC)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def arranged(live, world):
    a, b = world.a.ids, world.b.ids
    await add_sessions(live, a["charger_id"], 3, user_id=a["driver_id"], start=FEB)
    await add_sessions(live, a["charger_id"], 2, start=FEB - timedelta(hours=3))
    # Tofte's member charging at Klokkarstua: in the split, never by name.
    await add_sessions(
        live, a["charger_id"], 1, user_id=b["driver_id"], start=FEB - timedelta(hours=5)
    )
    await add_sessions(live, b["charger_id"], 2, user_id=b["driver_id"], start=FEB)
    async with transaction(live.gateway_ctx.sessions) as s:
        split = await sharing.publish(s, Actor.cli("test"), b["site_id"], "2026-02", 50_000)
    return split.bill_id


def rows_of(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


async def test_preview_publish_replace_and_export_a_split(
    chromium, site_url, live, world, arranged
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        await page.goto("/dashboard/sharing")
        await page.get_by_role("heading", name="Kostnadsdeling", exact=True).wait_for()
        await page.fill("#s-period", "2026-02")
        await page.fill("#s-amount", "600,00")
        await page.get_by_role("button", name="Forhåndsvis").click()
        await page.locator("#preview").wait_for()
        shares = rows_of(await page.locator("#shares tbody").inner_text())
        assert shares == [
            "Driver Klokkarstua 30,000 50,0 % kr 300,00",
            "Ikke medlem 10,000 16,7 % kr 100,00",
            "Ukjente brikker (bæres av anlegget) 20,000 33,3 % kr 200,00",
        ]
        assert await page.locator("#shares-total").inner_text() == "kr 600,00"
        await screenshot(page, "sharing")

        await page.get_by_role("button", name="Publiser").click()
        await page.locator("#flash-ok").wait_for()
        assert "2026-02" in await page.locator("h1").inner_text()
        href = await page.locator("#export-csv").get_attribute("href")
        export = await page.request.get(f"{site_url}{href}")
        rows = list(
            csv.DictReader(io.StringIO((await export.body()).decode("utf-8-sig")), delimiter=";")
        )
        assert [(r["name"], r["kwh"], r["share_nok"]) for r in rows] == [
            ("Driver Klokkarstua", "30,000", "300,00"),
            ("Ikke medlem", "10,000", "100,00"),
            ("Ukjente brikker (bæres av anlegget)", "20,000", "200,00"),
        ]
        assert "Tofte" not in await export.text()

        # A corrected bill: publishing again is refused, replacing is allowed.
        await page.goto("/dashboard/sharing")
        await page.fill("#s-period", "2026-02")
        await page.fill("#s-amount", "900")
        await page.get_by_role("button", name="Forhåndsvis").click()
        await page.get_by_role("button", name="Publiser").click()
        await page.locator("#flash-error").wait_for()
        await page.check("#replace")
        await page.get_by_role("button", name="Publiser").click()
        await page.locator("#flash-ok").wait_for()
        assert await page.locator("#shares-total").inner_text() == "kr 900,00"

        await page.goto("/dashboard/sharing")
        history = rows_of(await page.locator("#published tbody").inner_text())
        assert len(history) == 1 and history[0].startswith("2026-02 Klokkarstua kr 900,00")
        await screenshot(page, "sharing-history")
    finally:
        await page.context.close()


async def test_another_organisations_bills_are_not_found(chromium, site_url, live, world, arranged):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    b = world.b.ids
    try:
        await page.goto("/dashboard/sharing")
        csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
        for path in (
            f"/dashboard/sharing/{arranged}",
            f"/dashboard/sharing/{arranged}.csv",
            f"/dashboard/sharing/preview?site={b['site_id']}&period=2026-02&amount=100",
        ):
            response = await page.request.get(f"{site_url}{path}")
            assert response.status == 404, path
        response = await page.request.post(
            f"{site_url}/dashboard/sharing",
            form={
                "site": str(b["site_id"]),
                "period": "2026-02",
                "amount": "1",
                "csrf_token": csrf,
            },
            max_redirects=0,
        )
        assert response.status == 404
        text = await page.locator("main").inner_text()
        assert "Tofte" not in text and "kr 500,00" not in text
    finally:
        await page.context.close()
