"""The port staff sign-in codes go out through when a staff member signs in by e-mail."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class OutboundEmail:
    to: str
    subject: str
    body: str


class EmailSender(Protocol):
    async def send(self, message: OutboundEmail) -> str:
        """Hand the message over for delivery; return an id."""
        ...
