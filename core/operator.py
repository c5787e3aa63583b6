"""The operator as drivers meet it: name, short number, support, organisation number, address.

Built from Settings: the name, organisation number, address, e-mail and phone are the
invoice seller's (LADEFLYT_BILLING_SELLER_*), the short number and support hours are
LADEFLYT_SMS_SHORT_NUMBER and LADEFLYT_SUPPORT_HOURS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from core.config import Settings
from core.tariffs.errors import TariffError
from core.tariffs.windows import Window, parse_clock, parse_days

_HOURS = re.compile(
    r"^\s*(?P<days>.+?)\s+(?P<start>\d{1,2}(?::\d{2})?)\s*[-\u2013]\s*"
    r"(?P<end>\d{1,2}(?::\d{2})?)\s*$"
)


def parse_hours(text: str) -> list[Window]:
    """ "mon-fri 08:00-16:00; sat 10:00-14:00" → windows; "" → none. ValueError if bad."""
    windows = []
    for part in (p for p in text.split(";") if p.strip()):
        match = _HOURS.match(part)
        if match is None:
            raise ValueError(f"opening hours {part.strip()!r}: use e.g. 'mon-fri 08:00-16:00'")
        try:
            windows.append(
                Window(
                    parse_days(match["days"]),
                    parse_clock(match["start"]),
                    parse_clock(match["end"]),
                )
            )
        except TariffError as error:
            raise ValueError(f"opening hours {part.strip()!r}: {error}") from None
    return windows


def format_org_number(org_number: str) -> str:
    """ "923609016" → "923 609 016", as the register prints it."""
    digits = org_number.replace(" ", "")
    if len(digits) == 9 and digits.isdigit():
        return f"{digits[:3]} {digits[3:6]} {digits[6:]}"
    return org_number


@dataclass(frozen=True)
class Operator:
    name: str
    short_number: str
    org_number: str | None  # nine digits
    vat_registered: bool
    street: str
    postal_code: str
    city: str
    support_phone: str | None
    support_email: str | None
    support_hours: tuple[Window, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> Operator:
        seller = settings.billing.seller()
        return cls(
            name=seller["name"],
            short_number=settings.sms_short_number.strip(),
            org_number=seller["org_number"],
            vat_registered=bool(seller["vat_registered"]),
            street=seller["street"],
            postal_code=seller["postal_code"],
            city=seller["city"],
            support_phone=seller["phone"],
            support_email=seller["email"],
            support_hours=tuple(parse_hours(settings.support_hours)),
        )

    def org_line(self) -> str | None:
        """ "Org.nr 923 609 016 MVA" (bokføringsforskriften § 5-1-1 nr. 3); None if unset.

        The same words in both languages: it is how the register identifies the seller."""
        if not self.org_number:
            return None
        mva = " MVA" if self.vat_registered else ""
        return f"Org.nr {format_org_number(self.org_number)}{mva}"

    def address(self) -> str:
        place = f"{self.postal_code} {self.city}".strip()
        return ", ".join(p for p in (self.street, place) if p)

    def hours(self, language: str) -> str:
        """ "hverdager 08:00-16:00" / "weekdays 08:00-16:00" (with en dashes)."""
        lang = "en" if language == "en" else "nb"
        return ", ".join(w.describe(lang) or "" for w in self.support_hours)

    def phone_with_hours(self, language: str) -> str | None:
        """ "22 12 34 56 (hverdager 08:00-16:00)"; None without a support phone."""
        if not self.support_phone:
            return None
        hours = self.hours(language)
        return f"{self.support_phone} ({hours})" if hours else self.support_phone

    def contact(self, language: str) -> str:
        """How to reach support in one line, for SMS and page footers."""
        parts = [p for p in (self.phone_with_hours(language), self.support_email) if p]
        return ", ".join(parts)
