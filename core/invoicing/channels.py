"""Which channel a customer's invoices go through, and why.

| the customer chose | and                                                  | channel  |
|--------------------|------------------------------------------------------|----------|
| any but paper      | a private customer with "Alltid eFaktura" consent     | efaktura |
| efaktura           | consent to eFaktura from us (general or ours alone)   | efaktura |
| ehf                | a valid organisation number (and ours is set)         | ehf      |
| email              | an e-mail address                                     | email    |
| paper              | -                                                     | paper    |
| otherwise          | the fallback: e-mail if we have an address, else paper |          |

"Alltid eFaktura" (eFaktura 2.0's general consent) means the payer wants every bill in the
bank, so it wins over an e-mail preference; a reservation against us ("blocked") always
stops eFaktura. Consent comes from the bank network (core.invoicing.consent).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.billing.orgnr import valid_org_number
from core.models import BillingProfile, Channel, ConsentStatus, EfakturaConsent, User
from core.users.account import AccountError, update_invoice_settings, update_profile

CHANNELS = tuple(c.value for c in Channel)


@dataclass(frozen=True)
class ChannelDecision:
    requested: str  # what the customer chose (users.invoice_channel)
    channel: str  # what their invoices go through
    recipient: str  # e-mail, eFaktura identifier, Peppol participant id, postal address
    reason: str  # in words, for the operator and the customer

    @property
    def fallback(self) -> bool:
        return self.channel != self.requested


@dataclass(frozen=True)
class Customer:
    user: User
    profile: BillingProfile | None
    consent: EfakturaConsent | None


def _email(c: Customer) -> str | None:
    return (c.profile.email if c.profile and c.profile.email else None) or c.user.email


def _postal(c: Customer) -> str:
    p = c.profile
    if p is None or not (p.street or p.postal_code or p.city):
        return ""
    return ", ".join(x for x in (p.street, f"{p.postal_code} {p.city}".strip()) if x)


def _org(c: Customer) -> str | None:
    number = c.profile.org_number if c.profile else None
    return number if number and valid_org_number(number) else None


def recipient(c: Customer, channel: str) -> str:
    """Where `channel` reaches this customer ("" if it does not)."""
    if channel == Channel.EMAIL.value:
        return _email(c) or ""
    if channel == Channel.EFAKTURA.value:
        return c.consent.efaktura_identifier if c.consent else ""
    if channel == Channel.EHF.value:
        org = _org(c)
        return f"0192:{org}" if org else ""
    return _postal(c)


def decide(c: Customer, seller_org_number: str | None) -> ChannelDecision:
    """The channel for this customer's next invoice (see the table above)."""
    requested = c.user.invoice_channel or Channel.EMAIL.value
    consent = c.consent.status if c.consent else ConsentStatus.NONE.value
    identifier = c.consent.efaktura_identifier if c.consent else ""
    org = _org(c)

    def fallback(why: str) -> ChannelDecision:
        email = _email(c)
        if email:
            return ChannelDecision(requested, Channel.EMAIL.value, email, f"{why}; by e-mail")
        return ChannelDecision(requested, Channel.PAPER.value, _postal(c), f"{why}; on paper")

    if requested == Channel.PAPER.value:
        postal = _postal(c)
        why = "chose paper" + ("" if postal else " (no postal address on file)")
        return ChannelDecision(requested, Channel.PAPER.value, postal, why)
    if org is None and consent == ConsentStatus.ALWAYS.value and identifier:
        return ChannelDecision(
            requested, Channel.EFAKTURA.value, identifier, 'general consent ("Alltid eFaktura")'
        )
    if requested == Channel.EFAKTURA.value:
        if consent == ConsentStatus.BLOCKED.value:
            return fallback("reserved against eFaktura from us")
        if consent in (ConsentStatus.ALWAYS.value, ConsentStatus.ISSUER.value) and identifier:
            return ChannelDecision(
                requested, Channel.EFAKTURA.value, identifier, "chose eFaktura, consent given"
            )
        return fallback("no eFaktura consent from the bank")
    if requested == Channel.EHF.value:
        if org is None:
            return fallback("EHF needs an organisation number")
        if not seller_org_number or not valid_org_number(seller_org_number):
            return fallback(
                "EHF needs our organisation number (LADEFLYT_BILLING_SELLER_ORG_NUMBER)"
            )
        return ChannelDecision(requested, Channel.EHF.value, f"0192:{org}", "chose EHF")
    email = _email(c)
    if email:
        return ChannelDecision(requested, Channel.EMAIL.value, email, "chose e-mail")
    return fallback("no e-mail address")


async def customer(session: AsyncSession, user_id: int) -> Customer | None:
    user = await session.get(User, user_id)
    if user is None:
        return None
    profile = (
        await session.execute(select(BillingProfile).where(BillingProfile.user_id == user_id))
    ).scalar_one_or_none()
    consent = (
        await session.execute(select(EfakturaConsent).where(EfakturaConsent.user_id == user_id))
    ).scalar_one_or_none()
    return Customer(user, profile, consent)


async def decision_for(
    session: AsyncSession, user_id: int, seller_org_number: str | None
) -> ChannelDecision | None:
    c = await customer(session, user_id)
    return decide(c, seller_org_number) if c else None


async def delivery_decision(session: AsyncSession, user_id: int) -> ChannelDecision | None:
    """The decision with our organisation number from the billing settings."""
    from core.billing.settings import get_billing_settings

    seller = get_billing_settings().seller_org_number.replace(" ", "") or None
    return await decision_for(session, user_id, seller)


async def update_invoice_delivery(
    session: AsyncSession,
    user: User,
    *,
    email: str | None = None,
    invoice_channel: str | None = None,
    receipt_by_email: bool | None = None,
) -> User:
    """Change a customer's e-mail and invoice channel (CLI `user update`, API, app).

    Raises core.users.account.AccountError (kind InvalidInput) for a bad value.
    """
    if email is not None:
        await update_profile(session, user, email=email)
    await update_invoice_settings(
        session, user, receipt_by_email=receipt_by_email, invoice_channel=invoice_channel
    )
    return user


__all__ = [
    "CHANNELS",
    "AccountError",
    "ChannelDecision",
    "Customer",
    "decide",
    "decision_for",
    "update_invoice_delivery",
]
