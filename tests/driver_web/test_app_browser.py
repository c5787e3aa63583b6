"""The driver app at /app in headless Chromium on a phone: a new driver signs in with the
code from the SMS, fills in the profile, adds a sandbox card, finds the demo charger, starts
it, watches the simulated charger's meter values arrive, stops, and sees the receipt with
the amount the API reports; registers a tag, plans a route. The tests run in order on one
page (one driver), like someone using the app; the last checks that the app asked nobody
but this server's /graphql, its own assets and the payment provider."""

from __future__ import annotations

import os
import re
from datetime import date
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from core import l10n
from notifications.console import ConsoleSmsSender
from tests.driver_web.conftest import DEMO_CHARGER
from tests.pages.flows import invoice_status, open_invoice, until

pytestmark = pytest.mark.asyncio(loop_scope="module")

PHONE_NUMBER = "41234567"
# LADEFLYT_APP_SCREENSHOTS=docs/screenshots renews the README's pictures of the app.
SCREENSHOTS = os.environ.get("LADEFLYT_APP_SCREENSHOTS", "")


async def shot(page: Any, name: str, *, full_page: bool = False) -> None:
    if SCREENSHOTS:
        await page.screenshot(path=f"{SCREENSHOTS}/app-{name}.png", full_page=full_page)


async def visible_text(page: Any, selector: str) -> str:
    return str(await page.locator(selector).inner_text()).strip()


async def api(server: str, page: Any, query: str, variables: dict[str, Any] | None = None) -> Any:
    """Ask the API what the app was told, as the signed-in driver (the app's own token)."""
    token = await page.evaluate("JSON.parse(localStorage.getItem('ladeflyt.auth')).accessToken")
    async with httpx.AsyncClient(base_url=server) as client:
        response = await client.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"Authorization": f"Bearer {token}"},
        )
    body = response.json()
    assert "errors" not in body, body
    return body["data"]


async def test_a_new_driver_signs_in_with_the_sms_code_and_fills_in_the_profile(
    phone, app_runtime, app_server
):
    response = await phone.goto("/app/payment")  # the SMS link for drivers without a card
    assert response is not None and response.status == 200
    assert "default-src 'self'" in response.headers["content-security-policy"]
    await phone.wait_for_url(re.compile(r"/app/signin\?next="))
    await phone.get_by_role("heading", name="Logg inn", exact=True).wait_for()
    await phone.fill("#phone", PHONE_NUMBER)
    await phone.get_by_role("button", name="Send kode").click()
    await phone.get_by_text("Vi sendte en kode til +4741234567.").wait_for()

    sms = app_runtime.sms
    assert isinstance(sms, ConsoleSmsSender)
    (message,) = [m for m in sms.sent if m.to == "+4741234567"]
    code = re.search(r"\b(\d{6})\b", message.body)
    assert code is not None
    await phone.fill("#code", code.group(1))
    await phone.get_by_role("button", name="Logg inn").click()

    await phone.wait_for_url(re.compile(r"/app/profile"))
    await phone.fill("#name", "Nora Nilsen")
    await phone.fill("#email", "nora@example.no")
    await phone.get_by_role("button", name="Fortsett").click()
    await phone.wait_for_url(re.compile(r"/app/payment$"))  # back where the SMS link pointed
    await phone.get_by_role("heading", name="Betaling", exact=True).wait_for()
    me = await api(app_server, phone, "query { me { name email language phone } }")
    assert me["me"] == {
        "name": "Nora Nilsen",
        "email": "nora@example.no",
        "language": "nb",
        "phone": "+4741234567",
    }


async def test_the_driver_adds_a_sandbox_card(phone, app_server):
    await phone.locator("#add-card").click()
    await phone.get_by_text("Testmodus: ingen ekte kort belastes.").wait_for()
    await phone.fill("#card-number", "4242 4242 4242 4242")
    await shot(phone, "payment")
    await phone.locator("#save-card").click()
    await phone.locator("#card-saved").wait_for()
    method = phone.locator("#payment-methods li")
    await method.first.wait_for()
    assert (await method.count()) == 1
    assert "Visa •••• 4242" in await method.inner_text()
    assert "Standard" in await method.inner_text()
    data = await api(app_server, phone, "query { paymentMethods { kind last4 isDefault } }")
    assert data["paymentMethods"] == [{"kind": "card", "last4": "4242", "isDefault": True}]


