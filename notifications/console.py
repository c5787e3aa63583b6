"""An SmsSender for local runs and tests: prints, and remembers what it sent."""

from __future__ import annotations

import logging

from core.ports import OutboundSms

log = logging.getLogger(__name__)


class ConsoleSmsSender:
    def __init__(self, keep: int = 1000) -> None:
        self.sent: list[OutboundSms] = []
        self._keys: set[str] = set()
        self._keep = keep

    async def send(self, message: OutboundSms) -> str:
        sid = f"CONSOLE{len(self.sent) + 1:08d}"
        if message.dedup_key is not None:
            if message.dedup_key in self._keys:
                return sid
            self._keys.add(message.dedup_key)
        log.info("SMS to %s: %s", message.to, message.body)
        self.sent.append(message)
        del self.sent[: -self._keep]
        return sid
