"""A fake of Stripe's v1 API, as the adapters use it: form-encoded requests, Stripe-shaped JSON,
Idempotency-Key replays, test cards that approve, decline or need authentication, and a
hosted Checkout page (GET /checkout/<id>?outcome=approve|decline|cancel)."""

from __future__ import annotations

import json
import re
import time
from typing import Any
from urllib.parse import parse_qsl

import stripe
from aiohttp import web

from payments.stripe_provider import StripeCardVault, StripeProvider
from tests.payments.fake_server import (
    Answer,
    FakeServer,
    Recorded,
    nested_form,
    page,
    redirect,
)

HOLD_S = 7 * 24 * 3600  # an online card hold lapses after ~7 days
ID = r"/(?P<id>[^/]+)"
ROUTES = [
    ("POST", "/v1/payment_intents", "create_intent"),
    ("GET", "/v1/payment_intents" + ID, "get_intent"),
    ("POST", "/v1/payment_intents" + ID + "/capture", "capture"),
    ("POST", "/v1/payment_intents" + ID + "/cancel", "cancel"),
    ("POST", "/v1/refunds", "refund"),
    ("POST", "/v1/checkout/sessions", "create_session"),
    ("GET", "/v1/checkout/sessions" + ID, "get_session"),
    ("POST", "/v1/checkout/sessions" + ID + "/expire", "expire_session"),
    ("POST", "/v1/customers", "create_customer"),
    ("POST", "/v1/setup_intents", "create_setup_intent"),
    ("GET", "/v1/payment_methods" + ID, "get_method"),
    ("POST", "/v1/payment_methods" + ID + "/detach", "detach"),
]
# Test cards, named like Stripe's: (brand, last4, what happens when the card is used).
CARDS = {
    "pm_card_visa": ("visa", "4242", "approve"),
    "pm_card_mastercard": ("mastercard", "4444", "approve"),
    "pm_card_chargeDeclined": ("visa", "0002", "decline"),
    "pm_card_authenticationRequired": ("visa", "3184", "authenticate"),
}
RELEASABLE = {"requires_payment_method", "requires_capture", "requires_confirmation"}


def stripe_error(
    status: int, code: str, message: str, kind: str = "invalid_request_error", **extra: Any
) -> Answer:
    return status, {"error": {"type": kind, "code": code, "message": message, **extra}}


def missing(kind: str, object_id: str) -> Answer:
    return stripe_error(404, "resource_missing", f"No such {kind}: '{object_id}'")


def unexpected(what: str, status: str) -> Answer:
    code = f"{what}_unexpected_state"
    return stripe_error(400, code, f"This {what} has a status of {status}.")


