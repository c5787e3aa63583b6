"""The PDF links people click, in headless Chromium on a phone: the receipt page's
"Last ned kvittering (PDF)" and the invoice page's "Last ned faktura (PDF)" download real
PDFs whose text is the receipt and the invoice."""

from __future__ import annotations

import asyncio
import io
from datetime import timedelta
from pathlib import Path

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from core.billing.periods import local_today
from core.db import transaction
from core.models import Charger, Connector, User
from core.payments.invoices import create_link
from core.payments.receipts import receipt_url
from core.tariffs.service import price_session
from core.timeutil import utcnow
from tests.helpers import arrange
from tests.pages.flows import CODE, customer, open_invoice, priced_site
from tests.tariffs.builders import Place, charged

pytestmark = pytest.mark.asyncio(loop_scope="module")


def pdf_text(data: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


async def download(page, link_name: str) -> tuple[str, bytes]:
    link = page.get_by_role("link", name=link_name)
    assert await link.is_visible()
    async with page.expect_download() as info:
        await link.click()
    got = await info.value
    path = await got.path()
    return got.suggested_filename, await asyncio.to_thread(Path(path).read_bytes)


async def test_the_receipt_page_links_to_the_receipt_as_pdf(runtime, phone):
    await priced_site(runtime)

    async def session_of_two_kwh(s) -> int:
        charger = (
            await s.execute(select(Charger).where(Charger.charge_point_id == CODE))
        ).scalar_one()
        pks = list(
            (
                await s.execute(
                    select(Connector.id)
                    .where(Connector.charger_id == charger.id)
                    .order_by(Connector.evse_id)
                )
            ).scalars()
        )
        user = (await s.execute(select(User))).scalars().first()
        start = utcnow() - timedelta(hours=2)
        cs = await charged(s, Place("Klokkarstua", CODE, charger.id, pks), user, start, 60, 2)
        await price_session(s, cs)
        return int(cs.id)

    session_id = await arrange(runtime, session_of_two_kwh)
    opened = await phone.goto(_path(receipt_url(runtime.settings, session_id)))
    assert opened.status == 200
    assert await phone.get_by_role("heading", name="Kvittering").is_visible()
    name, data = await download(phone, "Last ned kvittering (PDF)")
    assert name == f"kvittering-{session_id}.pdf" and data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "Kvittering" in text and f"Kvitteringsnr. {session_id}" in text
    assert "Sted: Klokkarstua" in text and "2,00 kWh" in text
    assert "Totalt (NOK) 10,00" in text and "MVA 25 % 2,00" in text

    # The link is signed: a guessed one is refused.
    wrong = await phone.request.get(f"/receipts/{session_id}/pdf?t=guess")
    assert wrong.status == 404


async def test_the_invoice_page_links_to_the_invoice_as_pdf(runtime, phone):
    user_id = await customer(runtime, "+4791113333")
    due = local_today() + timedelta(days=10)
    invoice_id = await open_invoice(runtime, user_id, 2001, due, 61_250)
    async with transaction(runtime.gateway_ctx.sessions) as session:
        token = await create_link(session, invoice_id, ttl_days=30)

    opened = await phone.goto(f"/invoice/{token}")
    assert opened.status == 200
    name, data = await download(phone, "Last ned faktura (PDF)")
    assert name == "faktura-2001.pdf" and data.startswith(b"%PDF")
    text = pdf_text(data)
    assert "Faktura" in text and "Fakturanummer 2001" in text and "Kari Nordmann" in text
    assert f"Forfallsdato {due:%d.%m.%Y}" in text and "Å betale (NOK) 612,50" in text
    assert "Klokkarstua, KLOKK-1 #1" in text  # the line's place, from its description
    missing = await phone.request.get("/invoice/not-a-token/pdf")
    assert missing.status == 404


def _path(url: str) -> str:
    """The path and query of an absolute link (the page's base URL is the test server's)."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")
