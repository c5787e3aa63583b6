"""EHF through a Peppol access point's HTTP API: a local fake access point (aiohttp) sees
the document, the Peppol envelope in headers and the idempotency key."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from core.ports import DeliveryRejected, DeliveryUnavailable, PeppolDocument
from delivery.peppol_http import HttpAccessPoint

DOC = PeppolDocument(
    name="faktura-2",
    kind="invoice",
    sender="0192:923609016",
    receiver="0192:974760673",
    xml=b'<?xml version="1.0"?><Invoice/>',
)


class FakeAccessPoint:
    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[tuple[int, dict[str, Any]]] = []
        self.by_key: dict[str, str] = {}

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((dict(request.headers), body))
        if request.headers.get("Authorization") != "Bearer ap-key":
            return web.json_response({"message": "unauthorised"}, status=401)
        if self.answers:
            status, answer = self.answers.pop(0)
            return web.json_response(answer, status=status)
        key = request.headers["Idempotency-Key"]
        if key in self.by_key:
            return web.json_response({"id": self.by_key[key], "message": "duplicate"}, status=409)
        self.by_key[key] = f"tx-{len(self.by_key) + 1}"
        return web.json_response({"id": self.by_key[key], "status": "accepted"}, status=202)


@pytest.fixture
async def access_point() -> AsyncIterator[tuple[FakeAccessPoint, str]]:
    fake = FakeAccessPoint()
    app = web.Application()
    app.router.add_post("/api/v1/outbound", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield fake, f"http://127.0.0.1:{port}/api/v1/outbound"
    finally:
        await runner.cleanup()


async def test_the_document_goes_with_its_peppol_envelope_and_is_sent_once(access_point):
    fake, url = access_point
    ap = HttpAccessPoint(url, "ap-key")
    assert await ap.send(DOC) == "tx-1"
    ((headers, body),) = fake.received
    assert body == DOC.xml
    assert headers["Content-Type"] == "application/xml"
    assert headers["Idempotency-Key"] == "faktura-2"
    assert headers["X-Peppol-Sender"] == "iso6523-actorid-upis::0192:923609016"
    assert headers["X-Peppol-Receiver"] == "iso6523-actorid-upis::0192:974760673"
    assert headers["X-Peppol-Process"] == (
        "cenbii-procid-ubl::urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"
    )
    assert headers["X-Peppol-Document-Type"].startswith(
        "busdox-docid-qns::urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##"
    )
    # A retry after a lost answer: the access point knows the key, the same transmission.
    assert await ap.send(DOC) == "tx-1"
    assert len(fake.by_key) == 1


async def test_refusals_are_final_and_outages_are_retried(access_point):
    fake, url = access_point
    ap = HttpAccessPoint(url, "ap-key")
    fake.answers = [(422, {"message": "receiver not registered in Peppol"})]
    with pytest.raises(DeliveryRejected, match="receiver not registered") as refused:
        await ap.send(DOC)
    assert refused.value.code == "422"
    fake.answers = [(503, {"message": "maintenance"})]
    with pytest.raises(DeliveryUnavailable, match="503"):
        await ap.send(DOC)
    with pytest.raises(DeliveryUnavailable, match="401"):
        await HttpAccessPoint(url, "wrong-key").send(DOC)
    with pytest.raises(DeliveryUnavailable, match="unreachable"):
        await HttpAccessPoint("http://127.0.0.1:9/api", "ap-key", timeout=2).send(DOC)
