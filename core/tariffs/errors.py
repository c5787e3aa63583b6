"""Errors of the tariff domain: operator mistakes and prices that cannot be computed."""

from __future__ import annotations

from datetime import datetime


class TariffError(Exception):
    """An operator request that cannot be done (unknown tariff, bad window...)."""


class PricingError(TariffError):
    """A session's price cannot be computed from the data we have."""


class SpotPriceMissing(PricingError):
    """A quarter hour without a published spot price, and no fallback configured."""

    def __init__(self, area: str, slot: datetime) -> None:
        super().__init__(f"no spot price for {area} at {slot.isoformat()} and no fallback set")
        self.area = area
        self.slot = slot
