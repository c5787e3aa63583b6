"""A guest at a charger, in headless Chromium on a phone-sized screen: scan → /pay/<code> →
price shown → pay by card on the sandbox's page → the charger (played by the `ocpp`
package) starts with the guest's token and charges → Stop → receipt, exact amount captured.
"""

from __future__ import annotations

import re

import pytest

from core.ports import PaymentState
from tests.pages.flows import (
    CODE,
    bank,
    follow,
    guest_id_tokens,
    online,
    priced_site,
    remote_starts,
    remote_stops,
    sms,
    text,
    until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

SCREENSHOT = "/tmp/ladeflyt-guest-live-page.png"
SANDBOX_CARD = re.compile(r"^/sandbox/checkout/sbx_card_[0-9a-f]{16}$")
SANDBOX_VIPPS = re.compile(r"^/sandbox/checkout/sbx_vipps_[0-9a-f]{16}$")
LIVE_PAGE = re.compile(r"^/pay/c/[A-Za-z0-9_-]{32}(\?lang=nb)?$")
STOPPING_PAGE = re.compile(r"^/pay/c/[A-Za-z0-9_-]{32}\?lang=nb&stopping=1$")


async def reload_until(page, selector: str, expected: str, what: str) -> None:
    """Reload (the page itself refreshes every 5 s) until `selector` reads `expected`."""

    async def shows() -> bool:
        await page.reload()
        found = page.locator(selector)
        return await found.count() > 0 and (await found.inner_text()).strip() == expected

    await until(shows, what)


async def test_guest_pays_by_card_charges_stops_and_gets_the_exact_receipt(
    runtime, ocpp_url, phone
):
    await priced_site(runtime)
    async with online(ocpp_url) as charger:
        start = await phone.goto(f"/pay/{CODE}")
        assert start.status == 200
        await phone.get_by_role("heading", name=f"Lading på {CODE}").wait_for()
        assert await text(phone, "h1 + .muted") == "Klokkarstua, Klokkarveien 2"
        # AFIR: the full price is visible before anything is paid or started.
        price = phone.locator("table tr", has_text="Energi")
        assert await price.is_visible()
        assert re.sub(r"\s+", " ", await price.inner_text()).strip() == "Energi kr 5,00 / kWh"
        assert await phone.get_by_text("Alle priser inkl. 25 % mva.").is_visible()
        assert await phone.get_by_text("Vi reserverer kr 400,00").is_visible()
        assert await phone.locator("input[name=evse][value='1']").is_checked()

        assert await follow(phone, phone.locator("#lang-toggle")) == f"/pay/{CODE}?lang=en"
        assert await phone.locator("html").get_attribute("lang") == "en"
        assert await phone.get_by_role("button", name="Pay by card").is_visible()
        assert await phone.get_by_text("NOK 5.00 / kWh").is_visible()
        assert await follow(phone, phone.locator("#lang-toggle")) == f"/pay/{CODE}?lang=nb"
        assert await phone.locator("html").get_attribute("lang") == "nb"

        await phone.fill("#phone", "987 65 432")
        pay = phone.get_by_role("button", name="Betal med kort")
        assert SANDBOX_CARD.match(await follow(phone, pay))
        assert await text(phone, "#amount") == "kr 400,00"  # the hold, not a charge
        assert remote_starts(charger) == []

        assert LIVE_PAGE.match(await follow(phone, phone.locator("#approve")))
        (guest_token,) = await guest_id_tokens(runtime)
        assert re.fullmatch(r"GST[0-9A-F]{16}", guest_token)
        (started,) = remote_starts(charger)
        assert started["id_tag"] == guest_token and started["connector_id"] == 1

        await reload_until(phone, "#kwh", "0,000", "the session on the live page")
        await charger.meter(2_000, 11.0)
        await reload_until(phone, "#kwh", "2,000", "2 kWh on the live page")
        assert await text(phone, "#cost") == "kr 10,00"
        assert await text(phone, "#kw") == "11,0 kW"
        assert await phone.locator("#state").get_attribute("data-status") == "charging"
        assert await phone.locator("meta[http-equiv=refresh]").get_attribute("content") == "5"
        await phone.screenshot(path=SCREENSHOT, full_page=True)

        # The charger gets RemoteStop and stops on its own time: the page says at once that
        # it is stopping (no "Lader", no Stop button) until the charger reports the end.
        charger.hold_stop = True
        stopping = await follow(phone, phone.get_by_role("button", name="Stopp"))
        assert STOPPING_PAGE.match(stopping), stopping
        assert await phone.locator("#state").get_attribute("data-status") == "stopping"
        assert await text(phone, "#state h2") == "Stopper ..."
        assert await phone.locator("#stop").count() == 0
        await until(lambda: remote_stops(charger), "the charger to be told to stop")
        await until(lambda: charger.held_transaction, "the charger to hold the stop")
        await charger.finish_stop()
        await reload_until(phone, "#charged", "kr 10,00", "the receipt with the amount charged")
        assert await phone.locator("#state").get_attribute("data-status") == "completed"
        assert await text(phone, "#total") == "kr 10,00"
        assert await text(phone, "#receipt tr:last-child td:first-child") == "Trukket (kort)"
        assert await phone.locator("#stop").count() == 0
        assert await phone.locator("meta[http-equiv=refresh]").count() == 0

        # Exactly the cost was captured on the hold, once.
        (payment,) = bank(runtime).payments.values()
        assert payment.state == PaymentState.CAPTURED
        assert (payment.authorized_ore, payment.captured_ore) == (40_000, 1_000)
        assert [(op, amount) for op, _key, amount in payment.operations] == [("capture", 1_000)]

        (receipt_sms,) = await until(
            lambda: sms(runtime, "guest_receipt"), "the SMS receipt to be queued"
        )
        assert receipt_sms.to == "+4798765432"
        assert "2,000 kWh" in receipt_sms.body and "kr 10,00" in receipt_sms.body
        assert "/receipts/" in receipt_sms.body

        full = await follow(phone, phone.get_by_role("link", name="Hele kvitteringen"))
        assert re.fullmatch(r"/receipts/\d+\?t=[0-9a-f]{32}&lang=nb", full)
        assert await text(phone, "#total") == "kr 10,00"
        # The language switch keeps the receipt's access token.
        english = await follow(phone, phone.locator("#lang-toggle"))
        assert english == full.replace("lang=nb", "lang=en")
        assert await phone.get_by_role("heading", name="Receipt").is_visible()
        assert await text(phone, "#total") == "NOK 10.00"


async def test_abandoned_vipps_payment_says_so_and_never_starts_the_charger(
    runtime, ocpp_url, phone
):
    await priced_site(runtime)
    async with online(ocpp_url) as charger:
        await phone.goto(f"/pay/{CODE}")
        assert SANDBOX_VIPPS.match(
            await follow(phone, phone.get_by_role("button", name="Betal med Vipps"))
        )
        assert await phone.get_by_role("heading", name="Sandbox Vipps").is_visible()

        assert LIVE_PAGE.match(await follow(phone, phone.locator("#decline")))
        state = phone.locator("#state")
        assert await state.get_attribute("data-status") == "abandoned"
        assert await phone.get_by_role("heading", name="Betalingen ble avbrutt").is_visible()
        assert await phone.locator("#stop").count() == 0
        assert await phone.locator("meta[http-equiv=refresh]").count() == 0

        await phone.reload()  # coming back later changes nothing
        assert await state.get_attribute("data-status") == "abandoned"
        (payment,) = bank(runtime).payments.values()
        assert payment.state == PaymentState.CANCELLED and payment.captured_ore == 0
        assert remote_starts(charger) == []
        assert charger.tx is None

        # The connector is still free for the next guest.
        await phone.goto(f"/pay/{CODE}")
        assert await phone.locator("input[name=evse][value='1']").is_enabled()


async def test_an_offline_charger_cannot_be_paid_for(runtime, phone):
    await priced_site(runtime)  # registered, never connected
    await phone.goto(f"/pay/{CODE}")
    radios = phone.locator("input[name=evse]")
    assert await radios.count() == 2
    for i in range(2):
        assert await radios.nth(i).is_disabled()
    assert await phone.get_by_role("status").filter(has_text="Ingen kontakt er ledig").is_visible()
    # Pressing pay would post no connector at all (disabled radios are not submitted).
    assert await phone.get_by_role("button", name="Betal med kort").is_disabled()
    assert await phone.get_by_role("button", name="Betal med Vipps").is_disabled()
    assert await phone.get_by_text("kr 5,00 / kWh").is_visible()  # the price all the same


async def test_a_busy_connector_is_shown_unavailable(runtime, ocpp_url, phone):
    await priced_site(runtime)
    async with online(ocpp_url, statuses=("Charging", "Available")):
        await phone.goto(f"/pay/{CODE}")
        busy = phone.locator("label.connector", has_text="Kontakt 1")
        free = phone.locator("label.connector", has_text="Kontakt 2")
        assert await busy.locator("input").is_disabled()
        assert not await busy.locator("input").is_checked()
        assert await text(busy, ".status") == "Opptatt"
        assert await free.locator("input").is_enabled()
        assert await free.locator("input").is_checked()  # the free one is preselected
        assert await text(free, ".status") == "Ledig"
        assert await phone.get_by_role("button", name="Betal med kort").is_enabled()
        assert await phone.locator("#none-free").count() == 0

        await follow(phone, phone.locator("#lang-toggle"))
        busy = phone.locator("label.connector", has_text="Connector 1")
        free = phone.locator("label.connector", has_text="Connector 2")
        assert await text(busy, ".status") == "In use"
        assert await text(free, ".status") == "Available"


async def test_an_unknown_charger_code_is_a_404_page(runtime, phone):
    response = await phone.goto("/pay/NO-SUCH-CHARGER")
    assert response.status == 404
    assert await phone.get_by_role("alert").is_visible()
    assert await phone.get_by_text("Fant ingen lader med dette nummeret.").is_visible()
    response = await phone.goto("/pay/NO-SUCH-CHARGER?lang=en")
    assert response.status == 404
    assert await phone.get_by_text("No charger with this number.").is_visible()
