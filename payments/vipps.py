"""The PaymentProvider port on Vipps MobilePay's ePayment API v1, and its webhook signatures."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime
from typing import Any

import httpx

from core.ports import (
    PaymentDeclined,
    PaymentProviderUnavailable,
    PaymentRequest,
    PaymentState,
    ProviderPayment,
)
from payments.webhooks_common import WebhookPayloadError, WebhookSignatureError

VIPPS_TEST_URL = "https://apitest.vipps.no"
VIPPS_PROD_URL = "https://api.vipps.no"
REFERENCE = re.compile(r"^[a-zA-Z0-9-]{8,64}$")
CURRENCY = "NOK"
# Refresh the access token this long before Vipps says it expires (1 h test, 24 h prod).
TOKEN_MARGIN_S = 120
IDEMPOTENCY_KEY_MAX = 50
PAYMENTS = "/epayment/v1/payments"


def vipps_idempotency_key(key: str) -> str:
    """Vipps accepts at most 50 characters: longer keys become a stable hash of themselves."""
    if len(key) <= IDEMPOTENCY_KEY_MAX:
        return key
    return f"{key[:17]}-{hashlib.sha256(key.encode()).hexdigest()[:32]}"


def msisdn(phone: str) -> str:
    """E.164 (+47 912 34 567) or a Norwegian local number → Vipps' digits-only MSISDN."""
    digits = re.sub(r"[\s()-]", "", phone)
    if digits.startswith("+"):
        digits = digits[1:]
    elif digits.startswith("00"):
        digits = digits[2:]
    elif len(digits) == 8:
        digits = "47" + digits
    if not digits.isdigit() or not 10 <= len(digits) <= 15:
        raise ValueError(f"not a phone number Vipps accepts: {phone!r}")
    return digits


def _ore(aggregate: Mapping[str, Any], field: str) -> int:
    amount = aggregate.get(field) or {}
    return int(amount.get("value") or 0)


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def payment_from_vipps(body: Mapping[str, Any]) -> ProviderPayment:
    """A GetPaymentResponse / ModificationResponse reduced to the port's view."""
    reference = str(body["reference"])
    aggregate = body.get("aggregate") or {}
    authorized = _ore(aggregate, "authorizedAmount")
    captured = _ore(aggregate, "capturedAmount")
    cancelled = _ore(aggregate, "cancelledAmount")
    refunded = _ore(aggregate, "refundedAmount")
    state = body.get("state")
    if state == "AUTHORIZED":
        # Vipps keeps AUTHORIZED after captures and cancels; the aggregate says what happened.
        if captured > 0:
            result = PaymentState.CAPTURED
        elif cancelled > 0:
            result = PaymentState.CANCELLED
        else:
            result = PaymentState.AUTHORIZED
        return ProviderPayment(
            reference,
            result,
            authorized_ore=authorized,
            captured_ore=captured,
            refunded_ore=refunded,
            capture_before=_instant(body.get("captureGuaranteedUntil")),
        )
    if state == "CREATED":
        return ProviderPayment(
            reference, PaymentState.PENDING, redirect_url=body.get("redirectUrl")
        )
    if state == "EXPIRED":
        return ProviderPayment(reference, PaymentState.EXPIRED, failure="expired")
    if state in {"ABORTED", "TERMINATED"}:
        return ProviderPayment(reference, PaymentState.CANCELLED, failure=str(state).lower())
    raise PaymentProviderUnavailable(f"vipps: unknown payment state {state!r} for {reference}")


def _declined(response: httpx.Response) -> PaymentDeclined:
    """A 4xx problem+json answer: the code is Vipps' ErrorCode when it gives one."""
    try:
        problem = response.json()
    except ValueError:
        problem = {}
    if not isinstance(problem, dict):
        problem = {}
    code = f"http_{response.status_code}"
    for detail in problem.get("extraDetails") or []:
        if isinstance(detail, dict) and detail.get("name") == "ErrorCode" and detail.get("reason"):
            code = str(detail["reason"])
    title = problem.get("title") or response.reason_phrase
    detail_text = problem.get("detail")
    return PaymentDeclined(code, f"{title}: {detail_text}" if detail_text else str(title))


