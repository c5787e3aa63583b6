"""The client every API test uses: the real ASGI app in process (no socket)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from ladeflyt.runtime import Runtime


@pytest.fixture
async def client(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.http_app()), base_url="http://test"
    ) as c:
        yield c
