"""The Vipps MobilePay adapter (httpx) against a fake ePayment API on 127.0.0.1."""

from __future__ import annotations

import socket
import time

import httpx
import pytest

from core.ports import PaymentDeclined, PaymentProviderUnavailable, PaymentRequest, PaymentState
from payments.vipps import VippsProvider, msisdn, vipps_idempotency_key
from tests.payments.fakes import FakeVipps

HOLD = 40_000
RETURN = "https://ladeflyt.example.no/p/abc123"


def vipps(ref: str = "guest-0001-hold", **kw: object) -> PaymentRequest:
    fields: dict[str, object] = {
        "amount_ore": HOLD,
        "reference": ref,
        "description": "Lading Hurum 3",
        "return_url": RETURN,
    }
    fields.update(kw)
    return PaymentRequest(**fields)  # type: ignore[arg-type]


async def authorized(fake: FakeVipps, provider: VippsProvider, ref: str = "guest-0001-hold") -> str:
    created = await provider.create(vipps(ref))
    fake.approve(created.provider_ref)
    return created.provider_ref


async def test_create_sends_the_payer_to_the_landing_page(fake_vipps: FakeVipps):
    payment = await fake_vipps.provider().create(vipps())

    assert payment.state is PaymentState.PENDING
    assert payment.provider_ref == "guest-0001-hold"
    assert payment.redirect_url == f"{fake_vipps.url}/landing/guest-0001-hold"
    token, create = fake_vipps.requests
    assert (token.method, token.path) == ("POST", "/accesstoken/get")
    assert token.headers["client_id"] == "fake-client-id"
    assert token.headers["client_secret"] == "fake-client-secret"
    assert token.headers["ocp-apim-subscription-key"] == "fake-subscription-key"
    assert token.headers["merchant-serial-number"] == "123456"
    assert (create.method, create.path) == ("POST", "/epayment/v1/payments")
    assert create.body == {
        "amount": {"currency": "NOK", "value": 40_000},
        "paymentMethod": {"type": "WALLET"},
        "reference": "guest-0001-hold",
        "returnUrl": RETURN,
        "userFlow": "WEB_REDIRECT",
        "paymentDescription": "Lading Hurum 3",
    }
    assert create.headers["authorization"].startswith("Bearer fake-token-")
    assert create.headers["idempotency-key"] == "authorize:guest-0001-hold"
    assert create.headers["ocp-apim-subscription-key"] == "fake-subscription-key"
    assert create.headers["merchant-serial-number"] == "123456"
    assert create.headers["vipps-system-name"] == "ladeflyt"
    assert create.headers["vipps-system-version"] == "0.1.0"


async def test_a_known_phone_is_prefilled_on_the_landing_page(fake_vipps: FakeVipps):
    await fake_vipps.provider().create(vipps(phone="+47 912 34 567"))
    create = fake_vipps.requests_to("/epayment")[0]
    assert create.body["customer"] == {"phoneNumber": "4791234567"}
    assert create.body["userFlow"] == "WEB_REDIRECT"


async def test_push_flag_sends_a_push_message_to_the_phone(fake_vipps: FakeVipps):
    payment = await fake_vipps.provider(push_to_phone=True).create(vipps(phone="+4791234567"))
    create = fake_vipps.requests_to("/epayment")[0]
    assert create.body["userFlow"] == "PUSH_MESSAGE"
    assert payment.redirect_url is None


async def test_push_flag_without_a_phone_falls_back_to_redirect(fake_vipps: FakeVipps):
    payment = await fake_vipps.provider(push_to_phone=True).create(vipps())
    assert fake_vipps.requests_to("/epayment")[0].body["userFlow"] == "WEB_REDIRECT"
    assert payment.redirect_url


