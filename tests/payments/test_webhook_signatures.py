"""Webhook verification with the providers' real signing schemes: Stripe's `Stripe-Signature`
(t=<unix>,v1=HMAC-SHA256(secret, "<t>.<raw body>")) and Vipps' HMAC over date, host and body."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta

import pytest

from payments.stripe_provider import verify_stripe_webhook
from payments.vipps import sign_vipps_webhook, verify_vipps_webhook
from payments.webhooks_common import WebhookPayloadError, WebhookSignatureError
from tests.payments.fakes import FakeStripe, FakeVipps

STRIPE_SECRET = "whsec_test_secret"
VIPPS_SECRET = (
    "A0+AeKBRG2KRGvnNwJpQlb6IJFk48CKXCIcrLoHncVJKDILsQSxS6NWCccwWm6r6FhGKhiHTBsG2wo/xU6FY/A=="
)


def stripe_body(object_id: str = "pi_123", **obj: object) -> bytes:
    event = {
        "id": "evt_1",
        "object": "event",
        "type": "payment_intent.amount_capturable_updated",
        "created": 1_767_000_000,
        "livemode": False,
        "data": {"object": {"id": object_id, "object": "payment_intent", **obj}},
    }
    return json.dumps(event).encode()


def stripe_signature(body: bytes, secret: str = STRIPE_SECRET, at: int | None = None) -> str:
    """Built the way Stripe builds it, without the SDK."""
    t = int(time.time()) if at is None else at
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


# --------------------------------------------------------------------------- Stripe


def test_stripe_event_with_a_good_signature_is_read():
    body = stripe_body(metadata={"reference": "sess-0001-hold"})
    event = verify_stripe_webhook(body, stripe_signature(body), STRIPE_SECRET)
    assert event.id == "evt_1"
    assert event.type == "payment_intent.amount_capturable_updated"
    assert event.object_id == "pi_123"
    assert event.created == datetime.fromtimestamp(1_767_000_000, UTC)
    assert event.reference == "sess-0001-hold"


def test_stripe_checkout_event_carries_the_client_reference():
    body = stripe_body("cs_test_1", object="checkout.session", client_reference_id="guest-1-ab")
    event = verify_stripe_webhook(body, stripe_signature(body), STRIPE_SECRET)
    assert (event.object_id, event.reference) == ("cs_test_1", "guest-1-ab")


def test_stripe_rotated_secret_header_with_two_signatures_is_accepted():
    body = stripe_body()
    t = int(time.time())
    old = stripe_signature(body, "whsec_old", t).split(",")[1]
    header = f"{stripe_signature(body, at=t)},{old}"
    assert verify_stripe_webhook(body, header, STRIPE_SECRET).id == "evt_1"


def test_stripe_signature_from_the_fake_matches():
    fake = FakeStripe()  # not started: only its signer is used
    body, header = fake.signed_event("charge.refunded", {"id": "ch_1"}, STRIPE_SECRET)
    assert verify_stripe_webhook(body, header, STRIPE_SECRET).object_id == "ch_1"


@pytest.mark.parametrize(
    "header",
    [
        pytest.param(None, id="missing"),
        pytest.param("", id="empty"),
        pytest.param("garbage", id="malformed"),
        pytest.param(f"t={int(time.time())}", id="no-v1"),
        pytest.param(stripe_signature(stripe_body(), "whsec_other"), id="wrong-secret"),
        pytest.param(stripe_signature(stripe_body(), at=int(time.time()) - 301), id="stale"),
    ],
)
def test_stripe_bad_signatures_are_refused(header: str | None):
    with pytest.raises(WebhookSignatureError):
        verify_stripe_webhook(stripe_body(), header, STRIPE_SECRET)


def test_stripe_tampered_body_is_refused():
    body = stripe_body()
    header = stripe_signature(body)
    with pytest.raises(WebhookSignatureError):
        verify_stripe_webhook(body.replace(b"pi_123", b"pi_999"), header, STRIPE_SECRET)


def test_stripe_body_must_be_the_raw_bytes_not_reserialised_json():
    body = stripe_body()
    header = stripe_signature(body)
    reserialised = json.dumps(json.loads(body), separators=(",", ":")).encode()
    with pytest.raises(WebhookSignatureError):
        verify_stripe_webhook(reserialised, header, STRIPE_SECRET)


def test_stripe_without_a_configured_secret_nothing_is_accepted():
    body = stripe_body()
    with pytest.raises(WebhookSignatureError):
        verify_stripe_webhook(body, stripe_signature(body, ""), "")


@pytest.mark.parametrize("body", [b"not json", b'{"id": "evt_1", "object": "event"}'])
def test_stripe_signed_but_unreadable_payload_is_a_payload_error(body: bytes):
    with pytest.raises(WebhookPayloadError):
        verify_stripe_webhook(body, stripe_signature(body), STRIPE_SECRET)


# --------------------------------------------------------------------------- Vipps

PATH = "/webhooks/vipps"
HOST = "ladeflyt.example.no"


def vipps_body(name: str = "AUTHORIZED") -> bytes:
    return json.dumps(
        {
            "msn": "123456",
            "reference": "guest-0001-hold",
            "pspReference": "psp-1",
            "name": name,
            "amount": {"currency": "NOK", "value": 40_000},
            "timestamp": "2026-01-05T10:00:00.000Z",
            "idempotencyKey": None,
            "success": True,
        }
    ).encode()


def test_vipps_signing_matches_vipps_published_example():
    # From developer.vippsmobilepay.com, "Webhooks API: request authentication".
    body = b'{"some-unique-content":"ee6e441b-cc4a-46f8-895d-a5af79bcc233/hello-world"}'
    date = datetime(2023, 3, 30, 8, 38, 32, tzinfo=UTC)
    path = "/e2cee29b-012e-4f1d-8ef4-e95fd74a7a63"
    headers = sign_vipps_webhook(path, "webhook.site", body, VIPPS_SECRET, date=date)
    assert headers == {
        "x-ms-date": "Thu, 30 Mar 2023 08:38:32 GMT",
        "x-ms-content-sha256": "lNlsp1XA03N34HrQsVzPgJKtC+r7l/RBF4V3JQUWMj4=",
        "Authorization": "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256"
        "&Signature=agAiSyogQbDHpeucoNwYz+yAr5nJ+v+zasdkSbqzv+U=",
    }
    # Signature good; the body is not an ePayment event.
    with pytest.raises(WebhookPayloadError):
        verify_vipps_webhook("POST", path, "webhook.site", headers, body, VIPPS_SECRET, now=date)


def test_vipps_event_with_a_good_signature_is_read():
    body = vipps_body()
    headers = sign_vipps_webhook(PATH, HOST, body, VIPPS_SECRET)
    event = verify_vipps_webhook("POST", PATH, HOST, headers, body, VIPPS_SECRET)
    assert (event.reference, event.name, event.psp_reference) == (
        "guest-0001-hold",
        "AUTHORIZED",
        "psp-1",
    )
    assert event.amount_ore == 40_000 and event.idempotency_key is None
    assert event.timestamp == datetime(2026, 1, 5, 10, 0, tzinfo=UTC)


def test_vipps_header_names_are_case_insensitive():
    body = vipps_body("ABORTED")
    headers = {k.upper(): v for k, v in sign_vipps_webhook(PATH, HOST, body, VIPPS_SECRET).items()}
    assert verify_vipps_webhook("POST", PATH, HOST, headers, body, VIPPS_SECRET).name == "ABORTED"


def test_vipps_event_from_the_fake_verifies():
    fake = FakeVipps()  # not started: only its signer is used
    fake.payments["guest-0001-hold"] = {"amount": 40_000}
    body, headers = fake.signed_event(
        "guest-0001-hold", "EXPIRED", VIPPS_SECRET, path=PATH, host=HOST
    )
    event = verify_vipps_webhook("POST", PATH, HOST, headers, body, VIPPS_SECRET)
    assert (event.name, event.amount_ore) == ("EXPIRED", 40_000)


def _signed(**overrides: str) -> dict[str, str]:
    headers = sign_vipps_webhook(PATH, HOST, vipps_body(), VIPPS_SECRET)
    headers.update(overrides)
    return headers


@pytest.mark.parametrize(
    ("headers", "path", "host", "secret"),
    [
        pytest.param({}, PATH, HOST, VIPPS_SECRET, id="missing"),
        pytest.param(_signed(), PATH, HOST, "another-secret", id="wrong-secret"),
        pytest.param(_signed(), "/webhooks/vipps?x=1", HOST, VIPPS_SECRET, id="other-path"),
        pytest.param(_signed(), PATH, "evil.example", VIPPS_SECRET, id="other-host"),
        pytest.param(_signed(), PATH, HOST, "", id="no-secret-configured"),
        pytest.param(_signed(Authorization="Bearer abc"), PATH, HOST, VIPPS_SECRET, id="not-hmac"),
        pytest.param(
            _signed(**{"x-ms-date": "Mon, 05 Jan 2026 10:00:00 GMT"}),
            PATH,
            HOST,
            VIPPS_SECRET,
            id="date-swapped",
        ),
    ],
)
def test_vipps_bad_signatures_are_refused(
    headers: dict[str, str], path: str, host: str, secret: str
):
    with pytest.raises(WebhookSignatureError):
        verify_vipps_webhook("POST", path, host, headers, vipps_body(), secret)


def test_vipps_tampered_body_is_refused():
    headers = _signed()
    with pytest.raises(WebhookSignatureError, match="content-sha256"):
        verify_vipps_webhook("POST", PATH, HOST, headers, vipps_body("CAPTURED"), VIPPS_SECRET)


def test_vipps_body_hash_recomputed_for_a_tampered_body_still_fails_the_hmac():
    body = vipps_body("CAPTURED")
    headers = _signed()
    headers["x-ms-content-sha256"] = sign_vipps_webhook(PATH, HOST, body, "x")[
        "x-ms-content-sha256"
    ]
    with pytest.raises(WebhookSignatureError, match="signature"):
        verify_vipps_webhook("POST", PATH, HOST, headers, body, VIPPS_SECRET)


@pytest.mark.parametrize("offset", [timedelta(minutes=-6), timedelta(minutes=6)])
def test_vipps_stale_or_future_date_is_refused(offset: timedelta):
    body = vipps_body()
    headers = sign_vipps_webhook(PATH, HOST, body, VIPPS_SECRET, date=datetime.now(UTC) + offset)
    with pytest.raises(WebhookSignatureError, match="stale"):
        verify_vipps_webhook("POST", PATH, HOST, headers, body, VIPPS_SECRET)


def test_vipps_skew_within_the_limit_is_accepted():
    body = vipps_body()
    sent = datetime.now(UTC) - timedelta(minutes=4)
    headers = sign_vipps_webhook(PATH, HOST, body, VIPPS_SECRET, date=sent)
    assert verify_vipps_webhook("POST", PATH, HOST, headers, body, VIPPS_SECRET).name


def test_vipps_signed_but_unreadable_payload_is_a_payload_error():
    body = b'{"reference": "guest-0001-hold"}'
    headers = sign_vipps_webhook(PATH, HOST, body, VIPPS_SECRET)
    with pytest.raises(WebhookPayloadError):
        verify_vipps_webhook("POST", PATH, HOST, headers, body, VIPPS_SECRET)
