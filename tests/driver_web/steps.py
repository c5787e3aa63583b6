"""Steps a driver takes in the app, shared by the browser test modules."""

from __future__ import annotations

import re
from typing import Any

from ladeflyt.runtime import Runtime
from notifications.console import ConsoleSmsSender


def last_code(runtime: Runtime, phone: str) -> str:
    """The sign-in code in the last SMS to `phone` (the console sender keeps them)."""
    sms = runtime.sms
    assert isinstance(sms, ConsoleSmsSender)
    *_, message = [m for m in sms.sent if m.to == phone]
    code = re.search(r"\b(\d{6})\b", message.body)
    assert code is not None, message.body
    return code.group(1)


async def sign_in_new_driver(page: Any, runtime: Runtime, number: str, name: str) -> None:
    """Sign in with the SMS code and fill in the first-time profile; ends on /app/find."""
    await page.goto("/app/signin")
    await page.fill("#phone", number)
    await page.locator("#phone").press("Enter")
    await page.locator("#code").wait_for()
    await page.fill("#code", last_code(runtime, f"+47{number}"))
    await page.locator("#code").press("Enter")
    await page.wait_for_url(re.compile(r"/app/profile"))
    await page.fill("#name", name)
    await page.locator("#name").press("Enter")
    await page.wait_for_url(re.compile(r"/app/find$"))
