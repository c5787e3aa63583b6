"""Ports to the outside world that the domain calls: SMS, payment providers, and the
channels invoices and receipts are delivered through."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True)
class OutboundSms:
    to: str
    body: str
    # A retried job passes the same key; a sender delivers each key at most once.
    dedup_key: str | None = None


class SmsRejected(Exception):
    """The provider refused the message for good (e.g. 21614: not a mobile number)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class SmsSender(Protocol):
    async def send(self, message: OutboundSms) -> str:
        """Hand the message to the provider; return its message id. Raises SmsRejected."""
        ...


# --------------------------------------------------------------------------- payments


class PaymentState(StrEnum):
    """A provider payment reduced to what the domain needs."""

    PENDING = "pending"  # created; waiting for the payer (redirect, app, 3-D Secure)
    AUTHORIZED = "authorized"  # money held, nothing captured yet
    CAPTURED = "captured"  # (partly) captured; whatever was not captured is released
    CANCELLED = "cancelled"  # released without capture, or aborted by the payer
    EXPIRED = "expired"  # the payer never approved, or the hold lapsed
    FAILED = "failed"  # declined


@dataclass(frozen=True)
class PaymentRequest:
    amount_ore: int
    # Our unique reference for the payment (8-64 chars, [a-zA-Z0-9-]); Vipps' `reference`,
    # Stripe's metadata and the base of every Idempotency-Key.
    reference: str
    description: str
    # Where the payer's browser comes back to after approving (redirect flows).
    return_url: str
    # Hold now, capture the exact amount later (charging); False captures at once.
    manual_capture: bool = True
    phone: str | None = None  # Vipps: prefill / push to this number (E.164)
    email: str | None = None
    customer_ref: str | None = None  # Stripe customer (cus_...)
    payment_method_ref: str | None = None  # a saved card (pm_...): authorise off-session
    language: str = "nb"


@dataclass(frozen=True)
class ProviderPayment:
    provider_ref: str  # Stripe PaymentIntent id / Vipps reference / sandbox id
    state: PaymentState
    authorized_ore: int = 0
    captured_ore: int = 0
    refunded_ore: int = 0
    # Where to send the payer (Stripe Checkout / Vipps landing page / sandbox page).
    redirect_url: str | None = None
    # For the app's in-app card confirmation (Stripe PaymentIntent client secret).
    client_secret: str | None = None
    # The hold lapses at this time unless captured (Stripe `capture_before`).
    capture_before: datetime | None = None
    failure: str | None = None


class PaymentDeclined(Exception):
    """The provider said no for good (card declined, capture above the hold, ...)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class PaymentProviderUnavailable(Exception):
    """A network or provider error: the same call may succeed later (same idempotency key)."""


class PaymentProvider(Protocol):
    name: str  # "stripe" | "vipps" | "sandbox"
    method: str  # "card" | "vipps"

    async def create(self, request: PaymentRequest) -> ProviderPayment:
        """Start a payment: a hosted/redirect checkout, or an off-session card hold."""
        ...

    async def fetch(self, provider_ref: str) -> ProviderPayment: ...

    async def capture(
        self, provider_ref: str, amount_ore: int, idempotency_key: str
    ) -> ProviderPayment:
        """Capture `amount_ore` (≤ authorised); the provider releases the rest."""
        ...

    async def cancel(self, provider_ref: str, idempotency_key: str) -> ProviderPayment: ...

    async def refund(
        self, provider_ref: str, amount_ore: int, idempotency_key: str
    ) -> ProviderPayment: ...


@dataclass(frozen=True)
class CardSetup:
    customer_ref: str  # Stripe customer id, kept on the user
    client_secret: str  # SetupIntent client secret for the app to collect the card


@dataclass(frozen=True)
class SavedCard:
    payment_method_ref: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int


class CardVault(Protocol):
    """Saved cards (Stripe SetupIntents / PaymentMethods)."""

    async def setup(self, customer_ref: str | None, email: str | None, phone: str) -> CardSetup: ...

    async def card(self, payment_method_ref: str) -> SavedCard: ...

    async def detach(self, payment_method_ref: str) -> None: ...


# --------------------------------------------------------------------------- document delivery


class DeliveryRejected(Exception):
    """The channel refused the document for good (bad address, invalid document)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


class DeliveryUnavailable(Exception):
    """A network or service error: the same delivery may succeed later (same key)."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class OutboundEmail:
    to: str
    subject: str
    text: str
    attachments: tuple[Attachment, ...] = ()
    # Becomes the Message-ID, so a receiving system can tell a repeat from a new mail.
    dedup_key: str | None = None


class MailSender(Protocol):
    async def send(self, message: OutboundEmail) -> str:
        """Hand the e-mail to the mail server; return its Message-ID. Raises
        DeliveryRejected (recipient refused) or DeliveryUnavailable (try again)."""
        ...


@dataclass(frozen=True)
class EfakturaDocument:
    """An invoice for a consenting private customer, for the eFaktura distributor."""

    name: str  # unique, stable for the document: the file name without extension
    xml: bytes  # the eFaktura invoice file (see core/invoicing/efaktura.py)
    pdf: bytes  # the invoice as the payer sees it in the bank


class EfakturaDistributor(Protocol):
    async def deliver(self, document: EfakturaDocument) -> str:
        """Hand the invoice to the distributor; return its reference (e.g. the file name).
        Delivering the same `name` again must not make a second invoice."""
        ...


@dataclass(frozen=True)
class PeppolDocument:
    """An EHF (Peppol BIS Billing 3.0) document for a business customer."""

    name: str  # unique, stable for the document
    kind: str  # invoice | credit_note
    sender: str  # Peppol participant id, e.g. 0192:923609016
    receiver: str
    xml: bytes


# Peppol document type and process identifiers of BIS Billing 3.0.
PEPPOL_PROCESS = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
PEPPOL_DOCUMENT_TYPES = {
    "invoice": "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##"
    "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1",
    "credit_note": "urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2::CreditNote##"
    "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1",
}


class PeppolAccessPoint(Protocol):
    async def send(self, document: PeppolDocument) -> str:
        """Hand the document to the access point; return its transmission id. Sending the
        same `name` again must not transmit it twice (idempotency key)."""
        ...


class PrintShop(Protocol):
    async def submit(self, name: str, pdf: bytes) -> str:
        """Hand over one print batch (a PDF of letters); return its reference."""
        ...