async def test_the_driver_finds_the_demo_charger_with_its_live_status_and_price(
    phone, simulated_charger
):
    await phone.goto("/app/find")
    await phone.locator("#near-me").click()  # the phone is at Klokkarstua
    card = phone.locator(f"li.charger[data-code='{DEMO_CHARGER}']")
    await card.wait_for()
    # The simulated charger has booted and reported its connectors: live, available.
    available = card.locator("li.connector[data-status='AVAILABLE']")
    await until(
        lambda: _equal(available.count(), 2), "the simulated charger's connectors to be available"
    )
    text = await card.inner_text()
    assert "Klokkarstua" in text and "Type2 · 22,0 kW" in text
    assert "kr 4,50/kWh" in text  # the public price: Nora is no member of the borettslag
    await phone.get_by_text("Nær deg").wait_for()

    async def nearest() -> str | None:
        code: str | None = await phone.locator("li.charger").first.get_attribute("data-code")
        return code if code and code.startswith("KLOKK-") else None

    await until(nearest, "the chargers at Klokkarstua first, nearest the phone")
    await phone.evaluate("document.querySelector('#near').scrollIntoView()")
    await shot(phone, "find")

    await phone.locator("#available").check()  # only chargers with a free connector now

    async def listed() -> list[str]:
        codes: list[str] = await phone.locator("li.charger").evaluate_all(
            "cards => cards.map(c => c.dataset.code)"
        )
        return codes

    # The only one online: the others of the demo have no charger connected.
    await until(lambda: _equal(listed(), [DEMO_CHARGER]), "the list of available chargers")

    await phone.locator("#show-map").click()
    await phone.locator("#map .leaflet-interactive").first.wait_for()
    assert await phone.locator("#map-no-tiles").is_visible()


async def test_the_driver_starts_watches_the_meter_live_stops_and_gets_the_receipt(
    phone, app_server, app_runtime, simulated_charger
):
    await phone.locator("#show-list").click()
    await phone.locator(f"li.charger[data-code='{DEMO_CHARGER}'] a").click()
    await phone.wait_for_url(re.compile(rf"/app/charger/{DEMO_CHARGER}$"))
    await phone.go_back()
    await phone.fill("#charger-code", DEMO_CHARGER.lower())  # the number printed on it
    await phone.locator("#open-code").click()
    await phone.wait_for_url(re.compile(rf"/app/charger/{DEMO_CHARGER}$"))
    # Every price component before anything starts (AFIR), incl. VAT.
    price = phone.locator("#price tr").first
    assert re.sub(r"\s+", " ", await price.inner_text()).strip().endswith("kr 4,50 / kWh")
    assert await phone.get_by_text("Alle priser inkl. 25 % mva.").is_visible()
    await shot(phone, "charger")
    await phone.locator("#start").click()

    await phone.wait_for_url(re.compile(r"/app/session/\d+$"))
    session_id = phone.url.rsplit("/", 1)[1]
    await until(lambda: _state_is(phone, "Lader"), "the session to be charging", timeout=20)
    # The simulated charger meters every two seconds: the app shows each reading as it
    # arrives over the subscription (no reload).
    first = await _reading_above(phone, 0.0)
    second = await _reading_above(phone, first)
    assert second > first
    assert (await visible_text(phone, "#kw")).endswith(" kW")
    assert re.fullmatch(r"\d+ %", await visible_text(phone, "#soc"))
    assert re.fullmatch(r"kr \d+,\d\d", (await visible_text(phone, "#cost")).replace("\xa0", " "))
    assert re.fullmatch(r"\d+:\d\d", await visible_text(phone, "#elapsed"))
    await shot(phone, "session")

    await phone.locator("#stop").click()
    await phone.locator("#receipt-total").wait_for(timeout=30_000)
    assert await visible_text(phone, "#state") == "Ferdig"
    data = await api(
        app_server,
        phone,
        "query($id: ID!) { session(id: $id) { state cost { amountOre } }"
        " receipt(sessionId: $id) { total { amountOre } paid { amountOre } method } }",
        {"id": session_id},
    )
    assert data["session"]["state"] == "COMPLETED"
    amount = data["session"]["cost"]["amountOre"]
    assert amount > 0 and data["receipt"]["total"]["amountOre"] == amount
    shown = l10n.money(amount, "nb")
    assert await visible_text(phone, "#receipt-total") == shown
    assert await visible_text(phone, "#cost") == shown
    # The exact amount is captured from the card's hold, and the receipt says so.
    paid = phone.locator("#receipt-paid")
    await until(lambda: _text_is(paid, shown), "the capture to show on the receipt")
    data = await api(
        app_server,
        phone,
        "query($id: ID!) { receipt(sessionId: $id) { paid { amountOre } method } }",
        {"id": session_id},
    )
    assert data["receipt"] == {"paid": {"amountOre": amount}, "method": "card"}
    await shot(phone, "receipt")

    await phone.locator("nav.tabs a", has_text="Historikk").click()
    row = phone.locator(f"#sessions li[data-session='{session_id}']")
    await row.wait_for()
    assert shown in await row.inner_text()


