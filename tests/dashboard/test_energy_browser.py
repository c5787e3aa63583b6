"""Energy and cost in Chromium: a period's sums per facility, driver and company, the chart
(uPlot), CSV and XLSX exports; an organisation admin sees no other organisation's energy
on the page, in the exports or in the chart."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from openpyxl import load_workbook

from core.db import transaction
from core.models import BillingProfile
from tests.dashboard.conftest import add_sessions, screenshot, signed_in_page

pytestmark = pytest.mark.asyncio(loop_scope="module")

FEBRUARY = "from=2026-02-01&to=2026-02-28"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def arranged(live, world):
    a, b = world.a.ids, world.b.ids
    noon = datetime(2026, 2, 10, 12, tzinfo=UTC)
    await add_sessions(live, a["charger_id"], 3, user_id=a["driver_id"], start=noon)
    await add_sessions(live, a["charger_id"], 2, start=datetime(2026, 2, 20, 12, tzinfo=UTC))
    await add_sessions(live, b["charger_id"], 4, user_id=b["driver_id"], start=noon)
    async with transaction(live.gateway_ctx.sessions) as s:
        s.add(BillingProfile(user_id=a["driver_id"], company_name="Hansen Transport AS"))
        s.add(BillingProfile(user_id=b["driver_id"], company_name="Tofte Frakt AS"))


async def test_a_periods_energy_per_driver_and_company_with_chart_and_exports(
    chromium, site_url, live, world, arranged
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        await page.goto(f"/dashboard/energy?{FEBRUARY}&step=week")
        await page.get_by_role("heading", name="Energi og kostnad").wait_for()
        assert await page.locator("#sum-sessions").inner_text() == "5"
        assert await page.locator("#sum-energy").inner_text() == "50,000"
        assert await page.locator("#sum-cost").inner_text() == "kr 125,00"
        await page.locator("#energy-chart .uplot canvas").wait_for()

        await page.select_option("#f-by", "driver")
        await page.get_by_role("button", name="Vis").click()
        await page.wait_for_url("**by=driver**")
        rows = [
            " ".join((await r.inner_text()).split())
            for r in await page.locator("#sums tbody tr").all()
        ]
        assert rows == [
            "Driver Klokkarstua 3 30,000 60,00 15,00 75,00",
            "Gjester og andre 2 20,000 40,00 10,00 50,00",
        ]
        await page.locator("#energy-chart .uplot canvas").wait_for()
        legend = await page.locator("#energy-chart .u-legend").inner_text()
        assert "Driver Klokkarstua" in legend and "Tofte" not in legend

        await page.select_option("#f-by", "company")
        await page.get_by_role("button", name="Vis").click()
        await page.wait_for_url("**by=company**")
        assert "Hansen Transport AS" in await page.locator("#sums").inner_text()

        href = await page.locator("#export-csv").get_attribute("href")
        export = await page.request.get(f"{site_url}{href}")
        assert export.headers["content-type"] == "text/csv; charset=utf-8"
        rows = list(
            csv.reader(io.StringIO((await export.body()).decode("utf-8-sig")), delimiter=";")
        )
        assert rows[1] == [
            "Hansen Transport AS",
            "Hansen Transport AS",
            "3",
            "30,000",
            "60,00",
            "15,00",
            "75,00",
        ]
        assert rows[-1][1:] == ["Totalt", "5", "50,000", "100,00", "25,00", "125,00"]

        href = await page.locator("#export-xlsx").get_attribute("href")
        export = await page.request.get(f"{site_url}{href}")
        book = load_workbook(io.BytesIO(await export.body()))
        sums, weeks = book.worksheets
        assert [c.value for c in sums[3]] == ["Hansen Transport AS", 3, 30.0, 60.0, 15.0, 75.0]
        assert sum(row[2].value for row in weeks.iter_rows(min_row=2)) == 50.0

        await page.goto(f"/dashboard/energy?{FEBRUARY}&by=driver&step=day")
        await page.locator("#energy-chart .uplot canvas").wait_for()
        await screenshot(page, "energy")
    finally:
        await page.context.close()


async def test_another_organisations_energy_is_not_found_nor_summed(
    chromium, site_url, live, world, arranged
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    b = world.b.ids
    try:
        for path in (
            f"/dashboard/energy?{FEBRUARY}&site={b['site_id']}",
            f"/dashboard/energy?{FEBRUARY}&org={b['org_id']}",
            f"/dashboard/energy.csv?{FEBRUARY}&site={b['site_id']}",
            f"/dashboard/energy.xlsx?{FEBRUARY}&org={b['org_id']}",
            f"/dashboard/energy.csv?{FEBRUARY}&driver={b['driver_id']}",
        ):
            response = await page.request.get(f"{site_url}{path}")
            assert response.status == 404, path
        for by in ("driver", "company", "site", "group"):
            answer = await page.request.get(f"{site_url}/dashboard/energy?{FEBRUARY}&by={by}")
            text = await answer.text()
            for marker in ("Tofte", "TOFTE-1", "+4791000002", "tenant"):
                assert marker not in text, (by, marker)
            export = await page.request.get(f"{site_url}/dashboard/energy.xlsx?{FEBRUARY}&by={by}")
            book = load_workbook(io.BytesIO(await export.body()))
            cells = " ".join(
                str(c.value) for sheet in book.worksheets for row in sheet.iter_rows() for c in row
            )
            assert "Tofte" not in cells, (by, cells)
            assert "50" in cells, (by, cells)
    finally:
        await page.context.close()


async def test_the_operator_sums_every_organisation(chromium, site_url, live, world, arranged):
    from tests.dashboard.conftest import OPERATOR_EMAIL

    page = await signed_in_page(chromium, site_url, live, OPERATOR_EMAIL)
    try:
        await page.goto(f"/dashboard/energy?{FEBRUARY}&by=site&lang=en")
        assert await page.locator("#sum-sessions").inner_text() == "9"
        text = await page.locator("#sums").inner_text()
        assert "Klokkarstua" in text and "Tofte" in text
        await page.select_option("#f-org", str(world.b.ids["org_id"]))
        await page.get_by_role("button", name="Show").click()
        await page.wait_for_url("**org=**")
        assert await page.locator("#sum-sessions").inner_text() == "4"
        await page.goto("/dashboard?lang=nb")
    finally:
        await page.context.close()
