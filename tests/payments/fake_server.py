"""The base of the payment fakes: an aiohttp app on 127.0.0.1:<free port>, served from its own
event loop in a thread, so async tests, sync tests and a headless browser can all use it."""

from __future__ import annotations

import asyncio
import html
import re
import socket
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

Answer = tuple[int, Any]  # (HTTP status, JSON body)


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]  # names lower-cased
    query: dict[str, Any]  # nested, as the API reads it
    body: Any  # Stripe: the nested form; Vipps: the JSON body (None if empty)
    form: dict[str, str] = field(default_factory=dict)  # Stripe: the flat form as sent


def nested_form(pairs: list[tuple[str, str]]) -> dict[str, Any]:
    """Stripe's `a[b][0][c]=v` form encoding → nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+", key)
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value

    def lists(node: Any) -> Any:
        if not isinstance(node, dict):
            return node
        if node and all(k.isdigit() for k in node):
            return [lists(node[k]) for k in sorted(node, key=int)]
        return {k: lists(v) for k, v in node.items()}

    return lists(root)


class FakeServer:
    """An aiohttp app on 127.0.0.1:<free port>, served from a thread; handlers run under a lock
    that the test-side helpers take too."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self.url = ""
        self._failures: list[tuple[str, int]] = []
        self._seq = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{sock.getsockname()[1]}"
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._serve)
        runner = web.AppRunner(app, access_log=None)
        ready = threading.Event()
        loop = self._loop = asyncio.new_event_loop()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.SockSite(runner, sock).start())
            ready.set()
            loop.run_forever()
            loop.run_until_complete(runner.cleanup())
            loop.close()

        self._thread = threading.Thread(target=run, name=type(self).__name__, daemon=True)
        self._thread.start()
        ready.wait(5)

    def stop(self) -> None:
        if self._thread and self._loop:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)
            self._thread = None

    def fail_next(self, status: int = 503, times: int = 1, path: str = "/") -> None:
        """Answer the next `times` requests under `path` with `status` (outage, rate limit)."""
        with self.lock:
            self._failures += [(path, status)] * times

    def requests_to(self, path: str, method: str | None = None) -> list[Recorded]:
        return [
            r
            for r in self.requests
            if r.path.startswith(path) and (method is None or r.method == method)
        ]

    def new_id(self, prefix: str) -> str:
        self._seq += 1
        return f"{prefix}_fake{self._seq:06d}"

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        with self.lock:
            recorded = self.record(request, raw)
            self.requests.append(recorded)
            response = self._failure(recorded) or self.route(request, recorded)
        # No keep-alive: a test's client leaves no pooled socket behind when its loop ends.
        response.force_close()
        return response

    def _failure(self, recorded: Recorded) -> web.StreamResponse | None:
        for i, (path, status) in enumerate(self._failures):
            if recorded.path.startswith(path):
                del self._failures[i]
                return web.json_response(self.failure(status), status=status)
        return None

    def record(self, request: web.Request, raw: bytes) -> Recorded:
        raise NotImplementedError

    def failure(self, status: int) -> Any:
        raise NotImplementedError

    def route(self, request: web.Request, recorded: Recorded) -> web.StreamResponse:
        raise NotImplementedError


def redirect(location: str) -> web.Response:
    return web.Response(status=303, headers={"Location": location})


def page(title: str, links: Mapping[str, str], status: int = 200) -> web.Response:
    items = "".join(
        f'<p><a id="{k}" href="?outcome={k}">{html.escape(v)}</a></p>' for k, v in links.items()
    )
    body = f"<!doctype html><title>{html.escape(title)}</title><h1>{html.escape(title)}</h1>{items}"
    return web.Response(text=body, status=status, content_type="text/html")