class FakeStripe(FakeServer):
    """State: `intents`, `charges`, `sessions`, `refunds`, `customers`, `methods` (by id)."""

    api_key = "sk_test_fake"

    def __init__(self, *, eager_payment_intent: bool = False) -> None:
        super().__init__()
        # Old API versions created a Checkout Session's PaymentIntent up front.
        self.eager_payment_intent = eager_payment_intent
        self.intents: dict[str, dict[str, Any]] = {}
        self.charges: dict[str, dict[str, Any]] = {}
        self.sessions: dict[str, dict[str, Any]] = {}
        self.refunds: dict[str, dict[str, Any]] = {}
        self.customers: dict[str, dict[str, Any]] = {}
        self.methods: dict[str, dict[str, Any]] = {}
        self.outcomes: dict[str, str] = {}
        self._idempotent: dict[str, tuple[str, Any, Answer]] = {}
        for pm, (brand, last4, outcome) in CARDS.items():
            self.add_card(pm, brand=brand, last4=last4, outcome=outcome)

    # -- for tests

    def provider(self, **kwargs: Any) -> StripeProvider:
        kwargs.setdefault("max_network_retries", 0)
        return StripeProvider(self.api_key, api_base=self.url, **kwargs)

    def vault(self, **kwargs: Any) -> StripeCardVault:
        kwargs.setdefault("max_network_retries", 0)
        return StripeCardVault(self.api_key, api_base=self.url, **kwargs)

    def add_card(
        self, pm: str, *, brand: str = "visa", last4: str = "4242", **kw: str | None
    ) -> None:
        """A saved card. `customer=`: attached to; `outcome=`: approve | decline | authenticate
        (needs 3-D Secure)."""
        card = {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2030, "country": "NO"}
        method: dict[str, Any] = {
            "id": pm,
            "object": "payment_method",
            "type": "card",
            "card": card,
        }
        method.update(customer=kw.get("customer"), created=int(time.time()), metadata={})
        with self.lock:
            self.methods[pm] = method
            self.outcomes[pm] = kw.get("outcome") or "approve"

    def expire_hold(self, intent_id: str) -> None:
        """What Stripe does when an uncaptured hold lapses."""
        with self.lock:
            self._release(self.intents[intent_id], reason="automatic")

    def approve_checkout(self, session_id: str) -> None:
        with self.lock:
            self._pay_session(self.sessions[session_id], "pm_card_visa")

    def signed_event(
        self, event_type: str, obj: dict[str, Any], secret: str, *, timestamp: int | None = None
    ) -> tuple[bytes, str]:
        """A webhook body and its Stripe-Signature header, signed the way Stripe signs."""
        event: dict[str, Any] = {"id": self.new_id("evt"), "object": "event", "type": event_type}
        event.update(created=int(time.time()), livemode=False, data={"object": obj})
        body = json.dumps(event)
        header = stripe.WebhookSignature.generate_signature_header(body, secret, timestamp)
        return body.encode(), header

    # -- transport

    def record(self, request: web.Request, raw: bytes) -> Recorded:
        pairs = parse_qsl(raw.decode(), keep_blank_values=True)
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = nested_form(list(request.query.items()))
        return Recorded(
            request.method, request.path, headers, query, nested_form(pairs), dict(pairs)
        )

    def failure(self, status: int) -> Any:
        if status == 429:
            return stripe_error(429, "rate_limit", "Too many requests")[1]
        return stripe_error(status, "api_error", "Something went wrong.", "api_error")[1]

    def route(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        if request.path.startswith("/checkout/"):
            session_id = request.path.rsplit("/", 1)[1]
            return self._checkout_page(session_id, request.query.get("outcome"))
        if recorded.headers.get("authorization") != f"Bearer {self.api_key}":
            answer = stripe_error(401, "api_key_invalid", "Invalid API Key provided")
        else:
            answer, replayed = self._api(request.method, request.path, recorded)
            if replayed:
                return web.json_response(
                    answer[1], status=answer[0], headers={"Idempotent-Replayed": "true"}
                )
        return web.json_response(answer[1], status=answer[0])

    def _api(self, method: str, path: str, recorded: Recorded) -> tuple[Answer, bool]:
        found = [(n, m) for v, pat, n in ROUTES if v == method and (m := re.fullmatch(pat, path))]
        if not found:
            return stripe_error(404, "resource_missing", f"Unrecognized URL {path}"), False
        name, match = found[0]
        params = recorded.body if method == "POST" else recorded.query
        key = recorded.headers.get("idempotency-key")
        if method == "POST" and key in self._idempotent:
            first_path, first_params, answer = self._idempotent[key]
            if (first_path, first_params) != (path, params):
                message = "Keys for idempotent requests can only be used with the same parameters."
                return stripe_error(
                    400, "idempotency_key_in_use", message, "idempotency_error"
                ), True
            return answer, True
        answer = getattr(self, name)(params, **match.groupdict())
        if method == "POST" and key:
            self._idempotent[key] = (path, params, answer)
        return answer, False

    def _intent_view(self, intent: dict[str, Any], expand: list[str], prefix: str = "") -> Any:
        view = {k: v for k, v in intent.items() if not k.startswith("_")}
        if f"{prefix}latest_charge" in expand and view["latest_charge"]:
            view["latest_charge"] = self.charges[view["latest_charge"]]
        return view

    def _session_view(self, session: dict[str, Any], expand: list[str]) -> Any:
        view = {k: v for k, v in session.items() if not k.startswith("_")}
        if "payment_intent" in expand and view["payment_intent"]:
            intent = self.intents[view["payment_intent"]]
            view["payment_intent"] = self._intent_view(intent, expand, "payment_intent.")
        return view

    # -- payment intents

    def _new_intent(self, amount: int, currency: str, capture: str, p: dict[str, Any]) -> Any:
        intent_id = self.new_id("pi")
        intent: dict[str, Any] = {"id": intent_id, "object": "payment_intent", "amount": amount}
        intent.update(amount_capturable=0, amount_received=0, currency=currency)
        intent.update(capture_method=capture, status="requires_payment_method")
        intent.update(client_secret=f"{intent_id}_secret_fake", customer=p.get("customer"))
        intent.update(description=p.get("description"), metadata=p.get("metadata") or {})
        intent.update(created=int(time.time()), livemode=False, payment_method_types=["card"])
        nulls = ("payment_method", "latest_charge", "last_payment_error", "cancellation_reason")
        intent.update(dict.fromkeys((*nulls, "canceled_at")))
        self.intents[intent_id] = intent
        return intent

    def _confirm(self, intent: dict[str, Any], pm: str, off_session: bool) -> Answer | None:
        """Authorise `intent` with card `pm`: None, or the card error Stripe answers."""
        outcome = self.outcomes.get(pm, "approve")
        intent["payment_method"] = pm
        if outcome == "authenticate" and not off_session:
            intent["status"] = "requires_action"  # the app runs 3-D Secure with client_secret
            return None
        if outcome in {"decline", "authenticate"}:
            code = "card_declined" if outcome == "decline" else "authentication_required"
            message = f"Your card was declined ({code})."
            error = {"type": "card_error", "code": code, "message": message}
            intent.update(status="requires_payment_method", last_payment_error=error)
            view = self._intent_view(intent, [])
            return stripe_error(402, code, message, "card_error", payment_intent=view)
        now, manual = int(time.time()), intent["capture_method"] == "manual"
        charge_id = self.new_id("ch")
        card = {**self.methods[pm]["card"], "capture_before": now + HOLD_S}
        charge: dict[str, Any] = {"id": charge_id, "object": "charge", "amount": intent["amount"]}
        charge.update(amount_captured=0 if manual else intent["amount"], amount_refunded=0)
        charge.update(captured=not manual, refunded=False, paid=True, status="succeeded")
        charge.update(currency=intent["currency"], payment_intent=intent["id"], created=now)
        charge.update(payment_method=pm, payment_method_details={"type": "card", "card": card})
        self.charges[charge_id] = charge
        intent.update(latest_charge=charge_id, last_payment_error=None)
        if manual:
            intent.update(status="requires_capture", amount_capturable=intent["amount"])
        else:
            intent.update(status="succeeded", amount_received=intent["amount"])
        return None

    def create_intent(self, p: dict[str, Any]) -> Answer:
        pm = p.get("payment_method")
        if pm and pm not in self.methods:
            return missing("PaymentMethod", pm)
        capture = p.get("capture_method", "automatic")
        intent = self._new_intent(int(p["amount"]), p["currency"], capture, p)
        if p.get("confirm") == "true" and pm:
            error = self._confirm(intent, pm, off_session=p.get("off_session") == "true")
            if error:
                return error
        return 200, self._intent_view(intent, p.get("expand", []))

    def get_intent(self, p: dict[str, Any], id: str) -> Answer:
        if id not in self.intents:
            return missing("payment_intent", id)
        return 200, self._intent_view(self.intents[id], p.get("expand", []))

    def capture(self, p: dict[str, Any], id: str) -> Answer:
        intent = self.intents.get(id)
        if intent is None:
            return missing("payment_intent", id)
        if intent["status"] != "requires_capture":
            return unexpected("payment_intent", intent["status"])
        capturable = intent["amount_capturable"]
        amount = int(p.get("amount_to_capture", capturable))
        if amount > capturable:
            message = f"amount_to_capture ({amount}) is above amount_capturable ({capturable})."
            return stripe_error(400, "amount_too_large", message, param="amount_to_capture")
        charge = self.charges[intent["latest_charge"]]
        # As Stripe does: the uncaptured remainder is released as a refund on the charge.
        charge.update(amount_captured=amount, captured=True, amount_refunded=capturable - amount)
        intent.update(status="succeeded", amount_received=amount, amount_capturable=0)
        return 200, self._intent_view(intent, p.get("expand", []))

    def _release(self, intent: dict[str, Any], reason: str | None) -> None:
        if intent["latest_charge"] and intent["status"] == "requires_capture":
            charge = self.charges[intent["latest_charge"]]
            charge.update(amount_refunded=charge["amount"], refunded=True)
        intent.update(status="canceled", cancellation_reason=reason, amount_capturable=0)
        intent["canceled_at"] = int(time.time())

    def cancel(self, p: dict[str, Any], id: str) -> Answer:
        intent = self.intents.get(id)
        if intent is None:
            return missing("payment_intent", id)
        status = intent["status"]
        # A Checkout Session's PaymentIntent can only be cancelled directly once it is held.
        in_checkout = intent.get("_session") and status != "requires_capture"
        if status not in RELEASABLE | {"requires_action"} or in_checkout:
            return unexpected("payment_intent", status)
        self._release(intent, p.get("cancellation_reason"))
        return 200, self._intent_view(intent, p.get("expand", []))

    def refund(self, p: dict[str, Any]) -> Answer:
        intent = self.intents.get(p.get("payment_intent", ""))
        if intent is None or intent["status"] != "succeeded":
            return stripe_error(400, "charge_not_captured", "Nothing captured to refund.")
        charge = self.charges[intent["latest_charge"]]
        released = charge["amount"] - charge["amount_captured"]
        left = charge["amount_captured"] - (charge["amount_refunded"] - released)
        amount = int(p.get("amount", left))
        if amount > left:
            message = f"Refund amount ({amount}) is greater than unrefunded amount ({left})."
            return stripe_error(400, "amount_too_large", message, param="amount")
        charge.update(amount_refunded=charge["amount_refunded"] + amount, refunded=amount == left)
        refund_id = self.new_id("re")
        refund: dict[str, Any] = {
            "id": refund_id,
            "object": "refund",
            "amount": amount,
            "status": "succeeded",
        }
        refund.update(charge=charge["id"], payment_intent=intent["id"], currency="nok")
        self.refunds[refund_id] = refund
        return 200, refund

    # -- checkout

    def create_session(self, p: dict[str, Any]) -> Answer:
        items = p.get("line_items") or []
        if p.get("mode") != "payment" or not items:
            return stripe_error(400, "parameter_invalid", "mode=payment with line_items only")
        amount = sum(int(i["price_data"]["unit_amount"]) * int(i["quantity"]) for i in items)
        session_id, now = self.new_id("cs_test"), int(time.time())
        session: dict[str, Any] = {"id": session_id, "object": "checkout.session"}
        session.update(mode="payment", status="open", payment_status="unpaid", created=now)
        session.update(amount_total=amount, currency=items[0]["price_data"]["currency"])
        session.update(url=f"{self.url}/checkout/{session_id}", expires_at=now + 24 * 3600)
        for name in ("success_url", "cancel_url", "client_reference_id", "customer"):
            session[name] = p.get(name)
        for name in ("customer_email", "locale"):
            session[name] = p.get(name)
        session.update(metadata=p.get("metadata") or {}, payment_intent=None, livemode=False)
        session["_intent_data"] = p.get("payment_intent_data") or {}
        self.sessions[session_id] = session
        if self.eager_payment_intent:
            self._session_intent(session)
        return 200, self._session_view(session, p.get("expand", []))

    def _session_intent(self, session: dict[str, Any]) -> Any:
        if session["payment_intent"]:
            return self.intents[session["payment_intent"]]
        data = {**session["_intent_data"], "customer": session["customer"]}
        capture = data.get("capture_method", "automatic")
        intent = self._new_intent(session["amount_total"], session["currency"], capture, data)
        intent["_session"] = session["id"]
        session["payment_intent"] = intent["id"]
        return intent

    def _pay_session(self, session: dict[str, Any], pm: str) -> Answer | None:
        intent = self._session_intent(session)
        error = self._confirm(intent, pm, off_session=False)
        if error is None:
            paid = intent["status"] == "succeeded"
            session.update(status="complete", payment_status="paid" if paid else "unpaid")
        return error

    def get_session(self, p: dict[str, Any], id: str) -> Answer:
        if id not in self.sessions:
            return missing("checkout.session", id)
        return 200, self._session_view(self.sessions[id], p.get("expand", []))

    def expire_session(self, p: dict[str, Any], id: str) -> Answer:
        session = self.sessions.get(id)
        if session is None:
            return missing("checkout.session", id)
        if session["status"] != "open":
            return unexpected("checkout_session", session["status"])
        session["status"] = "expired"
        if session["payment_intent"]:
            self._release(self.intents[session["payment_intent"]], "abandoned")
        return 200, self._session_view(session, p.get("expand", []))

    def _checkout_page(self, session_id: str, outcome: str | None) -> web.StreamResponse:
        """Stripe's hosted page, played: approve authorises and returns to success_url."""
        session = self.sessions.get(session_id)
        if session is None:
            return page("Ukjent betaling", {}, 404)
        if session["status"] != "open":
            return page(f"Betalingen er {session['status']}", {}, 410)
        links = {"approve": "Betal", "decline": "Bruk et kort som avvises", "cancel": "Avbryt"}
        if outcome == "approve":
            self._pay_session(session, "pm_card_visa")
            return redirect(session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id))
        if outcome == "decline":
            self._pay_session(session, "pm_card_chargeDeclined")
            return page("Kortet ble avvist", links, 402)
        if outcome == "cancel":
            return redirect(session["cancel_url"])
        return page(f"Betal {session['amount_total'] / 100:.2f} kr", links)

    # -- customers and cards

    def create_customer(self, p: dict[str, Any]) -> Answer:
        customer_id = self.new_id("cus")
        customer: dict[str, Any] = {
            "id": customer_id,
            "object": "customer",
            "created": int(time.time()),
        }
        customer.update(email=p.get("email"), phone=p.get("phone"), metadata=p.get("metadata"))
        self.customers[customer_id] = customer
        return 200, customer

    def create_setup_intent(self, p: dict[str, Any]) -> Answer:
        if p.get("customer") not in self.customers:
            return missing("customer", str(p.get("customer")))
        seti = self.new_id("seti")
        intent: dict[str, Any] = {
            "id": seti,
            "object": "setup_intent",
            "client_secret": f"{seti}_secret_fake",
        }
        intent.update(customer=p["customer"], usage=p.get("usage"), payment_method=None)
        intent.update(status="requires_payment_method", created=int(time.time()))
        return 200, intent

    def get_method(self, p: dict[str, Any], id: str) -> Answer:
        return (200, self.methods[id]) if id in self.methods else missing("PaymentMethod", id)

    def detach(self, p: dict[str, Any], id: str) -> Answer:
        method = self.methods.get(id)
        if method is None:
            return missing("PaymentMethod", id)
        if method["customer"] is None:
            return unexpected("payment_method", "detached")
        method["customer"] = None
        return 200, method
