"""The same pages' edge cases over plain HTTP (httpx through the ASGI app, no browser):
guest links are unguessable and open only their own session, refusals say why, the QR
codes encode the pay link, receipt and invoice links need their token."""

from __future__ import annotations

import hashlib
import html
import io
import re
import secrets
import struct
import zlib
from datetime import timedelta
from urllib.parse import urlsplit
from xml.etree import ElementTree

import httpx
import pytest
import segno
from sqlalchemy import select

from core.billing.periods import local_today
from core.db import transaction
from core.models import GuestCheckout, InvoicePayLink, Payment
from core.payments.invoices import create_link
from core.timeutil import utcnow
from tests.pages.flows import (
    CODE,
    bank,
    customer,
    invoice_status,
    online,
    open_invoice,
    priced_site,
    remote_starts,
    remote_stops,
    until,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")


@pytest.fixture
async def http(runtime, base_url):
    transport = httpx.ASGITransport(app=runtime.http_app())
    async with httpx.AsyncClient(transport=transport, base_url=base_url) as client:
        yield client


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


async def checkout(http, runtime, evse: int, method: str = "card") -> tuple[str, str]:
    """Submit /pay/<code>; returns (the guest's link token, the sandbox page's path)."""
    response = await http.post(f"/pay/{CODE}", data={"method": method, "evse": evse, "lang": "nb"})
    assert response.status_code == 303, response.text
    sandbox = path_of(response.headers["location"])
    approve_page = await http.get(sandbox)
    assert approve_page.status_code == 200
    return_url = bank(runtime).payments[sandbox.rsplit("/", 1)[1]].return_url
    token = re.fullmatch(r".*/pay/c/([A-Za-z0-9_-]+)", return_url)
    assert token is not None, return_url
    return token.group(1), sandbox


async def approve(http, sandbox: str) -> str:
    response = await http.post(sandbox, data={"decision": "approve"})
    assert response.status_code == 303
    return path_of(response.headers["location"])


async def charging(http, charger, token: str, sandbox: str) -> None:
    """Approve the hold and come back: the charger starts and the page shows the session."""
    live = await approve(http, sandbox)
    assert live == f"/pay/c/{token}"

    async def session_shown() -> bool:
        return 'id="kwh"' in (await http.get(live)).text

    await until(session_shown, "the session on the live page")
    await until(lambda: charger.tx, "the charger's transaction")


# --------------------------------------------------------------------------- guest links


async def test_guest_links_are_unguessable_and_open_and_stop_only_their_own_session(
    runtime, ocpp_url, http
):
    await priced_site(runtime)
    async with online(ocpp_url) as charger:
        mine, sandbox = await checkout(http, runtime, evse=1)
        theirs, _ = await checkout(http, runtime, evse=2)
        await charging(http, charger, mine, sandbox)

        # 24 random bytes each; only their SHA-256 is stored.
        for token in (mine, theirs):
            assert re.fullmatch(r"[A-Za-z0-9_-]{32}", token)
        assert mine != theirs

        async with runtime.gateway_ctx.sessions() as s:
            rows = list((await s.execute(select(GuestCheckout))).scalars())
        assert sorted(r.token_hash for r in rows) == sorted(
            hashlib.sha256(t.encode()).hexdigest() for t in (mine, theirs)
        )

        page = await http.get(f"/pay/c/{mine}")
        assert page.status_code == 200
        assert "Kontakt 1 · Type2" in page.text and 'id="stop"' in page.text
        other = await http.get(f"/pay/c/{theirs}")
        assert other.status_code == 200
        assert "Kontakt 2 · Type2" in other.text and 'data-status="paying"' in other.text
        assert 'id="stop"' not in other.text and 'id="kwh"' not in other.text

        flipped = mine[:-1] + ("A" if mine[-1] != "A" else "B")
        for guess in (secrets.token_urlsafe(24), flipped, mine[:-1], mine.upper()):
            if guess == mine:
                continue
            response = await http.get(f"/pay/c/{guess}")
            assert response.status_code == 404, guess
            assert "Lenken er ukjent eller utløpt." in response.text
            stop = await http.post(f"/pay/c/{guess}/stop")
            assert stop.status_code == 303 and stop.headers["x-stop-result"] == "unknown link"

        # Their link cannot stop my session.
        stop = await http.post(f"/pay/c/{theirs}/stop")
        assert stop.headers["x-stop-result"] == "no active session"
        assert remote_stops(charger) == []
        assert 'data-status="charging"' in (await http.get(f"/pay/c/{mine}")).text

        stop = await http.post(f"/pay/c/{mine}/stop?lang=en")
        assert stop.status_code == 303 and stop.headers["x-stop-result"] == "ok"
        assert stop.headers["location"] == f"/pay/c/{mine}?lang=en&stopping=1"
        (stopped,) = remote_stops(charger)
        assert stopped["transaction_id"] == charger.tx
        (started,) = remote_starts(charger)
        assert started["connector_id"] == 1


async def test_paying_at_an_offline_or_busy_charger_is_refused_with_the_reason(
    runtime, ocpp_url, http
):
    await priced_site(runtime)
    start = await http.get(f"/pay/{CODE}")
    assert start.status_code == 200
    assert len(re.findall(r'name="evse"[^>]*disabled>', start.text)) == 2  # never connected
    assert start.text.count(">Ikke tilgjengelig<") == 2  # never reported a status
    assert 'id="none-free"' in start.text
    assert re.search(r'id="pay-card"\s+disabled', start.text)

    offline = await http.post(f"/pay/{CODE}", data={"method": "card", "evse": 1})
    assert offline.status_code == 409
    assert re.search(r'role="alert">\s*Laderen er ikke tilkoblet', offline.text), offline.text
    assert "Betal med kort" in offline.text  # the page again, to try another time

    async with online(ocpp_url, statuses=("Charging", "Available")) as charger:
        busy = await http.post(f"/pay/{CODE}", data={"method": "card", "evse": 1})
        assert busy.status_code == 409 and "Kontakten er opptatt" in busy.text
        bad_phone = await http.post(
            f"/pay/{CODE}", data={"method": "card", "evse": 2, "phone": "12"}
        )
        assert bad_phone.status_code == 409 and "Mobilnummeret" in bad_phone.text
        no_such_connector = await http.post(f"/pay/{CODE}", data={"method": "card", "evse": 9})
        assert no_such_connector.status_code == 409
        assert "Fant ikke laderen eller kontakten" in no_such_connector.text
        unknown = await http.post("/pay/NO-SUCH-1", data={"method": "card", "evse": 1})
        assert unknown.status_code == 404
        cash = await http.post(f"/pay/{CODE}", data={"method": "cash", "evse": 2})
        assert cash.status_code == 422
        assert remote_starts(charger) == []

    assert bank(runtime).payments == {}
    async with runtime.gateway_ctx.sessions() as s:
        assert (await s.execute(select(Payment))).first() is None


# --------------------------------------------------------------------------- QR codes


def png_modules(data: bytes, scale: int = 8, border: int = 2) -> list[list[bool]]:
    """The dark/light modules of a 1-bit greyscale PNG QR code (a tiny PNG decoder)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, width, height = 8, b"", 0, 0
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            width, height, depth, color = struct.unpack(">IIBB", body[:10])
            assert (depth, color) == (1, 0), (depth, color)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + length
    raw, stride = zlib.decompress(idat), (width + 7) // 8
    rows, prev = [], bytes(stride)
    for y in range(height):
        kind_of_filter = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a, b, c = (line[i - 1] if i else 0), prev[i], (prev[i - 1] if i else 0)
            if kind_of_filter == 1:
                line[i] = (line[i] + a) & 255
            elif kind_of_filter == 2:
                line[i] = (line[i] + b) & 255
            elif kind_of_filter == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind_of_filter == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        rows.append(bytes(line))
        prev = rows[-1]

    def dark(x: int, y: int) -> bool:
        return not (rows[y][x // 8] >> (7 - x % 8)) & 1

    n = width // scale - 2 * border
    middle = scale // 2
    return [
        [dark((border + col) * scale + middle, (border + row) * scale + middle) for col in range(n)]
        for row in range(n)
    ]


async def test_qr_codes_are_valid_images_of_the_pay_link(http, base_url):
    expected = segno.make(f"{base_url}/pay/{CODE}", error="m")

    svg = await http.get(f"/pay/{CODE}/qr.svg")
    assert svg.status_code == 200 and svg.headers["content-type"] == "image/svg+xml"
    root = ElementTree.fromstring(svg.content)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    side = (expected.symbol_size(scale=8, border=2))[0]
    assert (root.get("width"), root.get("height")) == (str(side), str(side))
    mine = io.BytesIO()
    expected.save(mine, kind="svg", scale=8, border=2)
    assert svg.content == mine.getvalue()

    png = await http.get(f"/pay/{CODE}/qr.png")
    assert png.status_code == 200 and png.headers["content-type"] == "image/png"
    assert png_modules(png.content) == [[bool(m) for m in row] for row in expected.matrix]
    other = segno.make(f"{base_url}/pay/OTHER-1", error="m")
    assert png_modules(png.content) != [[bool(m) for m in row] for row in other.matrix]

    assert (await http.get(f"/pay/{CODE}/qr.gif")).status_code == 422


# --------------------------------------------------------------------------- receipts


async def test_a_receipt_needs_its_own_token(runtime, ocpp_url, http):
    await priced_site(runtime)
    async with online(ocpp_url) as charger:
        token, sandbox = await checkout(http, runtime, evse=1)
        await charging(http, charger, token, sandbox)
        await charger.meter(2_000, 11.0)
        assert (await http.post(f"/pay/c/{token}/stop")).headers["x-stop-result"] == "ok"

        async def receipt_link() -> str | None:
            found = re.search(
                r'href="([^"]*/receipts/[^"]+)"', (await http.get(f"/pay/c/{token}")).text
            )
            return found.group(1) if found else None

        link = path_of(await until(receipt_link, "the receipt on the live page"))
    link = html.unescape(link)
    session_id, key = re.fullmatch(r"/receipts/(\d+)\?t=([0-9a-f]{32})&lang=nb", link).groups()

    receipt = await http.get(link)
    assert receipt.status_code == 200 and 'id="total">kr 10,00<' in receipt.text
    assert "Trukket (kort)" in receipt.text
    wrong = "0" * 32 if key != "0" * 32 else "1" * 32
    for forged in (
        f"/receipts/{session_id}?t={wrong}",
        f"/receipts/{session_id}?t={key[:-1]}",
        f"/receipts/{session_id}",
        f"/receipts/{int(session_id) + 1}?t={key}",
        f"/receipts/999999?t={key}",
    ):
        response = await http.get(forged)
        assert response.status_code == 404, forged
        assert "kr 10,00" not in response.text


# --------------------------------------------------------------------------- invoice links


async def test_invoice_links_unknown_expired_paid_and_under_way(runtime, http):
    assert (await http.get(f"/invoice/{secrets.token_urlsafe(24)}")).status_code == 404
    refused = await http.post(f"/invoice/{secrets.token_urlsafe(24)}/pay", data={"method": "card"})
    assert refused.status_code == 404 and "Lenken er ukjent eller utløpt." in refused.text

    user_id = await customer(runtime)
    invoice_id = await open_invoice(runtime, user_id, 2001, local_today(), 12_500)
    async with transaction(runtime.gateway_ctx.sessions) as session:
        token = await create_link(session, invoice_id, ttl_days=30)
        stale = await create_link(session, invoice_id, ttl_days=30)
        old = (
            await session.execute(
                select(InvoicePayLink).where(
                    InvoicePayLink.token_hash == hashlib.sha256(stale.encode()).hexdigest()
                )
            )
        ).scalar_one()
        old.expires_at = utcnow() - timedelta(seconds=1)

    expired = await http.post(f"/invoice/{stale}/pay", data={"method": "card"})
    # In the page's language, never the service's English message.
    assert expired.status_code == 409 and "Lenken er utløpt." in expired.text
    assert "this payment link has expired" not in expired.text

    # A second press while the payment is under way goes back to the same payment.
    first = await http.post(f"/invoice/{token}/pay", data={"method": "card"})
    again = await http.post(f"/invoice/{token}/pay", data={"method": "card"})
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"]
    assert len(bank(runtime).payments) == 1

    sandbox = path_of(first.headers["location"])
    back = await http.post(sandbox, data={"decision": "approve"})
    assert path_of(back.headers["location"]) == f"/invoice/{token}/return"
    done = await http.get(f"/invoice/{token}/return")
    assert done.status_code == 200 and 'data-status="paid"' in done.text
    assert await invoice_status(runtime, invoice_id) == "paid"

    paid = await http.post(f"/invoice/{token}/pay", data={"method": "card"})
    assert paid.status_code == 409 and "Fakturaen er betalt" in paid.text
    assert len(bank(runtime).payments) == 1
    assert (await http.get(f"/invoice/{token}/return")).status_code == 200  # idempotent
    (payment,) = bank(runtime).payments.values()
    assert payment.captured_ore == 12_500
