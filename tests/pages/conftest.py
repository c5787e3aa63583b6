"""Fixtures for the pages people use in a phone browser.

The real app runs under uvicorn on a socket bound before the runtime is built, so that
`public_base_url` (pay links, the sandbox's redirect and return URLs) names the test server.
Browser tests drive Debian's headless Chromium with Playwright; without /usr/bin/chromium
they skip, unless LADEFLYT_REQUIRE_BROWSER=1 (CI) makes that a failure.

Every test here runs in its module's event loop, so that one browser serves a whole module:
the runtime and the server are made in that loop too.
"""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from core.config import Settings
from ladeflyt.runtime import Runtime
from tests.helpers import bound_socket, serving

CHROMIUM = "/usr/bin/chromium"
REQUIRE_BROWSER = "LADEFLYT_REQUIRE_BROWSER"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 2,
    "is_mobile": True,
    "has_touch": True,
    "locale": "nb-NO",
}


@pytest.fixture
def listen_socket() -> Iterator[socket.socket]:
    """The test server's socket, bound now so its port is known before the runtime is."""
    with bound_socket() as sock:
        yield sock


@pytest.fixture
def base_url(listen_socket: socket.socket) -> str:
    return f"http://127.0.0.1:{listen_socket.getsockname()[1]}"


@pytest.fixture
def settings(settings: Settings, base_url: str) -> Settings:
    return settings.model_copy(update={"public_base_url": base_url})


@pytest_asyncio.fixture(loop_scope="module")
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.build(settings)
    await rt.start(ocpp_port=0)
    try:
        yield rt
    finally:
        await rt.stop()


@pytest_asyncio.fixture(loop_scope="module")
async def server(
    runtime: Runtime, listen_socket: socket.socket, base_url: str
) -> AsyncIterator[str]:
    """The real HTTP stack on `base_url`; yields that URL."""
    async with serving(runtime, listen_socket):
        yield base_url


def _missing_browser() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not os.path.exists(CHROMIUM):
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    try:
        import playwright.async_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -e '.[dev]')"
    return None


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def browser() -> AsyncIterator[Any]:
    """One headless Chromium per module (Debian's: Playwright cannot fetch its own here)."""
    missing = _missing_browser()
    if missing:
        if os.environ.get(REQUIRE_BROWSER, "") not in ("", "0"):
            pytest.fail(f"{REQUIRE_BROWSER} is set but {missing}")
        pytest.skip(missing)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        chromium = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest_asyncio.fixture(loop_scope="module")
async def phone(browser: Any, server: str) -> AsyncIterator[Any]:
    """A page in a fresh phone-sized browser context; closed before the server stops."""
    context = await browser.new_context(base_url=server, **PHONE)
    context.set_default_timeout(10_000)
    page = await context.new_page()
    try:
        yield page
    finally:
        await context.close()