class VippsProvider:
    """Vipps MobilePay payments: the payer approves in the app, we capture what was used."""

    name = "vipps"
    method = "vipps"

    def __init__(
        self,
        client_id: str,
        client_secret: str,
        subscription_key: str,
        merchant_serial_number: str,
        *,
        base_url: str = VIPPS_TEST_URL,
        push_to_phone: bool = False,
        system_name: str = "ladeflyt",
        system_version: str = "0.1.0",
        http: httpx.AsyncClient | None = None,
        timeout_s: float = 15.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._credentials = {"client_id": client_id, "client_secret": client_secret}
        self._subscription_key = subscription_key
        self._msn = merchant_serial_number
        self._push_to_phone = push_to_phone
        self._system = {
            "Vipps-System-Name": system_name,
            "Vipps-System-Version": system_version,
            "Vipps-System-Plugin-Name": "ladeflyt-payments",
            "Vipps-System-Plugin-Version": system_version,
        }
        self._own_http = http is None
        self._http = http or httpx.AsyncClient(timeout=timeout_s)
        self._base = base_url.rstrip("/")
        self._clock = clock
        self._token: str | None = None
        self._token_expires = 0.0
        self._token_lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._own_http:
            await self._http.aclose()

    # ------------------------------------------------------------------ the port

    async def create(self, request: PaymentRequest) -> ProviderPayment:
        if not REFERENCE.fullmatch(request.reference):
            raise ValueError("Vipps reference must be 8-64 characters [a-zA-Z0-9-]")
        if request.amount_ore <= 0:
            raise ValueError("amount_ore must be positive")
        body: dict[str, Any] = {
            "amount": {"currency": CURRENCY, "value": request.amount_ore},
            "paymentMethod": {"type": "WALLET"},
            "reference": request.reference,
            "returnUrl": request.return_url,
            "userFlow": "WEB_REDIRECT",
            "paymentDescription": request.description[:100],
        }
        if request.phone:
            body["customer"] = {"phoneNumber": msisdn(request.phone)}
            if self._push_to_phone:
                body["userFlow"] = "PUSH_MESSAGE"
        created = await self._call(
            "POST", PAYMENTS, body=body, idempotency_key=f"authorize:{request.reference}"
        )
        # Vipps only reserves; a payment is captured with `capture`, even if not manual_capture.
        return ProviderPayment(
            str(created.get("reference") or request.reference),
            PaymentState.PENDING,
            redirect_url=created.get("redirectUrl"),
        )

    async def fetch(self, provider_ref: str) -> ProviderPayment:
        return payment_from_vipps(await self._call("GET", f"{PAYMENTS}/{provider_ref}"))

    async def capture(
        self, provider_ref: str, amount_ore: int, idempotency_key: str
    ) -> ProviderPayment:
        if amount_ore <= 0:
            raise ValueError("capture at least 1 øre; cancel instead")
        body = {"modificationAmount": {"currency": CURRENCY, "value": amount_ore}}
        answer = await self._call(
            "POST", f"{PAYMENTS}/{provider_ref}/capture", body=body, idempotency_key=idempotency_key
        )
        return payment_from_vipps(answer)

    async def cancel(self, provider_ref: str, idempotency_key: str) -> ProviderPayment:
        try:
            answer = await self._call(
                "POST", f"{PAYMENTS}/{provider_ref}/cancel", idempotency_key=idempotency_key
            )
        except PaymentDeclined:
            # Aborted, expired or cancelled before: report that rather than fail.
            current = await self.fetch(provider_ref)
            if current.state in {PaymentState.CANCELLED, PaymentState.EXPIRED}:
                return current
            raise
        return payment_from_vipps(answer)

    async def refund(
        self, provider_ref: str, amount_ore: int, idempotency_key: str
    ) -> ProviderPayment:
        if amount_ore <= 0:
            raise ValueError("refund at least 1 øre")
        body = {"modificationAmount": {"currency": CURRENCY, "value": amount_ore}}
        answer = await self._call(
            "POST", f"{PAYMENTS}/{provider_ref}/refund", body=body, idempotency_key=idempotency_key
        )
        return payment_from_vipps(answer)

    # ------------------------------------------------------------------ transport

    async def _access_token(self) -> str:
        async with self._token_lock:
            if self._token and self._clock() < self._token_expires - TOKEN_MARGIN_S:
                return self._token
            headers = {
                **self._credentials,
                "Ocp-Apim-Subscription-Key": self._subscription_key,
                "Merchant-Serial-Number": self._msn,
                **self._system,
            }
            response = await self._send("POST", "/accesstoken/get", headers=headers)
            if response.status_code >= 400:
                # Wrong keys are our configuration, not the payer's fault: retry once fixed.
                raise PaymentProviderUnavailable(
                    f"vipps access token refused: HTTP {response.status_code}"
                )
            try:
                token = response.json()
                access_token = str(token["access_token"])
                if token.get("expires_on"):
                    expires = float(token["expires_on"])
                else:
                    expires = self._clock() + float(token.get("expires_in") or 0)
            except (ValueError, KeyError, TypeError, AttributeError) as error:
                raise PaymentProviderUnavailable(f"vipps access token: {error!r}") from error
            self._token, self._token_expires = access_token, expires
            return access_token

    async def _call(
        self,
        method: str,
        path: str,
        *,
        body: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> dict[str, Any]:
        for attempt in range(2):
            headers = {
                "Authorization": f"Bearer {await self._access_token()}",
                "Ocp-Apim-Subscription-Key": self._subscription_key,
                "Merchant-Serial-Number": self._msn,
                **self._system,
            }
            if idempotency_key is not None:
                headers["Idempotency-Key"] = vipps_idempotency_key(idempotency_key)
            response = await self._send(method, path, headers=headers, body=body)
            if response.status_code == 401 and attempt == 0:
                self._token = None  # revoked or expired early: one fresh token, one retry
                continue
            break
        if response.status_code == 429 or response.status_code >= 500:
            raise PaymentProviderUnavailable(f"vipps {method} {path}: HTTP {response.status_code}")
        if response.status_code in {401, 403}:
            raise PaymentProviderUnavailable(f"vipps {method} {path}: {_declined(response)}")
        if response.status_code >= 400:
            raise _declined(response)
        try:
            answer = response.json()
        except ValueError as error:
            raise PaymentProviderUnavailable(f"vipps {method} {path}: not JSON") from error
        if not isinstance(answer, dict):
            raise PaymentProviderUnavailable(f"vipps {method} {path}: unexpected answer")
        return answer

    async def _send(
        self,
        method: str,
        path: str,
        *,
        headers: Mapping[str, str],
        body: Mapping[str, Any] | None = None,
    ) -> httpx.Response:
        try:
            return await self._http.request(method, self._base + path, headers=headers, json=body)
        except httpx.TransportError as error:
            raise PaymentProviderUnavailable(f"vipps {method} {path}: {error!r}") from error


# --------------------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class VippsWebhookEvent:
    reference: str
    # CREATED, AUTHORIZED, ABORTED, EXPIRED, CAPTURED, CANCELLED, REFUNDED, TERMINATED
    name: str
    psp_reference: str
    # The Idempotency-Key of our request that caused it (captures, cancels, refunds).
    idempotency_key: str | None
    timestamp: datetime | None
    amount_ore: int | None = None
    success: bool = True
    msn: str | None = None


def _signed_string(method: str, path_and_query: str, date: str, host: str, digest: str) -> str:
    return f"{method.upper()}\n{path_and_query}\n{date};{host};{digest}"


def _hmac(secret: str, message: str) -> str:
    mac = hmac.new(secret.encode(), message.encode(), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode()


def content_sha256(raw_body: bytes) -> str:
    return base64.b64encode(hashlib.sha256(raw_body).digest()).decode()


def sign_vipps_webhook(
    path_and_query: str,
    host: str,
    raw_body: bytes,
    secret: str,
    *,
    date: datetime | None = None,
    method: str = "POST",
) -> dict[str, str]:
    """The headers Vipps sends with a webhook (x-ms-date, x-ms-content-sha256, Authorization).
    `host` is signed but travels in the Host header of the request itself."""
    when = format_datetime((date or datetime.now(UTC)).astimezone(UTC), usegmt=True)
    digest = content_sha256(raw_body)
    signature = _hmac(secret, _signed_string(method, path_and_query, when, host, digest))
    return {
        "x-ms-date": when,
        "x-ms-content-sha256": digest,
        "Authorization": (
            f"HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature={signature}"
        ),
    }


def verify_vipps_webhook(
    method: str,
    path_and_query: str,
    host: str,
    headers: Mapping[str, str],
    raw_body: bytes,
    secret: str,
    max_skew_s: int = 300,
    *,
    now: datetime | None = None,
) -> VippsWebhookEvent:
    """Check a Vipps webhook's HMAC over the raw body and read the event.

    Raises WebhookSignatureError (missing/bad/stale signature, no secret configured) or
    WebhookPayloadError (signed, but not a readable event)."""
    if not secret:
        raise WebhookSignatureError("no Vipps webhook secret is configured")
    lowered = {name.lower(): value for name, value in headers.items()}
    date = lowered.get("x-ms-date")
    digest = lowered.get("x-ms-content-sha256")
    authorization = lowered.get("authorization")
    if not date or not digest or not authorization:
        raise WebhookSignatureError("missing x-ms-date, x-ms-content-sha256 or Authorization")
    if not hmac.compare_digest(digest.encode(), content_sha256(raw_body).encode()):
        raise WebhookSignatureError("x-ms-content-sha256 does not match the body")
    expected = _hmac(secret, _signed_string(method, path_and_query, date, host, digest))
    prefix = "HMAC-SHA256 SignedHeaders=x-ms-date;host;x-ms-content-sha256&Signature="
    if not authorization.startswith(prefix):
        raise WebhookSignatureError("Authorization is not an HMAC-SHA256 webhook signature")
    if not hmac.compare_digest(authorization[len(prefix) :].encode(), expected.encode()):
        raise WebhookSignatureError("bad Vipps webhook signature")
    try:
        sent = parsedate_to_datetime(date)
    except (TypeError, ValueError) as error:
        raise WebhookSignatureError(f"unreadable x-ms-date {date!r}") from error
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    skew = abs(((now or datetime.now(UTC)) - sent).total_seconds())
    if skew > max_skew_s:
        raise WebhookSignatureError(f"stale Vipps webhook: x-ms-date is {skew:.0f} s off")
    return _read_event(raw_body)


def _read_event(raw_body: bytes) -> VippsWebhookEvent:
    try:
        event = json.loads(raw_body)
        amount = event.get("amount") or {}
        value = amount.get("value")
        return VippsWebhookEvent(
            reference=str(event["reference"]),
            name=str(event["name"]),
            psp_reference=str(event.get("pspReference") or ""),
            idempotency_key=event.get("idempotencyKey"),
            timestamp=_instant(event.get("timestamp")),
            amount_ore=int(value) if value is not None else None,
            success=bool(event.get("success", True)),
            msn=str(event["msn"]) if event.get("msn") is not None else None,
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise WebhookPayloadError(f"unreadable Vipps event: {error!r}") from error
