"""Vipps MobilePay end to end: guests and invoice payers approve in Vipps (the fake ePayment
API), HMAC-signed webhooks move things on, the exact amount is captured, and ABORTED or
EXPIRED payments start nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from core.models import ChargingSession, Invoice, Payment, Site, User
from core.payments import invoices
from core.payments.webhooks import process_pending
from tests.api.test_e2e import ChargingCharger
from tests.helpers import add_fleet, arrange, boot16, connect

SECRET = "vipps-webhook-secret"
HOST = "ladeflyt.example.no"


@pytest.fixture
def settings(settings, fake_vipps):
    settings.vipps_provider = "vipps"
    settings.vipps_base_url = fake_vipps.url
    settings.vipps_client_id = fake_vipps.client_id
    settings.vipps_client_secret = fake_vipps.client_secret
    settings.vipps_subscription_key = fake_vipps.subscription_key
    settings.vipps_merchant_serial_number = fake_vipps.msn
    settings.vipps_webhook_secret = SECRET
    settings.public_base_url = f"https://{HOST}"
    return settings


@pytest.fixture
async def client(runtime):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.http_app()), base_url=f"https://{HOST}"
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


async def _payment(runtime) -> Payment:
    return await arrange(runtime, lambda s: _only_payment(s))


async def _only_payment(s):
    return (await s.execute(select(Payment))).scalar_one()


async def _webhook(client, fake_vipps, reference: str, name: str) -> int:
    body, headers = fake_vipps.signed_event(reference, name, SECRET, host=HOST)
    response = await client.post(
        "/webhooks/vipps", content=body, headers={**headers, "Content-Type": "application/json"}
    )
    return response.status_code


async def _fleet(runtime) -> None:
    await add_fleet(runtime, "TOFTE-AC-01")

    async def price(s):
        (await s.execute(select(Site))).scalar_one().list_price_ore_per_kwh = 400

    await arrange(runtime, price)


async def _guest_checkout(runtime, client, ocpp_url):
    response = await client.post(
        "/pay/TOFTE-AC-01", data={"method": "vipps", "evse": "1", "phone": "91234567", "lang": "nb"}
    )
    assert response.status_code == 303, response.text
    return (await _payment(runtime)).reference


async def _boot(cp) -> None:
    from ocpp.v16 import call as call16

    await cp.call(boot16())
    for n in (1, 2):
        await cp.call(
            call16.StatusNotification(connector_id=n, error_code="NoError", status="Available")
        )


async def test_guest_pays_with_vipps_and_exact_amount_is_captured(
    runtime, client, ocpp_url, fake_vipps
):
    await _fleet(runtime)
    async with connect(ocpp_url, "TOFTE-AC-01", charger_class=ChargingCharger) as cp:
        await _boot(cp)
        reference = await _guest_checkout(runtime, client, ocpp_url)
        created = fake_vipps.payment(reference)
        assert created["amount"] == 40_000
        fake_vipps.approve(reference)
        for _ in range(3):  # Vipps retries; replays change nothing
            assert await _webhook(client, fake_vipps, reference, "AUTHORIZED") == 202
        await runtime.payment_worker.run_jobs(reminders=False)

        async def started():
            return [a for a, _ in cp.received if a == "RemoteStartTransaction"]

        assert len(await _wait(started)) == 1
        session = await _wait(lambda: arrange(runtime, _first_session))
        await cp.meter(3_000, 7.4)
        from core import bus

        await runtime.gateway_ctx.commands.send(
            "TOFTE-AC-01", bus.RemoteStop(transaction_id=session.transaction_id)
        )

        async def captured():
            payment = await _payment(runtime)
            return payment if payment.status == "captured" else None

        payment = await _wait(captured)
    assert payment.amount_captured_ore == 1_200
    captures = fake_vipps.requests_to(f"/epayment/v1/payments/{reference}/capture", "POST")
    assert len(captures) == 1
    assert captures[0].body["modificationAmount"] == {"currency": "NOK", "value": 1_200}
    assert captures[0].headers["idempotency-key"]


async def _first_session(s):
    return (await s.execute(select(ChargingSession))).scalar_one_or_none()


@pytest.mark.parametrize("outcome", ["ABORTED", "EXPIRED"])
async def test_aborted_or_expired_vipps_payment_starts_nothing(
    runtime, client, ocpp_url, fake_vipps, outcome
):
    await _fleet(runtime)
    async with connect(ocpp_url, "TOFTE-AC-01", charger_class=ChargingCharger) as cp:
        await _boot(cp)
        reference = await _guest_checkout(runtime, client, ocpp_url)
        (fake_vipps.reject if outcome == "ABORTED" else fake_vipps.expire)(reference)
        assert await _webhook(client, fake_vipps, reference, outcome) == 202
        await process_pending(runtime.payments)
        assert [a for a, _ in cp.received] == []
    payment = await _payment(runtime)
    assert payment.status == ("cancelled" if outcome == "ABORTED" else "expired")


async def test_bad_vipps_signature_is_refused(runtime, client, fake_vipps):
    body, headers = fake_vipps.signed_event(
        "lf-x-0000000000", "AUTHORIZED", "wrong-secret", host=HOST
    )
    response = await client.post("/webhooks/vipps", content=body, headers=headers)
    assert response.status_code == 401
    runtime.settings.vipps_webhook_secret = ""
    assert (await client.post("/webhooks/vipps", content=body, headers=headers)).status_code == 404


async def test_invoice_paid_with_vipps_is_captured_and_marked_paid(runtime, client, fake_vipps):
    async def invoice(s):
        user = User(phone="+4791234567", name="Kari")
        s.add(user)
        await s.flush()
        now = datetime.now(UTC)
        inv = Invoice(
            number=1001,
            user_id=user.id,
            period="2026-10",
            period_start=now - timedelta(days=60),
            period_end=now - timedelta(days=30),
            issue_date=date.today() - timedelta(days=20),
            due_date=date.today() - timedelta(days=6),
            kid="10000010010",
            net_ore=10_000,
            vat_ore=2_500,
            total_ore=12_500,
        )
        s.add(inv)
        await s.flush()
        return await invoices.create_link(s, inv.id, 30)

    token = await arrange(runtime, invoice)
    page = await client.get(f"/invoice/{token}")
    assert page.status_code == 200 and "125,00" in page.text
    pay = await client.post(f"/invoice/{token}/pay", data={"method": "vipps"})
    assert pay.status_code == 303
    reference = (await _payment(runtime)).reference
    fake_vipps.approve(reference)
    assert await _webhook(client, fake_vipps, reference, "AUTHORIZED") == 202
    await process_pending(runtime.payments)

    async def paid(s):
        return (await s.execute(select(Invoice.status))).scalar_one()

    assert await arrange(runtime, paid) == "paid"
    assert (await _payment(runtime)).amount_captured_ore == 12_500
    again = await client.get(f"/invoice/{token}")
    assert "betalt" in again.text
    second = await client.post(f"/invoice/{token}/pay", data={"method": "vipps"})
    assert second.status_code == 409
