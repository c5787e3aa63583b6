"""The pages speak like the operator, in one language at a time: its name, organisation
number, address and support on every page; receipts that are sales documents; a
Norwegian page without English words and the other way round, in every state."""

from __future__ import annotations

import hashlib
import html
import re
from datetime import timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from core.billing.periods import local_today
from core.billing.settings import BillingSettings
from core.db import transaction
from core.models import InvoicePayLink
from core.payments.invoices import create_link
from core.timeutil import utcnow
from tests.pages.flows import CODE, bank, customer, online, open_invoice, priced_site, until
from tests.pages.test_pages_http import approve, charging, checkout, path_of
from tests.pages.test_pages_http import http as http

pytestmark = pytest.mark.asyncio(loop_scope="module")

FJORDLYS = BillingSettings(
    seller_name="Fjordlys AS",
    seller_org_number="923609016",
    seller_street="Strandveien 5",
    seller_postal_code="3475",
    seller_city="Sætre",
    seller_phone="22 12 34 56",
    seller_email="kundeservice@fjordlys.no",
)


@pytest.fixture
def settings(settings):
    return settings.model_copy(
        update={"billing": FJORDLYS, "support_hours": "mon-fri 08:00-16:00; sat 10:00-14:00"}
    )


# --------------------------------------------------------------------------- words

# Words that belong to one language only. Names, codes, units and e-mail addresses are
# the same in both and are not checked; an element marked with its own `lang` (the
# language switch, the organisation number's "MVA") is deliberately in that language.
_ENGLISH_WORDS = """the and of to your you with was were is are not could please try again pay
    payment paid charging charged charger connector receipt price energy cost power time total
    invoice amount due period link expired unknown found available offline busy service
    customer stopping starting waiting finished cancelled declined released hold reserve
    choose approve decline quantity seller date place delivery excl incl vat card mobile
    number optional only nothing weekdays sat page test money"""
_NORWEGIAN_WORDS = """og av er ikke kunne ble betal betaling betalingen betalingsmåte lading
    ladingen lader laderen kvittering kvitteringen pris energi kostnad effekt tid totalt
    trukket faktura fakturaen beløp forfall periode lenken utløpt ukjent fant siden ledig
    frakoblet opptatt kundeservice ingenting prøv igjen avbrutt avvist stopper starter venter
    ferdig reservasjonen frigitt reserverer velg godkjenn avvis mengde selger dato tidsrom
    leveringssted eks inkl mva kort mobilnummer valgfritt hverdager lør herav alle priser du
    vi på til med"""
ENGLISH = set(_ENGLISH_WORDS.split())
NORWEGIAN = set(_NORWEGIAN_WORDS.split())
_VOID = {"meta", "br", "input", "img", "link", "hr"}


