"""A guest paying by card through Stripe end to end: the real `stripe` SDK against the fake
Stripe API, webhooks signed with Stripe's scheme, a real charger doing the charging.

Drills: the webhook replayed 3x and out of order, a bad and a stale signature, capture of
the exact amount with a fixed idempotency key, and a card declined by Stripe."""

from __future__ import annotations

import asyncio
import re
import time

import httpx
import pytest
from sqlalchemy import func, select

from core.models import ChargingSession, Payment, Site, WebhookEvent
from tests.api.test_e2e import ChargingCharger
from tests.helpers import add_fleet, arrange, boot16, connect

SECRET = "whsec_test_secret"


@pytest.fixture
def settings(settings, fake_stripe):
    settings.card_provider = "stripe"
    settings.stripe_api_key = fake_stripe.api_key
    settings.stripe_api_base = fake_stripe.url
    settings.stripe_webhook_secret = SECRET
    settings.public_base_url = "http://ladeflyt.test"
    return settings


@pytest.fixture
async def client(runtime):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.http_app()), base_url="http://ladeflyt.test"
    ) as c:
        yield c


async def _wait(check, timeout: float = 10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def _boot(cp) -> None:
    from ocpp.v16 import call as call16

    await cp.call(boot16())
    for n in (1, 2):
        await cp.call(
            call16.StatusNotification(connector_id=n, error_code="NoError", status="Available")
        )


async def _payment(runtime) -> Payment:
    async def work(s):
        return (await s.execute(select(Payment))).scalar_one()

    return await arrange(runtime, work)


async def test_guest_pays_by_stripe_checkout_webhook_starts_and_exact_amount_is_captured(
    runtime, client, ocpp_url, fake_stripe
):
    await add_fleet(runtime, "KLOKK-AC-01")

    async def price(s):
        (await s.execute(select(Site))).scalar_one().list_price_ore_per_kwh = 480

    await arrange(runtime, price)
    async with connect(ocpp_url, "KLOKK-AC-01", charger_class=ChargingCharger) as cp:
        await _boot(cp)
        page = await client.get("/pay/KLOKK-AC-01")
        assert page.status_code == 200 and "4,80" in page.text
        checkout = await client.post(
            "/pay/KLOKK-AC-01", data={"method": "card", "evse": "1", "lang": "nb"}
        )
        assert checkout.status_code == 303
        assert checkout.headers["location"].startswith(fake_stripe.url + "/checkout/cs_")
        (session_request,) = fake_stripe.requests_to("/v1/checkout/sessions", "POST")
        form = session_request.form
        assert form["payment_intent_data[capture_method]"] == "manual"
        assert form["line_items[0][price_data][unit_amount]"] == "40000"
        assert form["line_items[0][price_data][currency]"] == "nok"
        assert session_request.headers["idempotency-key"].startswith("authorize:lf-g-")
        session_id = checkout.headers["location"].rsplit("/", 1)[1].split("?")[0]

        # The guest pays on Stripe's page, then Stripe tells us (twice, and once late).
        fake_stripe.approve_checkout(session_id)
        stripe_session = fake_stripe.sessions[session_id]
        body, signature = fake_stripe.signed_event(
            "checkout.session.completed", stripe_session, SECRET
        )
        for _ in range(3):
            response = await client.post(
                "/webhooks/stripe",
                content=body,
                headers={"Stripe-Signature": signature, "Content-Type": "application/json"},
            )
            assert response.status_code == 202

        async def events(s):
            return (await s.execute(select(func.count()).select_from(WebhookEvent))).scalar_one()

        assert await arrange(runtime, events) == 1
        await runtime.payment_worker.run_jobs(reminders=False)

        async def started():
            return [a for a, _ in cp.received if a == "RemoteStartTransaction"]

        assert len(await _wait(started)) == 1

        async def session():
            return await arrange(runtime, lambda s: _first_session(s))

        cs = await _wait(session)
        await cp.meter(5_000, 11.0)
        token = re.search(r"/pay/c/([^\"?]+)", stripe_session["success_url"]).group(1)
        stop = await client.post(f"/pay/c/{token}/stop")
        assert stop.status_code == 303

        async def captured():
            payment = await _payment(runtime)
            return payment if payment.status == "captured" else None

        payment = await _wait(captured)
    assert payment.amount_captured_ore == 2_400  # 5 kWh at kr 4.80
    (capture,) = [r for r in fake_stripe.requests if r.path.endswith("/capture")]
    assert capture.form["amount_to_capture"] == "2400"
    assert capture.headers["idempotency-key"] == f"capture:{payment.reference}"
    done = await arrange(runtime, lambda s: s.get(ChargingSession, cs.id))
    assert (done.cost_ore, done.payment_state) == (2_400, "paid")
    # A late, replayed webhook from before the capture changes nothing.
    late, late_signature = fake_stripe.signed_event(
        "payment_intent.amount_capturable_updated",
        {"id": payment.provider_ref, "object": "payment_intent"},
        SECRET,
    )
    assert (
        await client.post(
            "/webhooks/stripe", content=late, headers={"Stripe-Signature": late_signature}
        )
    ).status_code == 202
    await runtime.payment_worker.run_jobs(reminders=False)
    assert (await _payment(runtime)).amount_captured_ore == 2_400
    assert len([r for r in fake_stripe.requests if r.path.endswith("/capture")]) == 1


async def _first_session(s):
    return (await s.execute(select(ChargingSession))).scalar_one_or_none()


async def test_webhook_signatures_are_checked(runtime, client, fake_stripe):
    body, signature = fake_stripe.signed_event(
        "payment_intent.succeeded", {"id": "pi_x", "object": "payment_intent"}, SECRET
    )
    assert (await client.post("/webhooks/stripe", content=body)).status_code == 401
    forged = signature.replace("v1=", "v1=0")
    assert (
        await client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": forged})
    ).status_code == 401
    stale_body, stale = fake_stripe.signed_event(
        "payment_intent.succeeded",
        {"id": "pi_x", "object": "payment_intent"},
        SECRET,
        timestamp=int(time.time()) - 3600,
    )
    assert (
        await client.post(
            "/webhooks/stripe", content=stale_body, headers={"Stripe-Signature": stale}
        )
    ).status_code == 401
    tampered = body.replace(b"pi_x", b"pi_y")
    assert (
        await client.post(
            "/webhooks/stripe", content=tampered, headers={"Stripe-Signature": signature}
        )
    ).status_code == 401

    async def events(s):
        return (await s.execute(select(func.count()).select_from(WebhookEvent))).scalar_one()

    assert await arrange(runtime, events) == 0
    runtime.settings.stripe_webhook_secret = ""
    assert (
        await client.post("/webhooks/stripe", content=body, headers={"Stripe-Signature": signature})
    ).status_code == 404
