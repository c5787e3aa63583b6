"""A sandbox payment provider for local runs and demos: the same states as the real ones,
approved or declined on a local page (/sandbox/checkout/<ref>) instead of a bank.

State lives in memory: a restart forgets sandbox payments (reconciliation then sees them
as expired), which is fine for a sandbox and nothing else.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from core.ports import (
    CardSetup,
    PaymentDeclined,
    PaymentRequest,
    PaymentState,
    ProviderPayment,
    SavedCard,
)

DECLINED_CARD = "pm_sandbox_declined"


@dataclass
class _Payment:
    ref: str
    amount_ore: int
    manual_capture: bool
    return_url: str
    state: PaymentState = PaymentState.PENDING
    authorized_ore: int = 0
    captured_ore: int = 0
    refunded_ore: int = 0
    description: str = ""
    language: str = "nb"
    operations: list[tuple[str, str, int]] = field(default_factory=list)


class SandboxBank:
    """Shared state of the sandbox providers and their approval page."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")
        self.payments: dict[str, _Payment] = {}
        self._keys: dict[str, ProviderPayment] = {}

    def view(self, payment: _Payment) -> ProviderPayment:
        return ProviderPayment(
            provider_ref=payment.ref,
            state=payment.state,
            authorized_ore=payment.authorized_ore,
            captured_ore=payment.captured_ore,
            refunded_ore=payment.refunded_ore,
            redirect_url=f"{self.base_url}/sandbox/checkout/{payment.ref}",
        )

    def get(self, ref: str) -> _Payment:
        try:
            return self.payments[ref]
        except KeyError:
            raise PaymentDeclined("not_found", f"no sandbox payment {ref}") from None

    def decide(self, ref: str, approve: bool) -> _Payment:
        """The payer's answer on the sandbox page."""
        payment = self.get(ref)
        if payment.state != PaymentState.PENDING:
            return payment
        if not approve:
            payment.state = PaymentState.CANCELLED
            return payment
        payment.authorized_ore = payment.amount_ore
        payment.state = PaymentState.AUTHORIZED
        if not payment.manual_capture:
            payment.captured_ore = payment.amount_ore
            payment.state = PaymentState.CAPTURED
        return payment

    def once(self, key: str, result: ProviderPayment) -> ProviderPayment:
        return self._keys.setdefault(key, result)


class SandboxProvider:
    def __init__(self, bank: SandboxBank, method: str) -> None:
        self.bank = bank
        self.method = method
        self.name = f"sandbox-{method}"

    async def create(self, request: PaymentRequest) -> ProviderPayment:
        key = f"authorize:{request.reference}"
        if key in self.bank._keys:
            return self.bank._keys[key]
        payment = _Payment(
            ref=f"sbx_{self.method}_{secrets.token_hex(8)}",
            amount_ore=request.amount_ore,
            manual_capture=request.manual_capture,
            return_url=request.return_url,
            description=request.description,
            language=request.language,
        )
        self.bank.payments[payment.ref] = payment
        if request.payment_method_ref:  # a saved card: no payer interaction
            if request.payment_method_ref == DECLINED_CARD:
                payment.state = PaymentState.FAILED
                raise PaymentDeclined("card_declined", "Your card was declined.")
            self.bank.decide(payment.ref, approve=True)
        return self.bank.once(key, self.bank.view(payment))

    async def fetch(self, provider_ref: str) -> ProviderPayment:
        payment = self.bank.payments.get(provider_ref)
        if payment is None:  # forgotten by a restart
            return ProviderPayment(provider_ref=provider_ref, state=PaymentState.EXPIRED)
        return self.bank.view(payment)

    async def capture(
        self, provider_ref: str, amount_ore: int, idempotency_key: str
    ) -> ProviderPayment:
        if idempotency_key in self.bank._keys:
            return self.bank._keys[idempotency_key]
        payment = self.bank.get(provider_ref)
        if payment.state != PaymentState.AUTHORIZED:
            raise PaymentDeclined("not_capturable", f"payment is {payment.state}")
        if amount_ore > payment.authorized_ore:
            raise PaymentDeclined("amount_too_large", "capture above the authorised amount")
        payment.captured_ore = amount_ore
        payment.state = PaymentState.CAPTURED
        payment.operations.append(("capture", idempotency_key, amount_ore))
        return self.bank.once(idempotency_key, self.bank.view(payment))

    async def cancel(self, provider_ref: str, idempotency_key: str) -> ProviderPayment:
        if idempotency_key in self.bank._keys:
            return self.bank._keys[idempotency_key]
        payment = self.bank.get(provider_ref)
        if payment.state in (PaymentState.PENDING, PaymentState.AUTHORIZED):
            payment.state = PaymentState.CANCELLED
        payment.operations.append(("cancel", idempotency_key, 0))
        return self.bank.once(idempotency_key, self.bank.view(payment))

    async def refund(
        self, provider_ref: str, amount_ore: int, idempotency_key: str
    ) -> ProviderPayment:
        if idempotency_key in self.bank._keys:
            return self.bank._keys[idempotency_key]
        payment = self.bank.get(provider_ref)
        if amount_ore > payment.captured_ore - payment.refunded_ore:
            raise PaymentDeclined("amount_too_large", "refund above the captured amount")
        payment.refunded_ore += amount_ore
        payment.operations.append(("refund", idempotency_key, amount_ore))
        return self.bank.once(idempotency_key, self.bank.view(payment))


class SandboxCardVault:
    """Saved cards in the sandbox: any `pm_sandbox_*` id is a Visa ending in 4242."""

    async def setup(self, customer_ref: str | None, email: str | None, phone: str) -> CardSetup:
        customer = customer_ref or f"cus_sbx_{secrets.token_hex(6)}"
        return CardSetup(
            customer_ref=customer, client_secret=f"seti_sbx_{secrets.token_hex(8)}_secret"
        )

    async def card(self, payment_method_ref: str) -> SavedCard:
        if not payment_method_ref.startswith("pm_sandbox"):
            raise PaymentDeclined("no_such_card", "unknown sandbox card")
        last4 = "0002" if payment_method_ref == DECLINED_CARD else "4242"
        return SavedCard(payment_method_ref, "visa", last4, 12, 2030)

    async def detach(self, payment_method_ref: str) -> None:
        return None