class _Words(HTMLParser):
    """The words a reader sees, without <style> and elements in another `lang`."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, bool]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _VOID:
            return
        skip = bool(self.stack and self.stack[-1][1])
        skip = skip or tag in ("style", "script") or (tag != "html" and "lang" in dict(attrs))
        self.stack.append((tag, skip))

    def handle_endtag(self, tag: str) -> None:
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data: str) -> None:
        if not (self.stack and self.stack[-1][1]):
            self.text.append(data)


def words_of(page: str) -> set[str]:
    parser = _Words()
    parser.feed(page)
    text = re.sub(r"\S+@\S+|https?://\S+", " ", " ".join(parser.text))
    return {w.lower() for w in re.findall(r"[^\W\d_]+", text)}


def assert_one_language(page: str, lang: str, where: str) -> None:
    assert f'<html lang="{lang}">' in page, where
    foreign = words_of(page) & (ENGLISH if lang == "nb" else NORWEGIAN)
    assert not foreign, f"{where} ({lang}) has {sorted(foreign)}"


def in_lang(path: str, lang: str) -> str:
    return f"{path}{'&' if '?' in path else '?'}lang={lang}"


async def both_languages(http, path: str, status: int = 200) -> dict[str, str]:
    pages = {}
    for lang in ("nb", "en"):
        response = await http.get(in_lang(path, lang))
        assert response.status_code == status, (path, lang, response.text)
        assert_one_language(response.text, lang, path)
        pages[lang] = response.text
    return pages


async def test_the_word_check_finds_what_it_should():
    page = (
        '<html lang="nb"><title>Kvittering</title><style>.the{}</style><body>'
        '<a lang="en">English</a><p>Betalingen ble avbrutt. The payment was cancelled.</p>'
        '<span lang="nb">Org.nr 923 609 016 MVA</span> kundeservice@fjordlys.no</body></html>'
    )
    assert words_of(page) == {
        "kvittering",
        "betalingen",
        "ble",
        "avbrutt",
        "the",
        "payment",
        "was",
        "cancelled",
    }
    with pytest.raises(AssertionError, match="cancelled"):
        assert_one_language(page, "nb", "sample")


# --------------------------------------------------------------------------- pages


async def test_every_guest_page_speaks_one_language_in_every_state(runtime, ocpp_url, http):
    await priced_site(runtime)
    await both_languages(http, "/pay/NO-SUCH-CHARGER", 404)
    await both_languages(http, "/pay/c/not-a-real-token-at-all-000000000", 404)
    async with online(ocpp_url) as charger:
        await both_languages(http, f"/pay/{CODE}")

        # A declined payment: said in the page's language, with a way to try again.
        declined, sandbox = await checkout(http, runtime, evse=2)
        sandbox_pages = await both_languages(http, sandbox)
        assert "Godkjenn" in sandbox_pages["nb"] and "Approve" in sandbox_pages["en"]
        back = await http.post(sandbox, data={"decision": "decline"})
        assert path_of(back.headers["location"]) == f"/pay/c/{declined}"
        abandoned = await both_languages(http, f"/pay/c/{declined}")
        assert 'data-status="abandoned"' in abandoned["nb"]
        assert "Betalingen ble ikke fullført, og ingenting er trukket." in abandoned["nb"]
        assert "The payment was not completed, and nothing was charged." in abandoned["en"]
        for lang, page in abandoned.items():
            again = re.search(r'<a [^>]*id="try-again" href="([^"]+)">([^<]+)</a>', page)
            assert again is not None, page
            assert html.unescape(again.group(1)) == f"/pay/{CODE}?lang={lang}"
            assert again.group(2) == ("Prøv igjen" if lang == "nb" else "Try again")
        assert (await http.get(f"/pay/{CODE}?lang=nb")).status_code == 200

        token, sandbox = await checkout(http, runtime, evse=1)
        paying = await both_languages(http, f"/pay/c/{token}")
        assert 'data-status="paying"' in paying["nb"]
        await charging(http, charger, token, sandbox)
        await charger.meter(2_226, 11.0)
        live = await both_languages(http, f"/pay/c/{token}")
        assert 'id="kwh">2,226<' in live["nb"] and 'id="kwh">2.226<' in live["en"]
        assert 'id="kw">11,0 kW<' in live["nb"] and 'id="kw">11.0 kW<' in live["en"]

        # After Stop the page says "stopping" at once, not "charging" until the next refresh.
        charger.hold_stop = True
        stop = await http.post(f"/pay/c/{token}/stop?lang=nb")
        assert stop.status_code == 303 and stop.headers["x-stop-result"] == "ok"
        stopping_path = stop.headers["location"]
        stopping = await http.get(stopping_path)
        assert 'data-status="stopping"' in stopping.text and "Stopper ..." in stopping.text
        assert 'id="stop"' not in stopping.text
        assert_one_language(stopping.text, "nb", stopping_path)
        english = await http.get(stopping_path.replace("lang=nb", "lang=en"))
        assert "Stopping ..." in english.text
        assert_one_language(english.text, "en", stopping_path)
        await until(lambda: charger.held_transaction, "the charger to hold the stop")
        await charger.finish_stop()

        async def completed() -> bool:
            return 'data-status="completed"' in (await http.get(stopping_path)).text

        await until(completed, "the session to complete")
        done = await both_languages(http, f"/pay/c/{token}")
        link = re.search(r'href="([^"]*/receipts/[^"]+)"', done["nb"])
        assert link is not None
        receipt = path_of(html.unescape(link.group(1)))
        await both_languages(http, receipt.replace("&lang=nb", ""))
        await both_languages(http, re.sub(r"t=\w+", "t=" + "0" * 32, receipt), 404)


async def test_every_invoice_page_speaks_one_language(runtime, http):
    user_id = await customer(runtime)
    invoice_id = await open_invoice(runtime, user_id, 3001, local_today(), 12_500)
    async with transaction(runtime.gateway_ctx.sessions) as session:
        token = await create_link(session, invoice_id, ttl_days=30)
        stale = await create_link(session, invoice_id, ttl_days=30)
        row = (
            await session.execute(
                select(InvoicePayLink).where(
                    InvoicePayLink.token_hash == hashlib.sha256(stale.encode()).hexdigest()
                )
            )
        ).scalar_one()
        row.expires_at = utcnow() - timedelta(seconds=1)
    await both_languages(http, "/invoice/not-a-real-token", 404)
    opened = await both_languages(http, f"/invoice/{token}")
    assert "kr 125,00" in opened["nb"] and "NOK 125.00" in opened["en"]
    await both_languages(http, f"/invoice/{token}?pay=1")
    await both_languages(http, f"/invoice/{stale}")
    for lang in ("nb", "en"):
        refused = await http.post(f"/invoice/{stale}/pay?lang={lang}", data={"method": "card"})
        assert refused.status_code == 409
        assert_one_language(refused.text, lang, "expired link, paying")
        # The language switch of a page answering a POST goes to the invoice page itself.
        other = "en" if lang == "nb" else "nb"
        assert f'href="/invoice/{stale}?lang={other}"' in refused.text
    first = await http.post(f"/invoice/{token}/pay", data={"method": "card"})
    await approve(http, path_of(first.headers["location"]))
    paid = await both_languages(http, f"/invoice/{token}/return")
    assert 'data-status="paid"' in paid["nb"]


# --------------------------------------------------------------------------- operator, receipt


async def test_pages_name_the_operator_and_how_to_reach_support(runtime, http):
    await priced_site(runtime)
    nb = (await http.get(f"/pay/{CODE}")).text
    assert "<title>Lading på KLOKK-1 · Fjordlys AS</title>" in nb
    assert '<strong id="operator-name">Fjordlys AS</strong>' in nb
    assert '<span lang="nb" id="org-number">Org.nr 923 609 016 MVA</span>' in nb
    assert "Strandveien 5, 3475 Sætre" in nb
    assert 'href="tel:22123456"' in nb
    assert "(hverdager 08:00\u201316:00, lør 10:00\u201314:00)" in nb
    assert 'href="mailto:kundeservice@fjordlys.no"' in nb
    en = (await http.get(f"/pay/{CODE}?lang=en")).text
    assert "Customer service:" in en
    assert "(weekdays 08:00\u201316:00, Sat 10:00\u201314:00)" in en


async def test_the_receipt_is_a_sales_document_and_switches_language_with_its_token(
    runtime, ocpp_url, http
):
    await priced_site(runtime)  # kr 5,00 per kWh incl. VAT
    async with online(ocpp_url) as charger:
        token, sandbox = await checkout(http, runtime, evse=1)
        await charging(http, charger, token, sandbox)
        await charger.meter(2_226, 11.0)
        assert (await http.post(f"/pay/c/{token}/stop")).headers["x-stop-result"] == "ok"

        async def receipt_link() -> str | None:
            found = re.search(
                r'href="([^"]*/receipts/[^"]+)"', (await http.get(f"/pay/c/{token}")).text
            )
            return html.unescape(found.group(1)) if found else None

        link = path_of(await until(receipt_link, "the receipt link"))
    session_id = re.match(r"/receipts/(\d+)\?", link).group(1)
    nb = (await http.get(link)).text
    flat = re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.unescape(nb)))
    today = f"{local_today().day}."
    for expected in (
        f"Kvittering nr. {session_id}",  # § 5-1-1 nr. 1: a number
        f"Dato {today}",  # nr. 2: the date
        "Selger Fjordlys AS Org.nr 923 609 016 MVA Strandveien 5, 3475 Sætre",  # nr. 3
        "Leveringssted Lading på KLOKK-1, kontakt 1 Klokkarstua, Klokkarveien 2",  # nr. 5
        "Energi 2,226 kWh",
    ):
        assert expected in flat, (expected, flat)
    # nr. 6 and 7: what was sold, how much, at which unit price.
    line = re.search(r'id="lines">.*?<tr><td>Energi</td>(.*?)</tr>', nb, re.S)
    assert line is not None, nb
    cells = [html.unescape(c) for c in re.findall(r'<td class="num">([^<]*)</td>', line.group(1))]
    assert cells == ["2,226 kWh", "kr 5,00 / kWh", "kr 11,13"]
    assert 'id="net">kr 8,90<' in nb and "Sum eks. mva." in nb  # nr. 7: VAT and its rate
    assert 'id="vat">kr 2,23<' in nb and "Mva. 25 %" in nb
    assert 'id="total">kr 11,13<' in nb and "Totalt inkl. mva." in nb

    # The language switch keeps the token (it used to say "Unknown or expired link").
    switch = re.search(r'<a href="([^"]+)" id="lang-toggle"', nb)
    assert switch is not None
    english_path = html.unescape(switch.group(1))
    assert english_path == link.replace("lang=nb", "lang=en")
    english = await http.get(english_path)
    assert english.status_code == 200
    assert f'Receipt no.</td><td class="num" id="receipt-number">{session_id}<' in english.text
    assert 'id="total">NOK 11.13<' in english.text and "VAT 25 %" in english.text
    assert "Org.nr 923 609 016 MVA" in english.text
    assert bank(runtime).payments  # paid by card on the sandbox