async def test_retried_create_replays_without_a_second_payment(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    assert await provider.create(vipps()) == await provider.create(vipps())
    assert len(fake_vipps.payments) == 1


async def test_approval_on_the_landing_page_authorizes(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    created = await provider.create(vipps())
    assert (await provider.fetch(created.provider_ref)).state is PaymentState.PENDING

    async with httpx.AsyncClient() as browser:
        page = await browser.get(f"{created.redirect_url}?outcome=approve")
    assert (page.status_code, page.headers["location"]) == (303, RETURN)

    payment = await provider.fetch(created.provider_ref)
    assert (payment.state, payment.authorized_ore) == (PaymentState.AUTHORIZED, HOLD)
    get = fake_vipps.requests_to("/epayment/v1/payments/guest-0001-hold", "GET")[-1]
    assert "idempotency-key" not in get.headers


async def test_capture_takes_the_actual_amount(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    ref = await authorized(fake_vipps, provider)

    captured = await provider.capture(ref, 12_345, "capture:sess-0001")

    assert (captured.state, captured.captured_ore, captured.authorized_ore) == (
        PaymentState.CAPTURED,
        12_345,
        HOLD,
    )
    (request,) = fake_vipps.requests_to(f"/epayment/v1/payments/{ref}/capture")
    assert request.body == {"modificationAmount": {"currency": "NOK", "value": 12_345}}
    assert request.headers["idempotency-key"] == "capture:sess-0001"
    assert await provider.fetch(ref) == captured


async def test_capture_above_the_reservation_is_refused(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    ref = await authorized(fake_vipps, provider)
    with pytest.raises(PaymentDeclined) as caught:
        await provider.capture(ref, HOLD + 1, "capture:sess-0001")
    assert "too high" in str(caught.value)
    assert fake_vipps.payment(ref)["captured"] == 0


async def test_capture_before_approval_carries_vipps_error_code(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    created = await provider.create(vipps())
    with pytest.raises(PaymentDeclined) as caught:
        await provider.capture(created.provider_ref, 1_000, "capture:sess-0001")
    assert caught.value.code == "6080"


async def test_zero_kwh_cancels_the_reservation(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    ref = await authorized(fake_vipps, provider)

    cancelled = await provider.cancel(ref, "cancel:sess-0001")

    assert (cancelled.state, cancelled.captured_ore) == (PaymentState.CANCELLED, 0)
    (request,) = fake_vipps.requests_to(f"/epayment/v1/payments/{ref}/cancel")
    assert request.headers["idempotency-key"] == "cancel:sess-0001"
    assert await provider.cancel(ref, "cancel:sess-0001") == cancelled  # replayed
    assert (await provider.cancel(ref, "cancel:again")).state is PaymentState.CANCELLED


async def test_cancel_before_approval_terminates(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    created = await provider.create(vipps())
    cancelled = await provider.cancel(created.provider_ref, "cancel:sess-0001")
    assert (cancelled.state, cancelled.failure) == (PaymentState.CANCELLED, "terminated")


async def test_refund_after_capture(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    ref = await authorized(fake_vipps, provider)
    await provider.capture(ref, 30_000, "capture:sess-0001")

    refunded = await provider.refund(ref, 5_000, "refund:sess-0001:1")

    assert (refunded.state, refunded.captured_ore, refunded.refunded_ore) == (
        PaymentState.CAPTURED,
        30_000,
        5_000,
    )
    (request,) = fake_vipps.requests_to(f"/epayment/v1/payments/{ref}/refund")
    assert request.body == {"modificationAmount": {"currency": "NOK", "value": 5_000}}
    assert request.headers["idempotency-key"] == "refund:sess-0001:1"
    with pytest.raises(PaymentDeclined):
        await provider.refund(ref, 25_001, "refund:sess-0001:2")


async def test_payer_who_rejects_is_cancelled(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    created = await provider.create(vipps())
    async with httpx.AsyncClient() as browser:
        page = await browser.get(f"{created.redirect_url}?outcome=reject")
    assert page.status_code == 303
    payment = await provider.fetch(created.provider_ref)
    assert (payment.state, payment.failure) == (PaymentState.CANCELLED, "aborted")


async def test_payer_who_never_approves_expires(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    created = await provider.create(vipps())
    fake_vipps.expire(created.provider_ref)
    assert (await provider.fetch(created.provider_ref)).state is PaymentState.EXPIRED
    # Nothing is reserved: cancelling reports the expiry instead of failing.
    assert (await provider.cancel(created.provider_ref, "c:1")).state is PaymentState.EXPIRED


async def test_one_access_token_serves_many_operations(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    ref = await authorized(fake_vipps, provider)
    await provider.fetch(ref)
    await provider.capture(ref, 1_000, "capture:sess-0001")
    await provider.refund(ref, 500, "refund:sess-0001:1")
    assert fake_vipps.token_calls == 1


async def test_access_token_is_renewed_shortly_before_it_expires(fake_vipps: FakeVipps):
    now = [time.time()]
    provider = fake_vipps.provider(clock=lambda: now[0])
    created = await provider.create(vipps())
    now[0] += 3600 - 300  # five minutes left: still good
    await provider.fetch(created.provider_ref)
    assert fake_vipps.token_calls == 1
    now[0] += 250  # under the margin: renew first
    await provider.fetch(created.provider_ref)
    assert fake_vipps.token_calls == 2


async def test_a_revoked_token_is_replaced_once(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    created = await provider.create(vipps())
    fake_vipps.revoke_tokens()
    assert (await provider.fetch(created.provider_ref)).state is PaymentState.PENDING
    assert fake_vipps.token_calls == 2


async def test_wrong_keys_are_unavailable_not_declined(fake_vipps: FakeVipps):
    provider = VippsProvider(
        "nope", "nope", "fake-subscription-key", "123456", base_url=fake_vipps.url
    )
    with pytest.raises(PaymentProviderUnavailable):
        await provider.create(vipps())


async def test_bad_reference_is_refused_before_any_request(fake_vipps: FakeVipps):
    with pytest.raises(ValueError):
        await fake_vipps.provider().create(vipps("short"))
    with pytest.raises(ValueError):
        await fake_vipps.provider().create(vipps("has space in it"))
    assert fake_vipps.requests == []


@pytest.mark.parametrize("status", [500, 502, 429])
async def test_outages_and_rate_limits_are_unavailable(fake_vipps: FakeVipps, status: int):
    provider = fake_vipps.provider()
    created = await provider.create(vipps())
    fake_vipps.fail_next(status, path="/epayment")
    with pytest.raises(PaymentProviderUnavailable):
        await provider.fetch(created.provider_ref)


async def test_unreachable_vipps_is_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    provider = VippsProvider("id", "secret", "key", "123456", base_url=f"http://127.0.0.1:{port}")
    with pytest.raises(PaymentProviderUnavailable):
        await provider.fetch("guest-0001-hold")


async def test_long_idempotency_keys_are_shortened_stably(fake_vipps: FakeVipps):
    provider = fake_vipps.provider()
    ref = await authorized(fake_vipps, provider, "r" * 64)
    await provider.capture(ref, 1_000, f"capture:{ref}")
    sent = fake_vipps.requests_to(f"/epayment/v1/payments/{ref}/capture")[0]
    key = sent.headers["idempotency-key"]
    assert len(key) == 50 and key == vipps_idempotency_key(f"capture:{ref}")
    assert fake_vipps.requests_to("/epayment/v1/payments", "POST")[0].headers[
        "idempotency-key"
    ] == vipps_idempotency_key(f"authorize:{ref}")


@pytest.mark.parametrize(
    ("phone", "expected"),
    [
        ("+4791234567", "4791234567"),
        ("91234567", "4791234567"),
        ("0046 70 123 45 67", "46701234567"),
    ],
)
def test_phone_numbers_become_msisdn(phone: str, expected: str):
    assert msisdn(phone) == expected
