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


class SmsSender(Protocol):
    async def send(self, message: OutboundSms) -> None: ...
