"""Errors of the billing domain."""

from __future__ import annotations


class BillingError(Exception):
    """A billing request that cannot be done (unknown invoice, already credited...)."""
