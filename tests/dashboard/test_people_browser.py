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


async def _invites(live, phone: str) -> list[str]:
    from sqlalchemy import select

    from core.models import SmsMessage

    async with live.gateway_ctx.sessions() as s:
        rows = await s.execute(
            select(SmsMessage.body)
            .where(SmsMessage.kind == "member_invite", SmsMessage.to == phone)
            .order_by(SmsMessage.id)
        )
        return list(rows.scalars())


async def test_invite_change_end_a_membership_and_manage_tags(chromium, site_url, live, world):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        await page.goto("/dashboard/people")
        await page.fill("#m-phone", "91110042")
        await page.fill("#m-name", "Ola Invitert")
        await page.get_by_role("button", name="Legg til medlem").click()
        await page.locator("#flash-ok").wait_for()
        sent = await _invites(live, "+4791110042")
        assert len(sent) == 1
        assert "Klokkarstua borettslag" in sent[0] and f"{site_url}/app" in sent[0]

        await page.get_by_role("link", name="Ola Invitert").click()
        await page.get_by_role("heading", name="Ola Invitert").wait_for()
        await page.select_option("#e-group", "tenant")
        await page.fill("#e-ref", "H0207")
        await page.get_by_role("button", name="Lagre").click()
        await page.locator("#flash-ok").wait_for()
        assert await page.locator("#m-group-now").inner_text() == "tenant"

        await page.get_by_role("button", name="Send invitasjon på SMS").click()
        await page.locator("#flash-ok").wait_for()
        assert len(await _invites(live, "+4791110042")) == 2

        await page.fill("#t-token", "04a1b2c3")
        await page.fill("#t-label", "Nøkkelring")
        await page.get_by_role("button", name="Legg til brikke").click()
        await page.locator("#flash-ok").wait_for()
        tags = await page.locator("#tags").inner_text()
        assert "04A1B2C3" in tags and "Aktiv" in tags
        await page.get_by_role("button", name="Sperr").click()
        await page.locator("#flash-ok").wait_for()
        assert "Sperret" in await page.locator("#tags").inner_text()
        await screenshot(page, "membership")

        await page.get_by_role("button", name="Avslutt medlemskapet nå").click()
        await page.locator("#flash-ok").wait_for()
        assert "inntil videre" not in await page.locator("#m-valid").inner_text()
    finally:
        await page.context.close()


async def test_another_organisations_memberships_and_tags_are_not_found(
    chromium, site_url, live, world
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    a, b = world.a.ids, world.b.ids
    try:
        await page.goto("/dashboard/people")
        csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
        response = await page.request.get(
            f"{site_url}/dashboard/people/memberships/{b['membership_id']}"
        )
        assert response.status == 404
        theirs = f"/dashboard/people/memberships/{b['membership_id']}"
        mine = f"/dashboard/people/memberships/{a['membership_id']}"
        for path, form in (
            (theirs, {"group": "member"}),
            (f"{theirs}/invite", {}),
            (f"{theirs}/end", {}),
            (f"{theirs}/tags", {"token": "SNEAKY1"}),
            (f"{mine}/tags/{b['token_id']}", {"status": "blocked"}),
        ):
            response = await page.request.post(
                f"{site_url}{path}", form={**form, "csrf_token": csrf}, max_redirects=0
            )
            assert response.status == 404, path
        assert await _invites(live, "+4791000002") == []
    finally:
        await page.context.close()
