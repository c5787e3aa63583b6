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
