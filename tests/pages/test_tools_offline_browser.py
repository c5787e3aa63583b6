"""The browser tools work offline: Swagger UI at /docs and GraphiQL at /graphql render from
this server's own assets, and the browser asks no other host for anything."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def _open(browser: Any, server: str, path: str) -> tuple[Any, list[str]]:
    context = await browser.new_context(base_url=server)
    context.set_default_timeout(15_000)
    page = await context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    response = await page.goto(path)
    assert response is not None and response.status == 200
    return page, requested


def _elsewhere(requested: list[str], server: str) -> list[str]:
    own = urlsplit(server).netloc
    return [
        url
        for url in requested
        if urlsplit(url).scheme in ("http", "https", "ws", "wss") and urlsplit(url).netloc != own
    ]


async def test_swagger_ui_renders_the_rest_api_from_local_assets(browser, server):
    page, requested = await _open(browser, server, "/docs")
    try:
        await page.locator(".swagger-ui .info .title").wait_for()
        assert "Ladeflyt" in await page.locator(".swagger-ui .info .title").inner_text()
        await page.locator(".opblock").first.wait_for()
        assert _elsewhere(requested, server) == []
        assert any(url.endswith("/openapi.json") for url in requested)
    finally:
        await page.context.close()


async def test_graphiql_renders_and_runs_a_query_from_local_assets(browser, server):
    page, requested = await _open(browser, server, "/graphql")
    try:
        await page.locator(".graphiql-container .graphiql-execute-button").wait_for()
        await page.locator(".graphiql-execute-button").click()
        result = page.locator(".result-window")
        await result.get_by_text('"chargersNear"').wait_for()
        assert _elsewhere(requested, server) == []
    finally:
        await page.context.close()
