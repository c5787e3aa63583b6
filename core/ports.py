"""Ports to the outside world that the domain calls: SMS now, payments later."""

from __future__ import annotations

from dataclasses import dataclass
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
