"""What the driver app needs from the API besides charging (appConfig, places, paying an
invoice), and the app's own files served at /app: through the real ASGI app."""

from __future__ import annotations

import json
from datetime import date

import httpx
from sqlalchemy import select

from core.models import Site
from ladeflyt.runtime import Runtime
from payments.sandbox import SandboxProvider
from tests.api.graphql_helpers import gql, sign_in
from tests.helpers import add_fleet, arrange
from tests.pages.flows import customer, open_invoice


async def test_app_config_names_the_providers_and_the_map_tiles(client, runtime):
    body = await gql(
        client,
        "{ appConfig { operatorName cardProvider stripePublishableKey vipps mapTileUrl } }",
    )
    config = body["data"]["appConfig"]
    assert config["cardProvider"] == "sandbox" and config["vipps"] is True
    assert config["stripePublishableKey"] is None  # Stripe.js is not loaded for the sandbox
    assert config["mapTileUrl"] == runtime.settings.app_map_tile_url


async def test_places_finds_our_sites_then_towns(client, runtime):
    await add_fleet(runtime, "KLOKK-1")

    async def locate(s):
        site = (await s.execute(select(Site).where(Site.name == "Klokkarstua"))).scalar_one()
        site.latitude, site.longitude, site.city = 59.6525, 10.4338, "Hurum"

    await arrange(runtime, locate)
    query = "query($q: String!) { places(query: $q) { name kind latitude longitude } }"
    found = (await gql(client, query, {"q": "klokk"}))["data"]["places"]
    assert found == [
        {"name": "Klokkarstua", "kind": "site", "latitude": 59.6525, "longitude": 10.4338}
    ]
    assert [p["name"] for p in (await gql(client, query, {"q": "hur"}))["data"]["places"]] == [
        "Klokkarstua"  # by its city
    ]
    towns = (await gql(client, query, {"q": "Dram"}))["data"]["places"]
    assert [(p["name"], p["kind"]) for p in towns] == [("Drammen", "town")]
    assert (await gql(client, query, {"q": "  "}))["data"]["places"] == []


async def test_root_fields_that_need_the_driver_all_see_the_driver(client, runtime):
    # Root fields resolve concurrently; each must find the signed-in driver.
    token = (await sign_in(client, runtime, "91234567"))["accessToken"]
    body = await gql(
        client,
        "{ me { phone } rfidTags { id } vehicles { id } paymentMethods { id } invoices { id }"
        " invoiceSettings { invoiceChannel } activeSession { id } }",
        token=token,
    )
    assert "errors" not in body, body
    assert body["data"]["me"] == {"phone": "+4791234567"}


PAY = """mutation($id: ID!, $m: String!) { payInvoice(id: $id, method: $m) {
  __typename ... on PaymentRedirect { redirectUrl } ... on Problem { message } } }"""
REFRESH = """mutation($id: ID!) { refreshInvoicePayment(id: $id) {
  __typename ... on InvoiceRefreshed { invoice { id status amountDue { amountOre } } } } }"""


async def test_a_driver_pays_their_own_invoice_in_the_app_and_no_one_elses(client, runtime):
    token = (await sign_in(client, runtime, "91112222"))["accessToken"]
    mine = await open_invoice(runtime, await _user_id(client, token), 1, date(2026, 3, 15), 4_500)
    theirs = await open_invoice(
        runtime, await customer(runtime, "+4799999999"), 2, date(2026, 3, 15), 100
    )

    other = (await gql(client, PAY, {"id": str(theirs), "m": "card"}, token))["data"]
    assert other["payInvoice"]["__typename"] == "NotFound"
    bad = (await gql(client, PAY, {"id": str(mine), "m": "cash"}, token))["data"]
    assert bad["payInvoice"]["__typename"] == "InvalidInput"

    started = (await gql(client, PAY, {"id": str(mine), "m": "card"}, token))["data"]
    redirect = started["payInvoice"]["redirectUrl"]
    ref = redirect.rsplit("/", 1)[1]
    provider = runtime.payments.providers["sandbox-card"]
    assert isinstance(provider, SandboxProvider)
    payment = provider.bank.payments[ref]
    assert payment.amount_ore == 4_500
    assert payment.return_url.endswith(f"/app/invoices?paid={mine}")  # back to the app

    provider.bank.decide(ref, approve=True)
    refreshed = (await gql(client, REFRESH, {"id": str(mine)}, token))["data"]
    invoice = refreshed["refreshInvoicePayment"]["invoice"]
    assert invoice["status"] == "paid" and invoice["amountDue"]["amountOre"] == 0
    again = (await gql(client, PAY, {"id": str(mine), "m": "card"}, token))["data"]
    assert again["payInvoice"]["__typename"] == "NotAllowed"  # nothing left to pay
    nobody = (await gql(client, REFRESH, {"id": str(theirs)}, token))["data"]
    assert nobody["refreshInvoicePayment"]["__typename"] == "NotFound"


