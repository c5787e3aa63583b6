"""Prices in Chromium: the quote preview is the real tariff engine's price for each group,
follows the form live (htmx), and shows a tariff edit at once; the edit is audited."""

from __future__ import annotations

import pytest

from tests.dashboard.conftest import screenshot, signed_in_page
from tests.pages.flows import until

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def member_price(page) -> str:
    return await page.locator("#quote-table tr[data-group=member] .quote-total").inner_text()


async def test_tariff_edit_shows_in_the_quote_preview(chromium, site_url, live, world):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        await page.goto("/dashboard/prices?when=2026-03-03T18:00")
        await page.get_by_role("heading", name="Priser", exact=True).wait_for()
        # 2,00 kr/kWh excl. VAT: 30 kWh = kr 75,00 incl. VAT for members.
        assert await member_price(page) == "kr 75,00"
        body = await page.locator("main").inner_text()
        assert "Pris Klokkarstua" in body and "Pris Tofte" not in body

        await page.fill("#q-kwh", "10")
        await until(lambda: _is(page, "kr 25,00"), "the preview to follow the form")

        tariff = world.a.ids["tariff_id"]
        await page.select_option(f"#c-kind-{tariff}", "session")
        await page.fill(f"#c-price-{tariff}", "5,00")
        await page.get_by_role("button", name="Legg til").first.click()
        await page.locator("#flash-ok").wait_for()
        await page.goto("/dashboard/prices?when=2026-03-03T18:00")
        assert await member_price(page) == "kr 80,00"
        assert "tariff.update" in await page.locator("#price-history").inner_text()
        await screenshot(page, "prices")
    finally:
        await page.context.close()


async def _is(page, expected: str) -> bool:
    return await member_price(page) == expected


PRICE = """query($code: String!) { charger(code: $code) { connectors { evseId price {
  configured perKwhOre components { kind unitPriceOre } } } } }"""


async def app_price(page, site_url: str, live, phone: str) -> dict:
    """The price the driver app shows this member at KLOKK-1 (GraphQL, as the app asks)."""
    from core.db import transaction

    async with transaction(live.gateway_ctx.sessions) as s:
        tokens = await live.auth.access_token_for(s, phone)
    answer = await page.request.post(
        f"{site_url}/graphql",
        data={"query": PRICE, "variables": {"code": "KLOKK-1"}},
        headers={"Authorization": f"Bearer {tokens.access_token}"},
    )
    body = await answer.json()
    assert "errors" not in body, body
    return body["data"]["charger"]["connectors"][0]["price"]


async def test_a_tariff_edit_shows_in_the_app_price_and_ending_it_takes_it_away(
    chromium, site_url, live, world
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    member = "+4791000001"
    try:
        before = await app_price(page, site_url, live, member)
        assert before["configured"] and before["perKwhOre"] == 250
        kinds = {c["kind"] for c in before["components"]}

        await page.goto("/dashboard/prices?when=2026-03-03T18:00")
        tariff = world.a.ids["tariff_id"]
        await page.select_option(f"#c-kind-{tariff}", "session")
        await page.fill(f"#c-price-{tariff}", "3,00")
        await page.get_by_role("button", name="Legg til").first.click()
        await page.locator("#flash-ok").wait_for()
        after = await app_price(page, site_url, live, member)
        added = [c for c in after["components"] if c["unitPriceOre"] == 300]
        assert added and len(after["components"]) == len(before["components"]) + 1, after
        assert kinds <= {c["kind"] for c in after["components"]}

        await page.locator(f"#end-assignment-{world.a.ids['assignment_id']}").click()
        await page.locator("#flash-ok").wait_for()
        assert "tariff_assignment.end" in await page.locator("#price-history").inner_text()
        ended = await app_price(page, site_url, live, member)
        assert not ended["configured"] or ended["perKwhOre"] != 250, ended
    finally:
        await page.context.close()


async def test_another_organisations_assignment_cannot_be_ended(chromium, site_url, live, world):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        await page.goto("/dashboard/prices")
        csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
        response = await page.request.post(
            f"{site_url}/dashboard/prices/assignments/{world.b.ids['assignment_id']}/end",
            form={"csrf_token": csrf},
            max_redirects=0,
        )
        assert response.status == 404
    finally:
        await page.context.close()