async def _equal(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _state_is(page: Any, expected: str) -> bool:
    return await visible_text(page, "#state") == expected


async def _text_is(locator: Any, expected: str) -> bool:
    return await locator.count() > 0 and (await locator.inner_text()).strip() == expected


async def _reading_above(page: Any, kwh: float) -> float:
    async def read() -> float | None:
        text = (await visible_text(page, "#kwh")).removesuffix(" kWh").replace(",", ".")
        value = float(text.replace("\xa0", ""))
        return value if value > kwh else None

    result: float = await until(read, f"a meter reading above {kwh} kWh", timeout=20)
    return result


async def test_with_vipps_the_driver_approves_in_vipps_and_comes_back_to_the_session(
    phone, app_server, simulated_charger
):
    await phone.goto("/app/payment")
    await phone.locator("#add-vipps").click()
    vipps = phone.locator("#payment-methods li[data-kind='vipps']")
    await vipps.wait_for()
    await vipps.get_by_role("button", name="Bruk som standard").click()
    await until(
        lambda: _equal(vipps.locator(".badge").count(), 1), "Vipps to be the default method"
    )
    await phone.goto(f"/app/charger/{DEMO_CHARGER}")
    start = phone.locator("#start")
    await until(start.is_enabled, "a free connector (the last car has left)", timeout=20)
    async with phone.expect_navigation():
        await start.click()
    assert urlsplit(phone.url).path.startswith("/sandbox/checkout/sbx_vipps_")
    await phone.locator("#approve").click()  # approved in "Vipps"
    # The provider sends the payer to the payment's page, which hands over to the app.
    await phone.wait_for_url(re.compile(r"/app/session/\d+$"))
    await until(lambda: _state_is(phone, "Lader"), "the Vipps session to charge", timeout=20)
    await _reading_above(phone, 0.0)
    await phone.locator("#stop").click()
    await phone.locator("#receipt-paid").wait_for(timeout=30_000)
    assert await visible_text(phone, "#receipt tr:last-child td:first-child") == "Trukket (Vipps)"
    # Back to the card for the rest of the module.
    await phone.goto("/app/payment")
    card = phone.locator("#payment-methods li[data-kind='card']")
    await card.get_by_role("button", name="Bruk som standard").click()
    await until(lambda: _equal(card.locator(".badge").count(), 1), "the card as default again")


async def test_the_qr_sticker_opens_the_apps_charger_page_for_a_signed_in_driver(phone):
    phone.recording = False  # the sticker's page, until it hands over to the app
    await phone.goto(f"/pay/{DEMO_CHARGER}")  # what the sticker's QR code says
    await phone.wait_for_url(re.compile(rf"/app/charger/{DEMO_CHARGER}$"))
    phone.recording = True
    await phone.locator("#start").wait_for()
    # Paying as a guest stays possible: the app's link keeps the guest page (a page of the
    # server's own, not the app: its requests are not the app's).
    phone.recording = False
    try:
        async with phone.expect_navigation():
            await phone.get_by_role("link", name="Betal som gjest i stedet").click()
        assert phone.url.endswith(f"/pay/{DEMO_CHARGER}?guest=1")
        await phone.get_by_role("heading", name=f"Lading på {DEMO_CHARGER}").wait_for()
    finally:
        phone.recording = True


async def test_the_driver_registers_a_tag_and_a_taken_one_is_refused(phone, app_server):
    await phone.goto("/me")  # the address in the operator's instructions for tags
    await phone.wait_for_url(re.compile(r"/app/account$"))
    await phone.locator("#to-tags").click()
    await phone.wait_for_url(re.compile(r"/app/tags$"))
    await phone.get_by_text("Ingen brikker registrert.").wait_for()
    await phone.fill("#tag-uid", "04 D1 E2 F3 A4")
    await phone.fill("#tag-label", "Noras brikke")
    await phone.get_by_role("button", name="Registrer brikke").click()
    tag = phone.locator("#tags li").first
    await tag.wait_for()
    assert "Noras brikke" in await tag.inner_text() and "Aktiv" in await tag.inner_text()
    data = await api(app_server, phone, "query { rfidTags { uid label active } }")
    (registered,) = data["rfidTags"]
    assert registered["label"] == "Noras brikke" and registered["active"] is True
    await shot(phone, "tags")

    await phone.fill("#tag-uid", "04C9D8E7F6")  # Ingrid's, from the demo data
    await phone.get_by_role("button", name="Registrer brikke").click()
    await phone.locator("#tag-problem").wait_for()
    assert await phone.locator("#tags li").count() == 1


async def test_the_driver_adds_a_car(phone, app_server):
    await phone.goto("/app/account")
    await phone.locator("#to-vehicles").click()
    await phone.get_by_text("Ingen biler lagt til.").wait_for()
    await phone.fill("#vehicle-make", "Hyundai")
    await phone.fill("#vehicle-model", "Ioniq 5")
    await phone.fill("#vehicle-battery", "74")
    await phone.fill("#vehicle-dc", "220")
    await phone.get_by_role("button", name="Legg til bil").click()
    car = phone.locator("#vehicles li").first
    await car.wait_for()
    assert "Hyundai Ioniq 5" in await car.inner_text() and "74 kWh" in await car.inner_text()
    data = await api(app_server, phone, "query { vehicles { make model batteryKwh maxDcKw } }")
    assert data["vehicles"] == [
        {"make": "Hyundai", "model": "Ioniq 5", "batteryKwh": 74.0, "maxDcKw": 220.0}
    ]


async def _choose_place(page: Any, field: str, typed: str, name: str) -> None:
    await page.fill(f"#{field}", typed)
    await page.locator(f"#{field}-suggestions button", has_text=name).first.click()


async def test_the_driver_plans_a_route_with_stops_times_and_prices(phone, app_server):
    await phone.locator("nav.tabs a", has_text="Rute").click()
    await phone.wait_for_url(re.compile(r"/app/route$"))
    await _choose_place(phone, "route-from", "Oslo", "Oslo")
    await _choose_place(phone, "route-to", "Toft", "Tofte")
    await phone.locator("#route-vehicle").select_option(label="Hyundai Ioniq 5")
    await phone.fill("#route-soc", "22")  # too little to reach Tofte without a stop
    await phone.locator("#plan").click()
    await phone.locator("#route-plan, #route-problem").first.wait_for()
    assert not await phone.locator("#route-problem").count(), await visible_text(
        phone, "#route-problem"
    )
    stops = phone.locator("#route-stops li.stop")
    assert await stops.count() >= 1
    first = await stops.first.inner_text()
    assert re.search(r"ca\. kl\. \d\d:\d\d", first)
    assert re.search(r"\d+ min lading, \d+ % → \d+ %", first)
    code = await stops.first.get_attribute("data-code")
    assert code in ("KLOKK-DC-01", "SAETRE-DC-01")  # the demo's fast chargers
    assert re.fullmatch(
        r"kr \d+,\d\d", (await visible_text(phone, "#route-cost")).replace("\xa0", " ")
    )
    await phone.locator("#route-map .leaflet-interactive").first.wait_for()
    await shot(phone, "route", full_page=True)


async def test_the_driver_pays_an_invoice_on_the_providers_page_and_comes_back(
    phone, app_runtime, app_server
):
    me = await api(app_server, phone, "query { me { id } }")
    invoice_id = await open_invoice(app_runtime, int(me["me"]["id"]), 7, date(2026, 3, 15), 4_500)
    await phone.goto("/app/invoices")
    row = phone.locator(f"#invoices li[data-invoice='{invoice_id}']")
    await row.wait_for()
    assert "Faktura 7" in await row.inner_text() and "kr 45,00" in await row.inner_text()
    async with phone.expect_navigation():
        await row.get_by_role("button", name="Betal med kort").click()
    assert urlsplit(phone.url).path.startswith("/sandbox/checkout/")  # the provider's page
    async with phone.expect_navigation():
        await phone.locator("#approve").click()
    assert phone.url.endswith(f"/app/invoices?paid={invoice_id}")
    await phone.locator("#invoice-note").get_by_text("Takk! Faktura 7 er betalt.").wait_for()
    await until(
        lambda: _equal(row.get_attribute("data-status"), "paid"), "the invoice shown as paid"
    )
    assert await invoice_status(app_runtime, invoice_id) == "paid"


async def test_the_app_speaks_english_when_the_profile_says_so(phone, app_server):
    await phone.goto("/app/account")
    await phone.locator("#language").select_option("en")
    await phone.get_by_role("button", name="Lagre").click()
    await phone.locator("nav.tabs a", has_text="History").wait_for()
    await phone.locator("nav.tabs a", has_text="History").click()
    await phone.get_by_role("heading", name="History").wait_for()
    first = await phone.locator("#sessions li").first.inner_text()
    assert re.search(r"NOK \d+\.\d\d", first) and "kWh" in first
    data = await api(app_server, phone, "query { me { language } }")
    assert data["me"]["language"] == "en"
    await phone.goto("/app/account")
    await phone.locator("#language").select_option("nb")
    await phone.get_by_role("button", name="Save").click()
    await phone.locator("nav.tabs a", has_text="Historikk").wait_for()


async def test_offline_the_app_opens_from_its_cache_with_last_known_data(phone):
    await phone.goto("/app/history")
    await phone.locator("#sessions li").first.wait_for()
    await phone.evaluate("navigator.serviceWorker.ready.then(() => true)")
    await until(
        lambda: phone.evaluate("Boolean(navigator.serviceWorker.controller)"),
        "the service worker to control the app",
    )
    await phone.context.set_offline(True)
    try:
        await phone.reload()
        await phone.locator("#stale").wait_for()  # "Frakoblet: viser sist kjente data"
        assert await phone.locator("#sessions li").count() >= 1
        await shot(phone, "offline")
    finally:
        await phone.context.set_offline(False)


def _outside(requested: list[str], server: str) -> list[str]:
    """Requests to anything but /graphql, the app's own files and the (sandbox) payment
    provider's pages."""
    own = urlsplit(server).netloc
    # /pay/c/...: where the provider sends the payer back, a page that hands over to the app.
    allowed = ("/graphql", "/app", "/static/vendor/", "/sandbox/checkout/", "/pay/c/")
    return [
        url
        for url in requested
        if urlsplit(url).scheme in ("http", "https", "ws", "wss")
        and (
            urlsplit(url).netloc != own
            # /me: the app's short address, a redirect into it
            or not (urlsplit(url).path.startswith(allowed) or urlsplit(url).path == "/me")
        )
    ]


async def test_the_app_asked_nobody_but_graphql_its_own_assets_and_the_payment_provider(
    phone, app_server
):
    assert any(urlsplit(url).path == "/graphql" for url in phone.requested)
    # The live values came over the graphql-transport-ws subscription.
    assert any(url.startswith("ws://") and url.endswith("/graphql") for url in phone.requested)
    assert _outside(phone.requested, app_server) == []
    # The page's Content-Security-Policy says the same to the browser; it refused nothing.
    assert phone.refused == []
