"""Who sends the invoices: the seller's details, from LADEFLYT_BILLING_* variables."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class BillingSettings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="LADEFLYT_BILLING_", env_file=".env", extra="ignore"
    )

    seller_name: str = "Ladeflyt"
    # Norwegian organisation number (9 digits); required for EHF.
    seller_org_number: str = ""
    seller_street: str = ""
    seller_postal_code: str = ""
    seller_city: str = ""
    seller_country: str = "NO"
    seller_email: str = ""
    seller_phone: str = ""
    # Norwegian account number (11 digits) that KID payments go to.
    bank_account: str = ""
    due_days: int = Field(default=14, ge=0, le=90)

    def seller(self) -> dict[str, Any]:
        """The snapshot stored on each invoice."""
        return {
            "name": self.seller_name,
            "org_number": self.seller_org_number.replace(" ", "") or None,
            "vat_registered": True,  # prices carry 25 % VAT: the seller is registered
            "street": self.seller_street,
            "postal_code": self.seller_postal_code,
            "city": self.seller_city,
            "country": self.seller_country,
            "email": self.seller_email or None,
            "phone": self.seller_phone or None,
            "bank_account": self.bank_account.replace(" ", "").replace(".", "") or None,
        }


@lru_cache(maxsize=1)
def get_billing_settings() -> BillingSettings:
    return BillingSettings()
