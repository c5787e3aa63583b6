"""Charging history in Chromium: filters, paging, a session's meter curve and price
breakdown, the CSV export; an organisation admin sees only their own sessions."""

from __future__ import annotations

import csv
import io

import pytest
import pytest_asyncio

from tests.dashboard.conftest import add_sessions, screenshot, signed_in_page

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def arranged(live, world):
    a, b = world.a.ids, world.b.ids
    curve = await add_sessions(live, a["charger_id"], 1, user_id=a["driver_id"], samples=True)
    await add_sessions(live, a["charger_id"], 59)
    await add_sessions(live, b["charger_id"], 3, user_id=b["driver_id"])
    return curve[0]


async def test_history_pages_through_the_organisations_own_sessions(
    chromium, site_url, live, world, arranged
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        await page.goto("/dashboard/history")
        await page.get_by_role("heading", name="Ladehistorikk").wait_for()
        # 60 arranged + the world's own session of A; none of B's.
        assert await page.locator("#sum-sessions").inner_text() == "61"
        assert await page.locator("#sum-energy").inner_text() == "610,000"
        assert await page.locator("#sessions tbody tr").count() == 50
        body = await page.locator("main").inner_text()
        for marker in ["Tofte", "TOFTE-1", "+4791000002", "PERTAG"]:
            assert marker not in body, marker
        await page.locator("#next-page").click()
        await page.wait_for_url("**cursor=**")
        assert await page.locator("#sessions tbody tr").count() == 11
        assert await page.locator("#next-page").count() == 0

        await page.goto("/dashboard/history")
        await page.select_option("#f-payment", "to_invoice")
        await page.get_by_role("button", name="Vis").click()
        await page.wait_for_url("**payment=to_invoice**")
        assert await page.locator("#sum-sessions").inner_text() == "1"
        await screenshot(page, "history")

        href = await page.locator("#export-csv").get_attribute("href")
        export = await page.request.get(f"{site_url}{href}")
        assert export.headers["content-type"] == "text/csv; charset=utf-8"
        text = (await export.body()).decode("utf-8-sig")
        rows = list(csv.DictReader(io.StringIO(text), delimiter=";"))
        assert len(rows) == 1 and rows[0]["session"] == str(arranged)
        assert rows[0]["kwh"] == "10,000" and rows[0]["cost_nok"] == "25,00"
    finally:
        await page.context.close()


async def test_session_detail_shows_meter_curve_and_price_lines(
    chromium, site_url, live, world, arranged
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        await page.goto(f"/dashboard/history/{arranged}")
        await page.get_by_role("heading", name=f"Lading {arranged}").wait_for()
        assert await page.locator("#driver").inner_text() == "Driver Klokkarstua"
        assert await page.locator("#total").inner_text() == "kr 25,00"
        line = page.locator("#breakdown tbody tr").first
        assert " ".join((await line.inner_text()).split()) == "Energi 10,000 kWh kr 2,50 kr 25,00"
        await page.locator("#meter-chart .uplot canvas").wait_for()
        assert await page.locator("#meter-chart .u-legend").count() == 1
        await screenshot(page, "session")
    finally:
        await page.context.close()


async def test_another_organisations_session_site_and_export_are_not_found(
    chromium, site_url, live, world, arranged
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    b = world.b.ids
    try:
        for path in (
            f"/dashboard/history/{b['session_id']}",
            f"/dashboard/history?site={b['site_id']}",
            f"/dashboard/history?charger={b['charger_id']}",
            f"/dashboard/history.csv?site={b['site_id']}",
        ):
            response = await page.request.get(f"{site_url}{path}")
            assert response.status == 404, path
        everything = await page.request.get(f"{site_url}/dashboard/history.csv")
        text = await everything.text()
        assert text.count("\r\n") == 62  # header + A's 61
        assert "TOFTE-1" not in text and "Tofte" not in text
    finally:
        await page.context.close()
