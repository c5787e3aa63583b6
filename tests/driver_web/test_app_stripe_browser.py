"""The driver app with Stripe as the card provider: Stripe.js is loaded (only now) from
Stripe, the card is confirmed there against the SetupIntent the API made with the real
Stripe SDK (here against the fake Stripe API), and the card is kept. Stripe.js itself is
played by a small script served in its place: the network reaches no Stripe."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from core.config import Settings
from tests.driver_web.conftest import settings_for
from tests.driver_web.steps import sign_in_new_driver
from tests.payments.fake_stripe import FakeStripe

pytestmark = pytest.mark.asyncio(loop_scope="module")

PUBLISHABLE_KEY = "pk_test_ladeflyt"
# Stripe.js as far as the app uses it: Stripe(key).elements().create("card").mount(el),
# confirmCardSetup(clientSecret, {payment_method: {card}}) → {setupIntent: {payment_method}}.
FAKE_STRIPE_JS = """
window.stripeCalls = [];
window.Stripe = function (key, options) {
  window.stripeCalls.push(["Stripe", key]);
  return {
    elements: () => ({
      create: (kind) => ({
        mount: (el) => { el.innerHTML = '<input id="stripe-card" value="4242 4242 4242 4242">'; },
        destroy: () => {},
      }),
    }),
    confirmCardSetup: async (secret, data) => {
      window.stripeCalls.push(["confirmCardSetup", secret, Boolean(data.payment_method.card)]);
      return { setupIntent: { payment_method: "pm_card_visa" } };
    },
  };
};
"""


@pytest.fixture(scope="module")
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


@pytest.fixture(scope="module")
def app_settings(
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    app_socket: Any,
    fake_stripe: FakeStripe,
) -> Settings:
    return settings_for(
        sqlite_template,
        tmp_path_factory,
        app_socket,
        card_provider="stripe",
        stripe_api_key=fake_stripe.api_key,
        stripe_api_base=fake_stripe.url,
        stripe_publishable_key=PUBLISHABLE_KEY,
        vipps_provider="off",
    )


async def test_a_card_is_saved_through_stripe_js_and_the_stripe_api(
    phone, app_runtime, fake_stripe
):
    stripe_js: list[str] = []

    async def serve_stripe_js(route: Any) -> None:
        stripe_js.append(route.request.url)
        await route.fulfill(body=FAKE_STRIPE_JS, content_type="text/javascript")

    await phone.route("https://js.stripe.com/**", serve_stripe_js)
    await sign_in_new_driver(phone, app_runtime, "45556666", "Stine Stripe")
    assert stripe_js == []  # nothing of Stripe's until a card is added
    await phone.goto("/app/payment")
    await phone.locator("#add-card").click()
    await phone.locator("#stripe-card").wait_for()
    assert stripe_js == ["https://js.stripe.com/v3/"]
    assert await phone.get_by_text("Testmodus").count() == 0  # no sandbox form here
    await phone.locator("#save-card").click()
    await phone.locator("#card-saved").wait_for()
    method = phone.locator("#payment-methods li").first
    await method.wait_for()
    assert "Visa •••• 4242" in await method.inner_text()

    calls = await phone.evaluate("window.stripeCalls")
    assert calls[0] == ["Stripe", PUBLISHABLE_KEY]
    (customer,) = fake_stripe.customers.values()
    assert customer["phone"] == "+4745556666"
    secret = calls[1][1]
    assert calls[1] == ["confirmCardSetup", secret, True] and secret.endswith("_secret_fake")


async def test_with_stripe_the_app_asks_stripe_for_stripe_js_and_nothing_else(phone, app_server):
    own = urlsplit(app_server).netloc
    elsewhere = {urlsplit(url).netloc for url in phone.requested if urlsplit(url).netloc != own}
    assert elsewhere == {"js.stripe.com"}
    assert phone.refused == []  # the Content-Security-Policy lets Stripe.js in
    assert json.dumps(phone.requested).count("js.stripe.com") == 1