async def _user_id(client: httpx.AsyncClient, token: str) -> int:
    return int((await gql(client, "{ me { id } }", token=token))["data"]["me"]["id"])


# --------------------------------------------------------------------------- /app itself


async def test_every_app_path_is_the_shell_and_me_leads_to_the_app(client):
    for path in ("/app", "/app/", "/app/payment", "/app/charger/KLOKK-1", "/app/session/7"):
        response = await client.get(path)
        assert response.status_code == 200, path
        assert '<script type="module" src="/app/assets/main.js">' in response.text
        assert '"preact": "/static/vendor/preact/preact.module.js"' in response.text
    moved = await client.get("/me")
    assert moved.status_code == 307 and moved.headers["location"] == "/app/account"


async def test_the_service_worker_caches_a_shell_that_is_all_there(client):
    worker = await client.get("/app/sw.js")
    assert worker.status_code == 200
    assert worker.headers["service-worker-allowed"] == "/app/"
    assert "__VERSION__" not in worker.text and "__SHELL__" not in worker.text
    shell = json.loads(worker.text.split("const SHELL = ", 1)[1].split(";", 1)[0])
    assert "/app" in shell and "/app/assets/main.js" in shell
    assert "/static/vendor/leaflet/leaflet.js" in shell
    for url in shell:
        assert (await client.get(url)).status_code == 200, url
    manifest = (await client.get("/app/manifest.webmanifest")).json()
    assert manifest["start_url"] == "/app" and manifest["display"] == "standalone"
    for icon in manifest["icons"]:
        assert (await client.get(icon["src"])).headers["content-type"] == "image/png"


async def test_app_assets_stay_inside_the_app_folder(client):
    assert (await client.get("/app/assets/%2e%2e/routes.py")).status_code == 404
    assert (await client.get("/app/assets/nothing.js")).status_code == 404


async def test_app_config_gives_stripe_js_its_key_only_with_the_stripe_provider(settings):
    stripe = settings.model_copy(
        update={
            "card_provider": "stripe",
            "stripe_api_key": "sk_test_123",
            "stripe_publishable_key": "pk_test_456",
            "vipps_provider": "off",
            "app_map_tile_url": "",
        }
    )
    rt = Runtime.build(stripe)
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=rt.http_app()), base_url="http://test"
        ) as c:
            body = await gql(
                c, "{ appConfig { cardProvider stripePublishableKey vipps mapTileUrl } }"
            )
            policy = (await c.get("/app/payment")).headers["content-security-policy"]
    finally:
        await rt.engine.dispose()
    assert body["data"]["appConfig"] == {
        "cardProvider": "stripe",
        "stripePublishableKey": "pk_test_456",
        "vipps": False,
        "mapTileUrl": None,  # no tiles: the app draws without a background
    }
    assert "script-src 'self' 'sha256-" in policy and "https://js.stripe.com" in policy
    assert "img-src 'self' data:;" in policy  # no tile server to load from


async def test_the_app_page_may_load_only_from_here_and_the_tile_server(client, runtime):
    policy = (await client.get("/app")).headers["content-security-policy"]
    rules = dict(rule.split(" ", 1) for rule in policy.split("; "))
    assert rules["default-src"] == "'self'" and rules["connect-src"] == "'self'"
    assert "stripe" not in policy  # the sandbox needs nothing from Stripe
    assert rules["img-src"] == "'self' data: https://tile.openstreetmap.org"
    assert rules["frame-src"] == "'none'" and rules["object-src"] == "'none'"
