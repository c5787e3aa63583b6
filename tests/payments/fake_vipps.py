"""A fake of Vipps MobilePay's Access Token API and ePayment API v1, with a landing page
(GET /landing/<reference>?outcome=approve|reject) that plays the payer's app."""

from __future__ import annotations

import json
import re
import time
from typing import Any

from aiohttp import web

from payments.vipps import VippsProvider, sign_vipps_webhook
from tests.payments.fake_server import Answer, FakeServer, Recorded, page, redirect

VIPPS_REFERENCE = re.compile(r"[a-zA-Z0-9-]{8,64}")
EPAYMENT = "/epayment/v1/payments"


def problem(
    status: int, title: str, detail: str, error_code: str | None = None, **extra: Any
) -> Answer:
    body: dict[str, Any] = {
        "type": f"https://httpstatuses.io/{status}",
        "title": title,
        "status": status,
        "detail": detail,
        "traceId": "00-fake",
        "extraDetails": [],
    }
    if error_code:
        body["extraDetails"].append({"name": "ErrorCode", "reason": error_code})
    body.update(extra)
    return status, body


class FakeVipps(FakeServer):
    """The Access Token API and the ePayment API v1, as the adapter uses them."""

    client_id = "fake-client-id"
    client_secret = "fake-client-secret"
    subscription_key = "fake-subscription-key"
    msn = "123456"

    def __init__(self, *, token_lifetime_s: int = 3600) -> None:
        super().__init__()
        self.token_lifetime_s = token_lifetime_s
        self.tokens: set[str] = set()
        self.payments: dict[str, dict[str, Any]] = {}
        self._idempotent: dict[tuple[str, str], tuple[Any, Answer]] = {}

    # -- helpers for tests

    def provider(self, **kwargs: Any) -> VippsProvider:
        return VippsProvider(
            self.client_id,
            self.client_secret,
            self.subscription_key,
            self.msn,
            base_url=self.url,
            **kwargs,
        )

    @property
    def token_calls(self) -> int:
        return len(self.requests_to("/accesstoken/get"))

    def revoke_tokens(self) -> None:
        with self.lock:
            self.tokens.clear()

    def payment(self, reference: str) -> dict[str, Any]:
        with self.lock:
            return json.loads(json.dumps(self.payments[reference]))

    def approve(self, reference: str) -> None:
        """The payer approves in the app: the amount is reserved."""
        with self.lock:
            payment = self.payments[reference]
            payment.update(state="AUTHORIZED", authorized=payment["amount"])
            self._event(payment, "AUTHORIZED", payment["amount"])

    def reject(self, reference: str) -> None:
        with self.lock:
            self._end(reference, "ABORTED")

    def expire(self, reference: str) -> None:
        with self.lock:
            self._end(reference, "EXPIRED")

    def signed_event(
        self,
        reference: str,
        name: str,
        secret: str,
        *,
        path: str = "/webhooks/vipps",
        host: str = "ladeflyt.example.no",
        idempotency_key: str | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """A webhook body for `reference` and the headers Vipps would sign it with."""
        payment = self.payments.get(reference, {})
        body = json.dumps(
            {
                "msn": self.msn,
                "reference": reference,
                "pspReference": self.new_id("psp"),
                "name": name,
                "amount": {"currency": "NOK", "value": payment.get("amount", 0)},
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "idempotencyKey": idempotency_key,
                "success": True,
            }
        ).encode()
        return body, sign_vipps_webhook(path, host, body, secret)

    def _end(self, reference: str, state: str) -> None:
        payment = self.payments[reference]
        payment["state"] = state
        self._event(payment, state, payment["amount"])

    def _event(
        self, payment: dict[str, Any], name: str, amount: int, key: str | None = None
    ) -> None:
        payment["events"].append(
            {
                "name": name,
                "amount": amount,
                "idempotencyKey": key,
                "pspReference": self.new_id("psp"),
            }
        )

    # -- transport

    def record(self, request: web.Request, raw: bytes) -> Recorded:
        return Recorded(
            method=request.method,
            path=request.path,
            headers={k.lower(): v for k, v in request.headers.items()},
            query=dict(request.query),
            body=json.loads(raw) if raw else None,
        )

    def failure(self, status: int) -> Any:
        return problem(status, "Service unavailable", "The fake is down on purpose.")[1]

    def route(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        if request.path.startswith("/landing/"):
            return self._landing(request.path.rsplit("/", 1)[1], request.query.get("outcome"))
        answer = self._api(request, recorded)
        return web.json_response(
            answer[1],
            status=answer[0],
            content_type="application/json" if answer[0] < 400 else "application/problem+json",
        )

    def _api(self, request: web.Request, r: Recorded) -> Answer:
        h = r.headers
        if (
            h.get("ocp-apim-subscription-key") != self.subscription_key
            or h.get("merchant-serial-number") != self.msn
        ):
            return problem(401, "Unauthorized", "Wrong subscription key or merchant serial number")
        if request.path == "/accesstoken/get" and request.method == "POST":
            if (h.get("client_id"), h.get("client_secret")) != (self.client_id, self.client_secret):
                return 401, {
                    "error": "unauthorized_client",
                    "error_description": "wrong client_id or client_secret",
                }
            token = f"fake-token-{self.new_id('tok')}"
            self.tokens.add(token)
            now = int(time.time())
            lifetime = str(self.token_lifetime_s)
            return 200, {
                "token_type": "Bearer",
                "expires_in": lifetime,
                "ext_expires_in": lifetime,
                "expires_on": str(now + self.token_lifetime_s),
                "not_before": str(now),
                "resource": "00000002-0000-0000-c000-000000000000",
                "access_token": token,
            }
        if h.get("authorization", "").removeprefix("Bearer ") not in self.tokens:
            return problem(401, "Unauthorized", "Invalid or expired access token")
        match = re.fullmatch(
            EPAYMENT + r"(?:/(?P<ref>[^/]+)(?:/(?P<op>capture|cancel|refund))?)?", request.path
        )
        if match is None:
            return problem(404, "Not Found", f"No route {request.path}")
        ref, op = match["ref"], match["op"]
        if request.method == "GET" and ref and not op:
            payment = self.payments.get(ref)
            return (
                (200, self._view(payment, get=True))
                if payment
                else problem(404, "Not Found", f"Payment {ref} not found")
            )
        if request.method != "POST" or (ref and not op) or (op and not ref):
            return problem(405, "Method Not Allowed", request.path)
        key = h.get("idempotency-key")
        if not key or len(key) > 50:
            return problem(400, "Bad Request", "Idempotency-Key is required (max 50 characters)")
        if (request.path, key) in self._idempotent:
            body, answer = self._idempotent[(request.path, key)]
            return (
                answer
                if body == r.body
                else problem(
                    409, "Idempotency error", f"Idempotency-Key {key} already exists", "4020"
                )
            )
        answer = (
            self._create(r.body or {})
            if not op
            else getattr(self, f"_{op}")(ref, r.body or {}, key)
        )
        if answer[0] < 500:
            self._idempotent[(request.path, key)] = (r.body, answer)
        return answer

    def _view(self, payment: dict[str, Any], *, get: bool = False) -> dict[str, Any]:
        def nok(value: int) -> dict[str, Any]:
            return {"currency": "NOK", "value": value}

        view = {
            "reference": payment["reference"],
            "state": payment["state"],
            "amount": nok(payment["amount"]),
            "pspReference": payment["pspReference"],
            "aggregate": {
                f"{k}Amount": nok(payment[k])
                for k in ("authorized", "captured", "cancelled", "refunded")
            },
        }
        if get:
            view.update(
                paymentMethod={"type": "WALLET"}, profile={}, redirectUrl=payment["redirectUrl"]
            )
        return view

    def _create(self, body: dict[str, Any]) -> Answer:
        reference = str(body.get("reference", ""))
        if not VIPPS_REFERENCE.fullmatch(reference):
            return problem(
                400,
                "Bad Request",
                "See extraDetails for further details",
                extraDetails=[
                    {
                        "name": "reference",
                        "reason": "The field Reference must match '^[a-zA-Z0-9-]{8,64}$'.",
                    }
                ],
            )
        if reference in self.payments:
            return problem(409, "Conflict", f"Reference {reference} is already used")
        amount = body.get("amount") or {}
        if (
            amount.get("currency") != "NOK"
            or not isinstance(amount.get("value"), int)
            or amount["value"] < 100
        ):
            return problem(
                400,
                "Amount too small",
                "The amount is too small. Amounts are specified in minor units, like øre or cent.",
            )
        phone = (body.get("customer") or {}).get("phoneNumber")
        flow = body.get("userFlow")
        if flow == "PUSH_MESSAGE" and not phone:
            return problem(400, "Bad Request", "PUSH_MESSAGE requires customer.phoneNumber")
        redirect = None if flow == "PUSH_MESSAGE" else f"{self.url}/landing/{reference}"
        self.payments[reference] = {
            "reference": reference,
            "state": "CREATED",
            "amount": amount["value"],
            "authorized": 0,
            "captured": 0,
            "cancelled": 0,
            "refunded": 0,
            "pspReference": self.new_id("psp"),
            "redirectUrl": redirect,
            "returnUrl": body.get("returnUrl"),
            "userFlow": flow,
            "phone": phone,
            "description": body.get("paymentDescription"),
            "events": [],
        }
        self._event(self.payments[reference], "CREATED", amount["value"])
        return 201, {"redirectUrl": redirect, "reference": reference} if redirect else {
            "reference": reference
        }

    def _modification(
        self, ref: str, body: dict[str, Any]
    ) -> tuple[dict[str, Any] | None, int, Answer | None]:
        payment = self.payments.get(ref)
        if payment is None:
            return None, 0, problem(404, "Not Found", f"Payment {ref} not found")
        value = (body.get("modificationAmount") or {}).get("value", 0)
        return payment, int(value), None

    def _capture(self, ref: str, body: dict[str, Any], key: str) -> Answer:
        payment, amount, error = self._modification(ref, body)
        if payment is None or error:
            return error  # type: ignore[return-value]
        if payment["state"] != "AUTHORIZED":
            return problem(
                400,
                "Cannot capture before reservation",
                "The amount you tried to capture is not reserved.",
                "6080",
            )
        if amount > payment["authorized"] - payment["captured"] - payment["cancelled"]:
            return problem(
                400,
                "Capture amount too high",
                "The capture amount exceeds the reserved amount that is left.",
            )
        payment["captured"] += amount
        self._event(payment, "CAPTURED", amount, key)
        return 200, self._view(payment)

    def _cancel(self, ref: str, body: dict[str, Any], key: str) -> Answer:
        payment, _, error = self._modification(ref, body)
        if payment is None or error:
            return error  # type: ignore[return-value]
        if payment["state"] == "CREATED":
            payment["state"] = "TERMINATED"
        elif payment["state"] == "AUTHORIZED" and payment["cancelled"] == 0:
            payment["cancelled"] = payment["authorized"] - payment["captured"]
        else:
            return problem(
                400,
                "Cannot cancel",
                f"Cannot cancel a payment in state {payment['state']} that is already released.",
            )
        self._event(
            payment,
            "CANCELLED" if payment["state"] == "AUTHORIZED" else "TERMINATED",
            payment["cancelled"],
            key,
        )
        return 200, self._view(payment)

    def _refund(self, ref: str, body: dict[str, Any], key: str) -> Answer:
        payment, amount, error = self._modification(ref, body)
        if payment is None or error:
            return error  # type: ignore[return-value]
        if amount > payment["captured"] - payment["refunded"]:
            return problem(
                400, "Refund amount too high", "Cannot refund more than has been captured."
            )
        payment["refunded"] += amount
        self._event(payment, "REFUNDED", amount, key)
        return 200, self._view(payment)

    def _landing(self, reference: str, outcome: str | None) -> web.StreamResponse:
        payment = self.payments.get(reference)
        if payment is None:
            return page("Ukjent betaling", {}, 404)
        if payment["state"] != "CREATED":
            return page(f"Betalingen er {payment['state']}", {}, 410)
        if outcome == "approve":
            self.approve(reference)
            return redirect(payment["returnUrl"])
        if outcome == "reject":
            self.reject(reference)
            return redirect(payment["returnUrl"])
        return page(
            f"Betal {payment['amount'] / 100:.2f} kr med Vipps",
            {"approve": "Godkjenn", "reject": "Avbryt"},
        )
