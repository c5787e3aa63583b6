"""Chargers in Chromium: the register with uptime and faults, add one, import many from CSV
with a row-by-row report, a charger's location, fault history and remote commands reaching
a real charger, QR stickers (page and PDF) whose links open that connector's pay page; an
organisation admin reaches nothing of another organisation's."""

from __future__ import annotations

import io

import pytest
from ocpp.v16 import call as call16
from pypdf import PdfReader

from tests.dashboard.conftest import screenshot, signed_in_page
from tests.helpers import boot16, connect
from tests.pages.flows import until

pytestmark = pytest.mark.asyncio(loop_scope="module")

CSV = (
    "charge_point_id;site;connectors;max_kw;address\n"
    "KLOKK-3;Klokkarstua;2;11;\n"
    "TOFTE-9;Tofte;1;22;\n"
    "KLOKK-4;Klokkarstua;1;9999;\n"
    "KLOKK-P1;Klokkarstua P-hus;1;22;Skogveien 2\n"
)


async def test_add_import_locate_and_print_stickers(chromium, site_url, live, world, tmp_path):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        await page.goto("/dashboard/chargers")
        await page.get_by_role("heading", name="Ladere", exact=True).wait_for()
        listed = await page.locator("#chargers").inner_text()
        assert "KLOKK-1" in listed and "TOFTE-1" not in listed and "ROYK-1" not in listed

        await page.fill("#a-id", "KLOKK-2")
        await page.fill("#a-connectors", "1")
        await page.get_by_role("button", name="Legg til lader").click()
        await page.get_by_role("heading", name="Lader KLOKK-2").wait_for()
        assert await page.locator("#flash-ok").inner_text() == "Utført: KLOKK-2"

        await page.goto("/dashboard/chargers")
        path = tmp_path / "ladere.csv"
        path.write_text(CSV, encoding="utf-8")
        await page.set_input_files("#import-file", str(path))
        await page.get_by_role("button", name="Importer").click()
        await page.locator("#import-report").wait_for()
        assert await page.locator("#import-summary").inner_text() == (
            "2 av 4 rader importert, 2 avvist."
        )
        rejected = [
            " ".join((await r.inner_text()).split())
            for r in await page.locator("#rejected tbody tr").all()
        ]
        assert rejected[0].startswith("3 TOFTE-9 ")  # another organisation's site
        assert rejected[1].startswith("4 KLOKK-4 max_kw")
        listed = await page.locator("#chargers").inner_text()
        assert "KLOKK-3" in listed and "KLOKK-P1" in listed and "Klokkarstua P-hus" in listed
        assert "TOFTE-9" not in listed

        await page.goto(f"/dashboard/chargers/{world.a.ids['charger_id']}")
        await page.fill("#l-lat", "59,6501")
        await page.fill("#l-lon", "10,4012")
        await page.fill("#l-address", "Klokkarveien 1, Sætre")
        await page.get_by_role("button", name="Lagre").click()
        await page.locator("#flash-ok").wait_for()
        location = await page.locator("#location").inner_text()
        assert "Klokkarveien 1, Sætre" in location and "59,65010" in location

        await page.goto("/dashboard/chargers/stickers")
        await page.get_by_role("heading", name="QR-klistremerker").wait_for()
        urls = [await s.get_attribute("data-url") for s in await page.locator(".sticker").all()]
        # KLOKK-1 (2), KLOKK-2 (1), KLOKK-3 (2), KLOKK-P1 (1): one per connector.
        assert len(urls) == 6 and all("TOFTE" not in u for u in urls)
        assert f"{site_url}/pay/KLOKK-1?evse=2" in urls
        assert await page.locator(".sticker svg.qr-code").count() == 6
        await screenshot(page, "stickers")
        pdf = await page.request.get(f"{site_url}/dashboard/chargers/stickers.pdf")
        assert pdf.headers["content-type"] == "application/pdf"
        text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(await pdf.body())).pages)
        assert "KLOKK-1" in text and "KLOKK-P1" in text and "TOFTE" not in text

        await page.goto(f"{site_url}/pay/KLOKK-1?evse=2&guest=1")
        assert await page.locator("input[name=evse][value='2']").is_checked()
    finally:
        await page.context.close()


async def test_commands_reach_the_charger_and_faults_show_in_its_history(
    chromium, site_url, live, world, ocpp
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    charger = world.a.ids["charger_id"]
    try:
        async with connect(ocpp, "KLOKK-1") as cp:
            await cp.call(boot16())
            await cp.call(
                call16.StatusNotification(
                    connector_id=2, error_code="GroundFailure", status="Faulted"
                )
            )
            await cp.call(
                call16.StatusNotification(connector_id=2, error_code="NoError", status="Available")
            )
            await page.goto(f"/dashboard/chargers/{charger}")
            await page.get_by_role("button", name="Be om status").click()
            await page.locator("#flash-ok").wait_for()
            await until(lambda: any(a == "TriggerMessage" for a, _ in cp.received), "trigger")
            await page.select_option("#cmd-evse", "2")
            await page.get_by_role("button", name="Lås opp kontakten").click()
            await page.locator("#flash-ok").wait_for()
            await until(lambda: any(a == "UnlockConnector" for a, _ in cp.received), "unlock")
            assert ("UnlockConnector", {"connector_id": 2}) in cp.received
            faults = await page.locator("#faults").inner_text()
            assert "GroundFailure" in faults
            assert not (await page.locator("#uptime").inner_text()).startswith("\u2013")
            await screenshot(page, "charger")
        await page.goto("/dashboard/chargers")
        row = await page.locator(f"#charger-{charger}").inner_text()
        assert row.split()[-1] == "1"  # one fault in the period
        await screenshot(page, "chargers")
    finally:
        await page.context.close()


async def test_another_organisations_chargers_are_not_found(chromium, site_url, live, world):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    b = world.b.ids
    csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
    try:
        for path in (
            f"/dashboard/chargers/{b['charger_id']}",
            f"/dashboard/chargers?site={b['site_id']}",
            f"/dashboard/chargers/stickers?site={b['site_id']}",
            f"/dashboard/chargers/stickers?charger={b['charger_id']}",
            f"/dashboard/chargers/stickers.pdf?charger={b['charger_id']}",
            f"/dashboard/chargers/{world.operator_charger_id}",
        ):
            response = await page.request.get(f"{site_url}{path}")
            assert response.status == 404, path
        for path, form in (
            (f"/dashboard/chargers/{b['charger_id']}/command", {"command": "reset_soft"}),
            (f"/dashboard/chargers/{b['charger_id']}/location", {"address": "Her"}),
            (f"/dashboard/chargers/{b['charger_id']}/site", {"site": str(world.a.ids["site_id"])}),
            ("/dashboard/chargers", {"site": str(b["site_id"]), "charge_point_id": "SNEAK-1"}),
        ):
            response = await page.request.post(
                f"{site_url}{path}", form={**form, "csrf_token": csrf}, max_redirects=0
            )
            assert response.status == 404, path
        everything = await page.request.get(f"{site_url}/dashboard/chargers/stickers")
        assert "TOFTE" not in await everything.text()
    finally:
        await page.context.close()
