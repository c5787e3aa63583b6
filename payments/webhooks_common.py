"""Errors shared by the payment providers' webhook verifiers (Stripe, Vipps MobilePay)."""

from __future__ import annotations


class WebhookError(Exception):
    """A webhook request we must not act on."""


class WebhookSignatureError(WebhookError):
    """Missing, malformed, wrong or stale signature, or no secret configured: answer 400/401."""


class WebhookPayloadError(WebhookError):
    """The signature is good but the body is not an event we can read: answer 400."""
