"""People in Chromium: the organisation's members; a CSV import reports its rejected rows
line by line and imports the rest; nothing of another organisation is listed."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import screenshot, signed_in_page

pytestmark = pytest.mark.asyncio(loop_scope="module")

CSV = (
    "phone;group;name;reference\n"
    "91110001;member;Per Persen;H0101\n"
    "12;member;Feil Nummer;H0102\n"
    "91110003;astronaut;Ukjent Gruppe;H0103\n"
    "91110004;tenant;Tone Leier;H0104\n"
)


async def test_csv_import_reports_rejected_rows(chromium, site_url, live, world, tmp_path):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        await page.goto("/dashboard/people")
        members = await page.locator("#members").inner_text()
        assert "Driver Klokkarstua" in members and "Driver Tofte" not in members
        path = tmp_path / "medlemmer.csv"
        path.write_text(CSV, encoding="utf-8")
        await page.set_input_files("#import-file", str(path))
        await page.get_by_role("button", name="Importer").click()
        await page.locator("#import-report").wait_for()
        summary = await page.locator("#import-summary").inner_text()
        assert summary == "2 av 4 rader importert, 2 avvist."
        rejected = page.locator("#rejected tbody tr")
        assert await rejected.count() == 2
        first, second = [" ".join((await r.inner_text()).split()) for r in await rejected.all()]
        assert first.startswith("3 12 ")
        assert second.startswith("4 91110003 ") and "astronaut" in second
        members = await page.locator("#members").inner_text()
        assert "Per Persen" in members and "Tone Leier" in members
        await screenshot(page, "people")
        other = await page.request.get(f"{site_url}/dashboard/people?org={world.b.ids['org_id']}")
        text = await other.text()
        assert "Driver Tofte" not in text and "Tofte sameie" not in text
    finally:
        await page.context.close()
