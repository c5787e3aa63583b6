"""The PaymentProvider and CardVault ports on Stripe (PaymentIntents, Checkout, SetupIntents)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import stripe
from stripe.params import CustomerCreateParams, PaymentIntentCreateParams
from stripe.params.checkout import SessionCreateParams

from core.ports import (
    CardSetup,
    PaymentDeclined,
    PaymentProviderUnavailable,
    PaymentRequest,
    PaymentState,
    ProviderPayment,
    SavedCard,
)
from payments.webhooks_common import WebhookPayloadError, WebhookSignatureError

CURRENCY = "nok"
# Expanded on every PaymentIntent we read: the charge carries `capture_before` and refunds.
EXPAND_INTENT = ["latest_charge"]
EXPAND_SESSION = ["payment_intent", "payment_intent.latest_charge"]
# Stripe cancels an uncaptured hold itself when it lapses (cards: ~7 days).
EXPIRY_REASONS = {"automatic", "expired"}


class _StripeAdapter:
    """A StripeClient on httpx (async); `api_base` points it at a fake in tests."""

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        max_network_retries: int = 2,
        timeout_s: float = 30.0,
    ) -> None:
        self._http = stripe.HTTPXClient(timeout=timeout_s)
        self._stripe = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base} if api_base else None,
            http_client=self._http,
            max_network_retries=max_network_retries,
        )

    async def aclose(self) -> None:
        await self._http.close_async()


@contextlib.contextmanager
def _stripe_errors(step: str) -> Iterator[None]:
    """Stripe's exceptions reduced to the port's two: final (declined) or retry later."""
    try:
        yield
    except stripe.CardError as error:
        raise PaymentDeclined(error.code or "card_declined", _message(error)) from error
    except stripe.IdempotencyError as error:
        raise PaymentDeclined("idempotency_error", _message(error)) from error
    except stripe.InvalidRequestError as error:
        raise PaymentDeclined(error.code or "invalid_request", _message(error)) from error
    except (stripe.APIConnectionError, stripe.RateLimitError) as error:
        raise PaymentProviderUnavailable(f"stripe {step}: {_message(error)}") from error
    except (stripe.AuthenticationError, stripe.PermissionError) as error:
        # A bad key is our configuration, not the payer's fault: fix it, then retry.
        raise PaymentProviderUnavailable(f"stripe {step}: {_message(error)}") from error
    except stripe.StripeError as error:
        status = error.http_status
        if status is None or status >= 500 or status == 409:
            raise PaymentProviderUnavailable(f"stripe {step}: {_message(error)}") from error
        raise PaymentDeclined(error.code or f"http_{status}", _message(error)) from error


def _message(error: stripe.StripeError) -> str:
    return error.user_message or str(error) or type(error).__name__


def _with_query(url: str, **params: str) -> str:
    parts = urlsplit(url)
    query = [*parse_qsl(parts.query, keep_blank_values=True), *params.items()]
    return urlunsplit(parts._replace(query=urlencode(query)))


def _locale(language: str) -> Literal["nb", "en"]:
    return "nb" if language.lower()[:2] in {"nb", "nn", "no"} else "en"


def _timestamp(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(value, UTC) if value else None


def _charge(intent: stripe.PaymentIntent) -> stripe.Charge | None:
    charge = intent.latest_charge
    return charge if isinstance(charge, stripe.Charge) else None


def _refunded_ore(charge: stripe.Charge | None) -> int:
    """Money given back after capture. Stripe counts the released, never-captured remainder of
    a partial capture as refunded on the charge, so that part is taken out."""
    if charge is None:
        return 0
    released = charge.amount - charge.amount_captured
    return max(0, charge.amount_refunded - released)


def _capture_before(charge: stripe.Charge | None) -> datetime | None:
    details = charge.payment_method_details if charge else None
    card = details.card if details else None
    return _timestamp(card.capture_before) if card else None


def payment_from_intent(
    intent: stripe.PaymentIntent, redirect_url: str | None = None
) -> ProviderPayment:
    charge = _charge(intent)
    status = intent.status
    if status == "requires_capture":
        return ProviderPayment(
            intent.id,
            PaymentState.AUTHORIZED,
            authorized_ore=intent.amount_capturable,
            capture_before=_capture_before(charge),
        )
    if status == "succeeded":
        return ProviderPayment(
            intent.id,
            PaymentState.CAPTURED,
            authorized_ore=intent.amount,
            captured_ore=intent.amount_received,
            refunded_ore=_refunded_ore(charge),
        )
    if status == "canceled":
        reason = intent.cancellation_reason
        expired = reason in EXPIRY_REASONS
        state = PaymentState.EXPIRED if expired else PaymentState.CANCELLED
        return ProviderPayment(intent.id, state, failure=reason)
    # requires_payment_method | requires_confirmation | requires_action | processing
    error = intent.last_payment_error
    return ProviderPayment(
        intent.id,
        PaymentState.PENDING,
        redirect_url=redirect_url,
        client_secret=intent.client_secret,
        failure=(error.code or error.type) if error else None,
    )


class StripeProvider(_StripeAdapter):
    """Card payments: an off-session hold on a saved card, or Stripe Checkout for guests."""

    name = "stripe"
    method = "card"

    async def create(self, request: PaymentRequest) -> ProviderPayment:
        if request.amount_ore <= 0:
            raise ValueError("amount_ore must be positive")
        if request.payment_method_ref:
            return await self._hold_saved_card(request)
        return await self._checkout(request)

    async def _hold_saved_card(self, request: PaymentRequest) -> ProviderPayment:
        assert request.payment_method_ref
        params: PaymentIntentCreateParams = {
            "amount": request.amount_ore,
            "currency": CURRENCY,
            "capture_method": "manual" if request.manual_capture else "automatic",
            "payment_method": request.payment_method_ref,
            "allowed_payment_method_types": ["card"],
            "confirm": True,
            "off_session": True,
            "description": request.description,
            "metadata": {"reference": request.reference},
            "expand": EXPAND_INTENT,
        }
        if request.customer_ref:
            params["customer"] = request.customer_ref
        with _stripe_errors("authorize"):
            intent = await self._stripe.v1.payment_intents.create_async(
                params, {"idempotency_key": f"authorize:{request.reference}"}
            )
        return payment_from_intent(intent)

    async def _checkout(self, request: PaymentRequest) -> ProviderPayment:
        params: SessionCreateParams = {
            "mode": "payment",
            "line_items": [
                {
                    "quantity": 1,
                    "price_data": {
                        "currency": CURRENCY,
                        "unit_amount": request.amount_ore,
                        "product_data": {"name": request.description},
                    },
                }
            ],
            "allowed_payment_method_types": ["card"],
            "payment_intent_data": {
                "capture_method": "manual" if request.manual_capture else "automatic",
                "description": request.description,
                "metadata": {"reference": request.reference},
            },
            "metadata": {"reference": request.reference},
            "client_reference_id": request.reference,
            "success_url": request.return_url,
            "cancel_url": _with_query(request.return_url, cancelled="1"),
            "locale": _locale(request.language),
        }
        if request.customer_ref:
            params["customer"] = request.customer_ref
        elif request.email:
            params["customer_email"] = request.email
        with _stripe_errors("checkout"):
            session = await self._stripe.v1.checkout.sessions.create_async(
                params, {"idempotency_key": f"authorize:{request.reference}"}
            )
        intent = session.payment_intent
        # Current API versions create the PaymentIntent only when the payer submits the card.
        ref = intent if isinstance(intent, str) else intent.id if intent else session.id
        return ProviderPayment(ref, PaymentState.PENDING, redirect_url=session.url)

    async def fetch(self, provider_ref: str) -> ProviderPayment:
        """`provider_ref` is a PaymentIntent id or a Checkout Session id (`cs_...`); once the
        guest has paid, the answer for a session carries its PaymentIntent id instead."""
        if not provider_ref.startswith("cs_"):
            return payment_from_intent(await self._intent(provider_ref))
        session = await self._session(provider_ref)
        intent = session.payment_intent
        if isinstance(intent, stripe.PaymentIntent):
            return payment_from_intent(intent)
        if isinstance(intent, str):
            return payment_from_intent(await self._intent(intent))
        if session.status == "expired":
            return ProviderPayment(provider_ref, PaymentState.EXPIRED, failure="expired")
        return ProviderPayment(provider_ref, PaymentState.PENDING, redirect_url=session.url)

    async def capture(
        self, provider_ref: str, amount_ore: int, idempotency_key: str
    ) -> ProviderPayment:
        if amount_ore <= 0:
            raise ValueError("capture at least 1 øre; cancel instead")
        intent_id = await self._intent_id(provider_ref)
        try:
            with _stripe_errors("capture"):
                intent = await self._stripe.v1.payment_intents.capture_async(
                    intent_id,
                    {"amount_to_capture": amount_ore, "expand": EXPAND_INTENT},
                    {"idempotency_key": idempotency_key},
                )
        except PaymentDeclined as declined:
            cause = declined.__cause__
            if isinstance(cause, stripe.InvalidRequestError) and (
                cause.code == "amount_too_large" or cause.param == "amount_to_capture"
            ):
                raise PaymentDeclined("amount_too_large", str(declined)) from cause
            raise
        return payment_from_intent(intent)

    async def cancel(self, provider_ref: str, idempotency_key: str) -> ProviderPayment:
        if provider_ref.startswith("cs_"):
            session = await self._session(provider_ref)
            intent = session.payment_intent
            held = isinstance(intent, stripe.PaymentIntent) and intent.status == "requires_capture"
            if not held and session.status == "open":
                # Stripe only lets a Checkout's PaymentIntent be cancelled once it is held.
                with _stripe_errors("cancel"):
                    await self._stripe.v1.checkout.sessions.expire_async(
                        provider_ref, options={"idempotency_key": idempotency_key}
                    )
                return ProviderPayment(provider_ref, PaymentState.CANCELLED)
            if not isinstance(intent, stripe.PaymentIntent):
                return await self.fetch(provider_ref)
            provider_ref = intent.id
        try:
            with _stripe_errors("cancel"):
                cancelled = await self._stripe.v1.payment_intents.cancel_async(
                    provider_ref,
                    {"expand": EXPAND_INTENT},
                    {"idempotency_key": idempotency_key},
                )
        except PaymentDeclined as declined:
            if declined.code != "payment_intent_unexpected_state":
                raise
            # Already released (lapsed hold, earlier cancel): report it rather than fail.
            current = await self.fetch(provider_ref)
            if current.state in {PaymentState.CANCELLED, PaymentState.EXPIRED}:
                return current
            raise
        return payment_from_intent(cancelled)

    async def refund(
        self, provider_ref: str, amount_ore: int, idempotency_key: str
    ) -> ProviderPayment:
        if amount_ore <= 0:
            raise ValueError("refund at least 1 øre")
        intent_id = await self._intent_id(provider_ref)
        with _stripe_errors("refund"):
            await self._stripe.v1.refunds.create_async(
                {"payment_intent": intent_id, "amount": amount_ore},
                {"idempotency_key": idempotency_key},
            )
        return await self.fetch(intent_id)

    async def _intent(self, intent_id: str) -> stripe.PaymentIntent:
        with _stripe_errors("fetch"):
            return await self._stripe.v1.payment_intents.retrieve_async(
                intent_id, {"expand": EXPAND_INTENT}
            )

    async def _session(self, session_id: str) -> stripe.checkout.Session:
        with _stripe_errors("fetch"):
            return await self._stripe.v1.checkout.sessions.retrieve_async(
                session_id, {"expand": EXPAND_SESSION}
            )

    async def _intent_id(self, provider_ref: str) -> str:
        if not provider_ref.startswith("cs_"):
            return provider_ref
        intent = (await self._session(provider_ref)).payment_intent
        if intent is None:
            raise PaymentDeclined("not_authorized", f"checkout {provider_ref} is not paid yet")
        return intent if isinstance(intent, str) else intent.id


class StripeCardVault(_StripeAdapter):
    """Saved cards: a SetupIntent for the app to collect a card, PaymentMethods to show/remove."""

    async def setup(self, customer_ref: str | None, email: str | None, phone: str) -> CardSetup:
        with _stripe_errors("setup"):
            if customer_ref is None:
                customer_params: CustomerCreateParams = {"phone": phone}
                if email:
                    customer_params["email"] = email
                customer = await self._stripe.v1.customers.create_async(customer_params)
                customer_ref = customer.id
            intent = await self._stripe.v1.setup_intents.create_async(
                {
                    "customer": customer_ref,
                    "usage": "off_session",
                    "allowed_payment_method_types": ["card"],
                }
            )
        if not intent.client_secret:
            raise PaymentProviderUnavailable("stripe setup: SetupIntent without client_secret")
        return CardSetup(customer_ref=customer_ref, client_secret=intent.client_secret)

    async def card(self, payment_method_ref: str) -> SavedCard:
        with _stripe_errors("card"):
            method = await self._stripe.v1.payment_methods.retrieve_async(payment_method_ref)
        card = method.card
        if card is None:
            raise PaymentDeclined("not_a_card", f"{payment_method_ref} is a {method.type}")
        return SavedCard(
            payment_method_ref=method.id,
            brand=card.brand,
            last4=card.last4,
            exp_month=card.exp_month,
            exp_year=card.exp_year,
        )

    async def detach(self, payment_method_ref: str) -> None:
        """Remove a saved card; removing one that is already gone is not an error."""
        try:
            with _stripe_errors("detach"):
                await self._stripe.v1.payment_methods.detach_async(payment_method_ref)
        except PaymentDeclined:
            try:
                with _stripe_errors("detach"):
                    method = await self._stripe.v1.payment_methods.retrieve_async(
                        payment_method_ref
                    )
            except PaymentDeclined as missing:
                if missing.code == "resource_missing":
                    return
                raise
            if method.customer is None:
                return
            raise


# --------------------------------------------------------------------------- webhooks


@dataclass(frozen=True)
class StripeWebhookEvent:
    id: str  # evt_...: dedupe on it, events arrive twice
    type: str  # e.g. payment_intent.amount_capturable_updated, checkout.session.completed
    object_id: str  # data.object.id (pi_..., cs_..., ch_...): re-fetch it, never trust order
    created: datetime
    # Our PaymentRequest.reference, from the object's metadata / client_reference_id.
    reference: str | None = None


def verify_stripe_webhook(
    raw_body: bytes, signature_header: str | None, secret: str, *, tolerance_s: int = 300
) -> StripeWebhookEvent:
    """Check the `Stripe-Signature` header over the raw body and read the event.

    Raises WebhookSignatureError (missing/bad/stale signature, no secret configured) or
    WebhookPayloadError (signed, but not a readable event)."""
    if not secret:
        raise WebhookSignatureError("no Stripe webhook secret is configured")
    if not signature_header:
        raise WebhookSignatureError("missing Stripe-Signature header")
    try:
        event = stripe.Webhook.construct_event(
            raw_body, signature_header, secret, tolerance=tolerance_s
        )
    except stripe.SignatureVerificationError as error:
        raise WebhookSignatureError(f"bad Stripe signature: {_message(error)}") from error
    except ValueError as error:  # invalid JSON or UTF-8, after or before the check
        raise WebhookPayloadError(f"unreadable Stripe event: {error}") from error
    try:
        obj = event.data.object.to_dict()
        metadata = obj.get("metadata") or {}
        reference = metadata.get("reference") or obj.get("client_reference_id")
        return StripeWebhookEvent(
            id=str(event.id),
            type=str(event.type),
            object_id=str(obj["id"]),
            created=datetime.fromtimestamp(int(event.created), UTC),
            reference=str(reference) if reference else None,
        )
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise WebhookPayloadError(f"Stripe event without data.object.id: {error}") from error
