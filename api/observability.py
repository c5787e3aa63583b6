"""Operators' view of the HTTP process: /metrics, a request id on every log line, and
GraphQL latency (with a span per operation when tracing is on)."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator

from fastapi import APIRouter, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from core import observe


class RequestId:
    """Pure ASGI: the caller's X-Request-ID (or a new one) in the log context and the
    answer's headers."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or ()).get(b"x-request-id", b"").decode("latin-1")
        rid = given[:64] if given else uuid.uuid4().hex[:16]
        token = observe.request_id.set(rid)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            observe.request_id.reset(token)


def metrics_router() -> APIRouter:
    router = APIRouter()

    @router.get("/metrics", include_in_schema=False)
    async def metrics() -> Response:
        body, content_type = observe.exposition()
        return Response(body, media_type=content_type)

    return router


class GraphQLMetrics(SchemaExtension):
    """Latency of queries and mutations (a subscription lasts as long as it is followed)."""

    async def on_operation(self) -> AsyncIterator[None]:
        started = time.perf_counter()
        yield
        kind = self.execution_context.operation_type
        if kind != OperationType.SUBSCRIPTION:
            observe.GRAPHQL_LATENCY.labels(kind.value).observe(time.perf_counter() - started)
