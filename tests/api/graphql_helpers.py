"""Helpers for driving the GraphQL API like the app does."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import uvicorn

from ladeflyt.runtime import Runtime
from notifications.console import ConsoleSmsSender


async def gql(
    client: httpx.AsyncClient,
    query: str,
    variables: dict[str, Any] | None = None,
    token: str | None = None,
) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await client.post(
        "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def sign_in(client: httpx.AsyncClient, runtime: Runtime, phone: str) -> dict[str, Any]:
    sent = await gql(
        client,
        "mutation($p: String!) { requestSignInCode(phone: $p) {"
        " __typename ... on SignInCodeSent { phone } } }",
        {"p": phone},
    )
    assert sent["data"]["requestSignInCode"]["__typename"] == "SignInCodeSent", sent
    sms = runtime.sms
    assert isinstance(sms, ConsoleSmsSender)
    match = re.search(r"\b(\d{6})\b", sms.sent[-1].body)
    assert match is not None
    result = await gql(
        client,
        """
        mutation($p: String!, $c: String!) { signIn(phone: $p, code: $c) {
          __typename
          ... on SignedIn { accessToken refreshToken newUser me { id phone } }
        } }""",
        {"p": phone, "c": match.group(1)},
    )
    signed: dict[str, Any] = result["data"]["signIn"]
    assert signed["__typename"] == "SignedIn", result
    return signed


@contextlib.asynccontextmanager
async def http_server(runtime: Runtime) -> AsyncIterator[str]:
    """The real HTTP stack (uvicorn) on a free port, for websocket subscriptions."""
    server = uvicorn.Server(
        uvicorn.Config(
            runtime.http_app(), host="127.0.0.1", port=0, lifespan="off", log_level="warning"
        )
    )
    task = asyncio.create_task(server.serve())
    for _ in range(200):
        if server.started:
            break
        await asyncio.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task
