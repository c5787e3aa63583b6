"""The real `stripe` SDK (httpx) against a fake Stripe API on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from core.ports import PaymentDeclined, PaymentProviderUnavailable, PaymentRequest, PaymentState
from payments.stripe_provider import StripeCardVault, StripeProvider
from tests.payments.fakes import FakeStripe

HOLD = 50_000  # NOK 500,00


def saved_card(ref: str = "sess-0001-hold", **kw: object) -> PaymentRequest:
    fields: dict[str, object] = {
        "amount_ore": HOLD,
        "reference": ref,
        "description": "Lading Hurum 3",
        "return_url": "https://ladeflyt.example.no/app/return",
        "customer_ref": "cus_driver",
        "payment_method_ref": "pm_card_visa",
    }
    fields.update(kw)
    return PaymentRequest(**fields)  # type: ignore[arg-type]


def guest(ref: str = "guest-0001-hold", **kw: object) -> PaymentRequest:
    fields: dict[str, object] = {
        "amount_ore": 40_000,
        "reference": ref,
        "description": "Lading uten konto",
        "return_url": "https://ladeflyt.example.no/p/guest-0001",
        "email": "gjest@example.no",
    }
    fields.update(kw)
    return PaymentRequest(**fields)  # type: ignore[arg-type]


async def test_saved_card_is_held_off_session_with_manual_capture(fake_stripe: FakeStripe):
    payment = await fake_stripe.provider().create(saved_card())

    assert payment.state is PaymentState.AUTHORIZED
    assert payment.authorized_ore == HOLD and payment.captured_ore == 0
    assert payment.provider_ref.startswith("pi_")
    assert payment.capture_before is not None
    assert abs(payment.capture_before.timestamp() - (time.time() + 7 * 86400)) < 60
    (request,) = fake_stripe.requests_to("/v1/payment_intents", "POST")
    assert request.form == {
        "amount": "50000",
        "currency": "nok",
        "capture_method": "manual",
        "payment_method": "pm_card_visa",
        "allowed_payment_method_types[0]": "card",
        "confirm": "true",
        "off_session": "true",
        "description": "Lading Hurum 3",
        "metadata[reference]": "sess-0001-hold",
        "expand[0]": "latest_charge",
        "customer": "cus_driver",
    }
    assert request.headers["idempotency-key"] == "authorize:sess-0001-hold"
    assert request.headers["authorization"] == "Bearer sk_test_fake"


async def test_retried_create_replays_the_same_hold(fake_stripe: FakeStripe):
    provider = fake_stripe.provider()
    first = await provider.create(saved_card())
    again = await provider.create(saved_card())
    assert again == first
    assert len(fake_stripe.intents) == 1


async def test_without_manual_capture_the_card_is_charged_at_once(fake_stripe: FakeStripe):
    payment = await fake_stripe.provider().create(saved_card(manual_capture=False))
    assert payment.state is PaymentState.CAPTURED
    assert payment.captured_ore == HOLD
    assert fake_stripe.requests[0].form["capture_method"] == "automatic"


async def test_declined_card_is_a_payment_declined(fake_stripe: FakeStripe):
    with pytest.raises(PaymentDeclined) as caught:
        await fake_stripe.provider().create(saved_card(payment_method_ref="pm_card_chargeDeclined"))
    assert caught.value.code == "card_declined"


async def test_card_needing_3ds_off_session_is_declined_with_its_code(fake_stripe: FakeStripe):
    request = saved_card(payment_method_ref="pm_card_authenticationRequired")
    with pytest.raises(PaymentDeclined) as caught:
        await fake_stripe.provider().create(request)
    assert caught.value.code == "authentication_required"


async def test_capture_takes_the_actual_amount_and_releases_the_rest(fake_stripe: FakeStripe):
    provider = fake_stripe.provider()
    held = await provider.create(saved_card())

    captured = await provider.capture(held.provider_ref, 12_345, "capture:sess-0001")

    assert captured.state is PaymentState.CAPTURED
    assert captured.captured_ore == 12_345
    # Stripe books the released remainder as "refunded" on the charge; it is not a refund.
    assert captured.refunded_ore == 0
    (request,) = fake_stripe.requests_to(f"/v1/payment_intents/{held.provider_ref}/capture")
    assert request.form == {"amount_to_capture": "12345", "expand[0]": "latest_charge"}
    assert request.headers["idempotency-key"] == "capture:sess-0001"
    assert await provider.fetch(held.provider_ref) == captured


async def test_capture_above_the_hold_is_refused(fake_stripe: FakeStripe):
    provider = fake_stripe.provider()
    held = await provider.create(saved_card())
    with pytest.raises(PaymentDeclined) as caught:
        await provider.capture(held.provider_ref, HOLD + 1, "capture:sess-0001")
    assert caught.value.code == "amount_too_large"
    assert (await provider.fetch(held.provider_ref)).state is PaymentState.AUTHORIZED


async def test_zero_kwh_cancels_the_hold(fake_stripe: FakeStripe):
    provider = fake_stripe.provider()
    held = await provider.create(saved_card())

    cancelled = await provider.cancel(held.provider_ref, "cancel:sess-0001")

    assert cancelled.state is PaymentState.CANCELLED
    assert cancelled.captured_ore == 0
    (request,) = fake_stripe.requests_to(f"/v1/payment_intents/{held.provider_ref}/cancel")
    assert request.headers["idempotency-key"] == "cancel:sess-0001"
    # A retry with the same key replays; a second cancel reports what is already true.
    assert await provider.cancel(held.provider_ref, "cancel:sess-0001") == cancelled
    assert (await provider.cancel(held.provider_ref, "cancel:again")).state is (
        PaymentState.CANCELLED
    )


async def test_refunds_are_counted_apart_from_the_released_hold(fake_stripe: FakeStripe):
    provider = fake_stripe.provider()
    held = await provider.create(saved_card())
    await provider.capture(held.provider_ref, 30_000, "capture:sess-0001")

    refunded = await provider.refund(held.provider_ref, 5_000, "refund:sess-0001:1")

    assert (refunded.state, refunded.captured_ore, refunded.refunded_ore) == (
        PaymentState.CAPTURED,
        30_000,
        5_000,
    )
    (request,) = fake_stripe.requests_to("/v1/refunds")
    assert request.form == {"payment_intent": held.provider_ref, "amount": "5000"}
    assert request.headers["idempotency-key"] == "refund:sess-0001:1"
    with pytest.raises(PaymentDeclined):
        await provider.refund(held.provider_ref, 25_001, "refund:sess-0001:2")


async def test_a_lapsed_hold_is_expired(fake_stripe: FakeStripe):
    provider = fake_stripe.provider()
    held = await provider.create(saved_card())
    fake_stripe.expire_hold(held.provider_ref)

    assert (await provider.fetch(held.provider_ref)).state is PaymentState.EXPIRED
    cancelled = await provider.cancel(held.provider_ref, "cancel:sess-0001")
    assert cancelled.state is PaymentState.EXPIRED
    with pytest.raises(PaymentDeclined):
        await provider.capture(held.provider_ref, 1_000, "capture:sess-0001")


async def test_guest_pays_on_stripe_checkout(fake_stripe: FakeStripe):
    payment = await fake_stripe.provider().create(guest())

    assert payment.state is PaymentState.PENDING
    assert payment.provider_ref.startswith("cs_")
    assert payment.redirect_url == f"{fake_stripe.url}/checkout/{payment.provider_ref}"
    (request,) = fake_stripe.requests_to("/v1/checkout/sessions", "POST")
    assert request.headers["idempotency-key"] == "authorize:guest-0001-hold"
    assert request.form == {
        "mode": "payment",
        "line_items[0][quantity]": "1",
        "line_items[0][price_data][currency]": "nok",
        "line_items[0][price_data][unit_amount]": "40000",
        "line_items[0][price_data][product_data][name]": "Lading uten konto",
        "allowed_payment_method_types[0]": "card",
        "payment_intent_data[capture_method]": "manual",
        "payment_intent_data[description]": "Lading uten konto",
        "payment_intent_data[metadata][reference]": "guest-0001-hold",
        "metadata[reference]": "guest-0001-hold",
        "client_reference_id": "guest-0001-hold",
        "success_url": "https://ladeflyt.example.no/p/guest-0001",
        "cancel_url": "https://ladeflyt.example.no/p/guest-0001?cancelled=1",
        "locale": "nb",
        "customer_email": "gjest@example.no",
    }
    assert request.body["payment_intent_data"]["capture_method"] == "manual"


async def test_checkout_keeps_the_return_urls_query_and_speaks_english(fake_stripe: FakeStripe):
    request = guest(return_url="https://x.example/p?t=abc", language="en", email=None)
    await fake_stripe.provider().create(request)
    form = fake_stripe.requests[0].form
    assert form["cancel_url"] == "https://x.example/p?t=abc&cancelled=1"
    assert form["locale"] == "en"
    assert "customer_email" not in form


async def test_paid_checkout_resolves_to_its_payment_intent(fake_stripe: FakeStripe):
    provider = fake_stripe.provider()
    created = await provider.create(guest())
    assert (await provider.fetch(created.provider_ref)).state is PaymentState.PENDING

    async with httpx.AsyncClient() as browser:
        page = await browser.get(f"{created.redirect_url}?outcome=approve")
    assert page.status_code == 303
    assert page.headers["location"] == "https://ladeflyt.example.no/p/guest-0001"

    paid = await provider.fetch(created.provider_ref)
    assert paid.state is PaymentState.AUTHORIZED
    assert paid.provider_ref.startswith("pi_") and paid.authorized_ore == 40_000
    captured = await provider.capture(created.provider_ref, 9_900, "capture:guest-0001")
    assert (captured.provider_ref, captured.captured_ore) == (paid.provider_ref, 9_900)


async def test_declined_checkout_card_leaves_the_guest_pending(fake_stripe: FakeStripe):
    provider = fake_stripe.provider()
    created = await provider.create(guest())
    async with httpx.AsyncClient() as browser:
        page = await browser.get(f"{created.redirect_url}?outcome=decline")
    assert page.status_code == 402
    payment = await provider.fetch(created.provider_ref)
    assert (payment.state, payment.failure) == (PaymentState.PENDING, "card_declined")


async def test_cancelling_an_unpaid_checkout_expires_it(fake_stripe: FakeStripe):
    provider = fake_stripe.provider()
    created = await provider.create(guest())
    cancelled = await provider.cancel(created.provider_ref, "cancel:guest-0001")
    assert cancelled.state is PaymentState.CANCELLED
    assert fake_stripe.sessions[created.provider_ref]["status"] == "expired"
    (request,) = fake_stripe.requests_to(f"/v1/checkout/sessions/{created.provider_ref}/expire")
    assert request.headers["idempotency-key"] == "cancel:guest-0001"
    assert (await provider.fetch(created.provider_ref)).state is PaymentState.EXPIRED


async def test_paid_checkout_hold_is_cancelled_on_its_payment_intent(fake_stripe: FakeStripe):
    provider = fake_stripe.provider()
    created = await provider.create(guest())
    fake_stripe.approve_checkout(created.provider_ref)
    cancelled = await provider.cancel(created.provider_ref, "cancel:guest-0001")
    assert cancelled.state is PaymentState.CANCELLED and cancelled.provider_ref.startswith("pi_")


async def test_checkout_that_returns_its_payment_intent_uses_its_id():
    with FakeStripe(eager_payment_intent=True) as fake:
        payment = await fake.provider().create(guest())
        assert payment.provider_ref.startswith("pi_")
        assert payment.redirect_url and "/checkout/cs_" in payment.redirect_url
        assert (await fake.provider().fetch(payment.provider_ref)).state is PaymentState.PENDING


@pytest.mark.parametrize("status", [500, 503, 429])
async def test_outages_and_rate_limits_are_unavailable(fake_stripe: FakeStripe, status: int):
    fake_stripe.fail_next(status)
    with pytest.raises(PaymentProviderUnavailable):
        await fake_stripe.provider().create(saved_card())


async def test_unreachable_stripe_is_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = StripeProvider(
        "sk_test_fake", api_base=f"http://127.0.0.1:{port}", max_network_retries=0
    )
    with pytest.raises(PaymentProviderUnavailable):
        await provider.fetch("pi_nowhere")


async def test_sdk_retries_reuse_the_idempotency_key(fake_stripe: FakeStripe):
    fake_stripe.fail_next(500)
    payment = await fake_stripe.provider(max_network_retries=1).create(saved_card())
    assert payment.state is PaymentState.AUTHORIZED
    keys = [r.headers["idempotency-key"] for r in fake_stripe.requests]
    assert keys == ["authorize:sess-0001-hold", "authorize:sess-0001-hold"]


async def test_wrong_api_key_is_unavailable_not_declined(fake_stripe: FakeStripe):
    provider = StripeProvider("sk_test_wrong", api_base=fake_stripe.url, max_network_retries=0)
    with pytest.raises(PaymentProviderUnavailable):
        await provider.create(saved_card())


# --------------------------------------------------------------------------- card vault


async def test_setup_creates_a_customer_and_a_setup_intent(fake_stripe: FakeStripe):
    setup = await fake_stripe.vault().setup(None, "driver@example.no", "+4791234567")

    assert setup.customer_ref.startswith("cus_")
    assert setup.client_secret.startswith("seti_") and "_secret_" in setup.client_secret
    customer, intent = fake_stripe.requests
    assert customer.path == "/v1/customers"
    assert customer.form == {"phone": "+4791234567", "email": "driver@example.no"}
    assert intent.path == "/v1/setup_intents"
    assert intent.form == {
        "customer": setup.customer_ref,
        "usage": "off_session",
        "allowed_payment_method_types[0]": "card",
    }


async def test_setup_for_a_known_customer_only_makes_a_setup_intent(fake_stripe: FakeStripe):
    vault = fake_stripe.vault()
    first = await vault.setup(None, None, "+4791234567")
    second = await vault.setup(first.customer_ref, None, "+4791234567")
    assert second.customer_ref == first.customer_ref
    assert len(fake_stripe.requests_to("/v1/customers")) == 1


async def test_saved_card_details_and_detach(fake_stripe: FakeStripe):
    fake_stripe.add_card("pm_driver", brand="mastercard", last4="5100", customer="cus_driver")
    vault: StripeCardVault = fake_stripe.vault()

    card = await vault.card("pm_driver")
    assert (card.payment_method_ref, card.brand, card.last4) == ("pm_driver", "mastercard", "5100")
    assert (card.exp_month, card.exp_year) == (12, 2030)

    await vault.detach("pm_driver")
    await vault.detach("pm_driver")  # already detached: fine
    await vault.detach("pm_unknown")  # never existed: fine
    assert fake_stripe.methods["pm_driver"]["customer"] is None
    with pytest.raises(PaymentDeclined) as caught:
        await vault.card("pm_unknown")
    assert caught.value.code == "resource_missing"
