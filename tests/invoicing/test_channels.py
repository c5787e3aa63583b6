"""Which channel a customer's invoices go by: the rules of core/invoicing/channels.py."""

from __future__ import annotations

import pytest

from core.invoicing.channels import Customer, decide
from core.models import BillingProfile, EfakturaConsent, User

OURS = "923609016"


def customer(
    channel: str,
    *,
    email: str | None = "kari@example.no",
    org: str | None = None,
    consent: str | None = None,
    identifier: str = "EF-1",
    street: str = "Storgata 1",
) -> Customer:
    user = User(id=1, phone="+4791000001", name="Kari", email=email, invoice_channel=channel)
    profile = BillingProfile(
        user_id=1,
        org_number=org,
        street=street,
        postal_code="3475",
        city="Sætre",
        email=None,
    )
    agreed = (
        EfakturaConsent(user_id=1, status=consent, efaktura_identifier=identifier)
        if consent
        else None
    )
    return Customer(user, profile, agreed)


@pytest.mark.parametrize(
    ("c", "channel", "recipient", "reason"),
    [
        (customer("email"), "email", "kari@example.no", "chose e-mail"),
        (customer("email", email=None), "paper", "Storgata 1, 3475 Sætre",
         "no e-mail address; on paper"),
        (customer("email", consent="always"), "efaktura", "EF-1",
         'general consent ("Alltid eFaktura")'),
        (customer("paper", consent="always"), "paper", "Storgata 1, 3475 Sætre", "chose paper"),
        (customer("efaktura", consent="issuer"), "efaktura", "EF-1",
         "chose eFaktura, consent given"),
        (customer("efaktura"), "email", "kari@example.no",
         "no eFaktura consent from the bank; by e-mail"),
        (customer("efaktura", consent="none"), "email", "kari@example.no",
         "no eFaktura consent from the bank; by e-mail"),
        (customer("efaktura", consent="blocked"), "email", "kari@example.no",
         "reserved against eFaktura from us; by e-mail"),
        (customer("efaktura", consent="always", identifier=""), "email", "kari@example.no",
         "no eFaktura consent from the bank; by e-mail"),
        (customer("ehf", org="974760673"), "ehf", "0192:974760673", "chose EHF"),
        (customer("ehf", org="974760673", consent="always"), "ehf", "0192:974760673",
         "chose EHF"),
        (customer("email", org="974760673", consent="always"), "email", "kari@example.no",
         "chose e-mail"),
        (customer("ehf"), "email", "kari@example.no",
         "EHF needs an organisation number; by e-mail"),
        (customer("ehf", org="974760674", email=None), "paper", "Storgata 1, 3475 Sætre",
         "EHF needs an organisation number; on paper"),
        (customer("paper", street=""), "paper", "3475 Sætre", "chose paper"),
    ],
)  # fmt: skip
def test_the_channel_follows_the_choice_consent_and_what_we_know(c, channel, recipient, reason):
    decision = decide(c, OURS)
    assert (decision.channel, decision.recipient, decision.reason) == (channel, recipient, reason)
    assert decision.requested == c.user.invoice_channel


def test_ehf_needs_our_own_organisation_number_too():
    decision = decide(customer("ehf", org="974760673"), None)
    assert decision.channel == "email" and "our organisation number" in decision.reason


def test_the_billing_profiles_email_goes_before_the_users():
    c = customer("email")
    assert c.profile is not None
    c.profile.email = "faktura@hansen.example"
    assert decide(c, OURS).recipient == "faktura@hansen.example"
