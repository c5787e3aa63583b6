"""Pages people use in a phone browser: guest checkout by link/QR, invoice payment,
receipts, and the sandbox provider's approval page. Server-rendered, no JS framework."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote as quote_path

import segno
from fastapi import APIRouter, Form, Query, Request, Response
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates

from core import l10n
from core.billing.errors import BillingError
from core.invoicing import documents
from core.messaging.templates import kroner, kwh
from core.operator import Operator
from core.payments import guest, invoices
from core.payments.receipts import receipt, receipt_url, token_ok
from core.payments.service import Payments
from core.ports import PaymentDeclined
from core.sessions import driver
from core.sessions.costs import connector_quotes
from core.timeutil import utcnow
from payments.i18n import checkout_message, language, texts, unit_name
from payments.sandbox import SandboxBank

_HTML: dict[str, Any] = {"content": {"text/html": {}}}
PAGE: dict[int | str, dict[str, Any]] = {404: {"description": "unknown charger or link", **_HTML}}
FORM: dict[int | str, dict[str, Any]] = {
    303: {"description": "on to the payment page or back to the page"},
    404: {"description": "unknown charger or link", **_HTML},
    409: {"description": "cannot be done now (busy, offline, paid)", **_HTML},
}
PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {"application/pdf": {}}},
    404: {"description": "unknown or wrong link"},
}
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
Lang = Annotated[str | None, Query(alias="lang", pattern="^(nb|en)$")]


def switch_language_url(request: Request, lang: str, here: str | None = None) -> str:
    """This page in the other language, keeping every other query parameter (a receipt's
    access token, `pay=1`, ...). A page answering a POST switches to `here` (a GET page)."""
    other = "en" if lang == "nb" else "nb"
    if request.method == "GET":
        url = request.url.include_query_params(lang=other)
        return f"{url.path}?{url.query}"
    return f"{here or request.url.path}?lang={other}"


def pages_router(ctx: Payments, bank: SandboxBank | None) -> APIRouter:
    router = APIRouter(tags=["pages"])

    def _page(
        request: Request,
        name: str,
        lang: str,
        status: int = 200,
        *,
        here: str | None = None,
        **values: Any,
    ) -> HTMLResponse:
        operator = Operator.from_settings(ctx.settings)
        return templates.TemplateResponse(
            request,
            name,
            {
                "lang": lang,
                "t": texts(lang),
                "refresh": None,
                "operator": operator,
                "support": operator.phone_with_hours(lang),
                "switch_url": switch_language_url(request, lang, here),
                **values,
            },
            status_code=status,
        )

    def _message(
        request: Request, lang: str, title: str, message: str, status: int
    ) -> HTMLResponse:
        return _page(
            request, "message.html", lang, status, title=title, message=message, error=status >= 400
        )

    # ------------------------------------------------------------- guest checkout

    @router.get("/pay/{code}", response_class=HTMLResponse, responses=PAGE)
    async def pay_start(
        request: Request,
        code: str,
        lang: Lang = None,
        guest: bool = False,
        evse: Annotated[int | None, Query(ge=1, le=32)] = None,
    ) -> HTMLResponse:
        """The page a charger's QR code opens: status and full price before starting.
        A driver signed in to the app (in this browser) is sent to the app's charger page,
        unless they chose to pay as a guest (`?guest=1`). A connector's own sticker names
        it (`?evse=2`): that connector is chosen."""
        return await _start_page(request, code, language(lang), None, to_app=not guest, evse=evse)

    async def _start_page(
        request: Request,
        code: str,
        lang: str,
        error: str | None,
        to_app: bool = False,
        evse: int | None = None,
    ) -> HTMLResponse:
        t = texts(lang)
        async with ctx.sessions() as session:
            found = None
            if evse is not None:
                found = await guest.connector_for(session, code, evse)
            found = found or await guest.connector_for(session, code, None)
            if found is None:
                return _message(request, lang, t["not_found"], t["unknown_charger"], 404)
            charger, first = found
            charger_online = charger.online and ctx.commands.is_connected(charger.charge_point_id)
            connectors = sorted(charger.connectors, key=lambda c: (c.evse_id, c.connector_id))
            quotes = await connector_quotes(session, [c.id for c in connectors], None)
            site = ""
            if charger.site_id is not None:
                from core.models import Site

                site_row = await session.get(Site, charger.site_id)
                parts = [site_row.name, site_row.address] if site_row else []
                site = ", ".join(p for p in parts if p)
        quote = quotes.get(first.id)
        price_lines = []
        if quote is not None and quote.price_configured:
            for c in quote.components:
                label = c.description_en if lang == "en" else c.description_nb
                window = c.window_en if lang == "en" else c.window_nb
                if window:
                    label += f" ({window})"
                price = l10n.unit_price(c.unit_price_ore, lang)
                price_lines.append(
                    {"label": label, "price": f"{price} / {unit_name(c.unit, lang)}"}
                )
        return _page(
            request,
            "pay_start.html",
            lang,
            409 if error else 200,
            title=f"{t['charge_at']} {code}",
            code=code,
            app_page=f"/app/charger/{quote_path(charger.charge_point_id)}" if to_app else None,
            site=site,
            error=error,
            methods=ctx.methods,
            hold=kroner(ctx.settings.guest_hold_ore, lang),
            price_lines=price_lines,
            connectors=[
                {
                    "evse_id": c.evse_id,
                    "type": c.connector_type,
                    "max_kw": l10n.number(c.max_power_w / 1000, lang, max_decimals=1),
                    "status": c.status,
                    "checked": c.id == first.id,
                    "available": charger_online and c.status in driver.STARTABLE,
                }
                for c in connectors
            ],
        )

    @router.post("/pay/{code}", response_class=HTMLResponse, responses=FORM)
    async def pay_submit(
        request: Request,
        code: str,
        method: Annotated[str, Form(pattern="^(card|vipps)$")],
        evse: Annotated[int, Form(ge=1, le=32)],
        phone: Annotated[str, Form(max_length=20)] = "",
        email: Annotated[str, Form(max_length=254)] = "",
        lang: Annotated[str, Form(pattern="^(nb|en)$")] = "nb",
    ) -> Response:
        try:
            checkout = await guest.start_checkout(
                ctx,
                code,
                evse,
                method,
                phone=phone.strip() or None,
                email=email.strip() or None,
                language=lang,
            )
        except guest.GuestError as error:
            words = texts(lang)
            return await _start_page(
                request, code, lang, words.get(error.key, words["payment_not_started"])
            )
        except PaymentDeclined:
            return await _start_page(request, code, lang, texts(lang)["payment_declined"])
        return RedirectResponse(checkout.redirect_url, status_code=303)

    @router.get("/pay/c/{token}", response_class=HTMLResponse, responses=PAGE)
    async def pay_status(
        request: Request,
        token: str,
        lang: Lang = None,
        stopping: bool = False,
        stop_failed: bool = False,
    ) -> HTMLResponse:
        """The guest's live page (also where the payment provider sends them back).

        `stopping`: the guest pressed Stop and the charger took the command; until the
        charger reports the end, the page says it is stopping (not "charging")."""
        await guest.advance(ctx, token)
        v = await guest.view(ctx, token)
        lang = language(lang or (v.language if v else None))
        t = texts(lang)
        if v is None:
            return _message(request, lang, t["not_found"], t["unknown_link"], 404)
        elapsed = ""
        if v.started_at is not None:
            seconds = int(((v.stopped_at or utcnow()) - v.started_at).total_seconds())
            elapsed = f"{seconds // 3600}:{seconds % 3600 // 60:02d}"
        live = v.status in ("paying", "starting", "charging") and v.session_status != "completed"
        state = v.status
        if stopping and state == "charging" and v.session_status == "active":
            state = "stopping"
        return _page(
            request,
            "pay_status.html",
            lang,
            title=t["charge_at"],
            v=v,
            state=state,
            token=token,
            refresh=(3 if state == "stopping" else 5) if live else None,
            status_text=t.get(f"status_{state}", state),
            message=checkout_message(v.status, v.message, lang),
            stop_failed=stop_failed and v.session_status == "active",
            kwh=kwh(v.energy_wh, lang),
            cost=kroner(v.cost_ore, lang),
            kw=l10n.number((v.power_w or 0) / 1000, lang, decimals=1),
            max_kw=l10n.number(v.max_kw, lang, max_decimals=1),
            elapsed=elapsed,
            charged=kroner(v.captured_ore, lang),
            receipt_link=(
                receipt_url(ctx.settings, v.session_id) + f"&lang={lang}" if v.session_id else None
            ),
        )

    @router.post("/pay/c/{token}/stop", responses={303: {"description": "back to the page"}})
    async def pay_stop(token: str, lang: Lang = None) -> Response:
        problem = await guest.stop(ctx, token)
        suffix = f"?lang={language(lang)}&" + ("stop_failed=1" if problem else "stopping=1")
        return RedirectResponse(
            f"/pay/c/{token}{suffix}", status_code=303, headers={"X-Stop-Result": problem or "ok"}
        )

    @router.get(
        "/pay/{code}/qr.{fmt}", responses={200: {"content": {"image/svg+xml": {}, "image/png": {}}}}
    )
    async def pay_qr(code: str, fmt: Annotated[str, PathParam(pattern="^(svg|png)$")]) -> Response:
        """The QR code to print on a charger; it opens /pay/<code>."""
        return qr_response(ctx.settings.public_base_url, code, fmt)

    # ------------------------------------------------------------- invoices

    @router.get("/invoice/{token}", response_class=HTMLResponse, responses=PAGE)
    async def invoice_page(
        request: Request, token: str, lang: Lang = None, pay: bool = False
    ) -> HTMLResponse:
        """The invoice behind an SMS reminder's link, with a way to pay it."""
        return await _invoice_page(request, token, lang, pay, None)

    async def _invoice_page(
        request: Request, token: str, lang: str | None, pay: bool, error: str | None
    ) -> HTMLResponse:
        here = f"/invoice/{token}"
        v = await invoices.view(ctx, token)
        lang = language(lang or (v.language if v else None))
        t = texts(lang)
        if v is None:
            return _message(request, lang, t["not_found"], t["unknown_link"], 404)
        if v.paid:
            state = "paid"
        elif v.expired:
            state = "expired"
        elif v.payment_status == "authorized":
            state = "processing"
        else:
            state = "open"
        return _page(
            request,
            "invoice.html",
            lang,
            409 if error else 200,
            title=f"{t['invoice']} {v.number}",
            v=v,
            token=token,
            here=here,
            amount=kroner(v.to_pay_ore, lang),
            due=l10n.day(v.due_date, lang),
            state=state,
            show_methods=pay,
            methods=ctx.methods,
            error=error,
        )

    @router.post("/invoice/{token}/pay", response_class=HTMLResponse, responses=FORM)
    async def invoice_pay(
        request: Request,
        token: str,
        method: Annotated[str, Form(pattern="^(card|vipps)$")],
        lang: Lang = None,
    ) -> Response:
        try:
            redirect = await invoices.pay(ctx, token, method)
        except invoices.InvoiceLinkError as error:
            words = texts(language(lang))
            problem = words["already_paid"] if "paid" in str(error) else words["link_expired"]
            return await _invoice_page(request, token, lang, False, problem)
        return RedirectResponse(redirect, status_code=303)

    @router.get("/invoice/{token}/return", response_class=HTMLResponse, responses=PAGE)
    async def invoice_return(request: Request, token: str, lang: Lang = None) -> HTMLResponse:
        """Back from the payment page: fetch the outcome and show the confirmation."""
        await invoices.settle(ctx, token)
        return await _invoice_page(request, token, lang, False, None)

    # ------------------------------------------------------------- receipts

    @router.get("/receipts/{session_id}", response_class=HTMLResponse, responses=PAGE)
    async def receipt_page(
        request: Request, session_id: int, t: str = "", lang: Lang = None
    ) -> HTMLResponse:
        lang = language(lang)
        words = texts(lang)
        if not token_ok(ctx.settings, session_id, t):
            return _message(request, lang, words["not_found"], words["unknown_link"], 404)
        async with ctx.sessions() as session:
            r = await receipt(session, session_id)
        if r is None:
            return _message(request, lang, words["not_found"], words["unknown_link"], 404)
        lines = [
            {
                "text": x.description_en if lang == "en" else x.description_nb,
                "quantity": f"{l10n.number(x.quantity, lang, max_decimals=3)} "
                f"{unit_name(x.unit, lang)}",
                "unit_price": f"{l10n.unit_price(x.unit_price_incl_vat_ore, lang)} / "
                f"{unit_name(x.unit, lang)}",
                "total": kroner(x.total_ore, lang),
            }
            for x in r.lines
        ]
        issued = r.stopped_at or r.started_at
        return _page(
            request,
            "receipt.html",
            lang,
            title=f"{words['receipt']} {r.session_id}",
            r=r,
            lines=lines,
            date=l10n.day(issued, lang),
            period=f"{l10n.day(r.started_at, lang)} {l10n.clock(r.started_at, lang)}"
            + (f"\u2013{l10n.clock(r.stopped_at, lang)}" if r.stopped_at else ""),
            place=", ".join(p for p in (r.site_name, r.site_address) if p),
            kwh=kwh(r.energy_wh, lang),
            net=kroner(r.net_ore, lang),
            vat=kroner(r.vat_ore, lang),
            total=kroner(r.total_ore, lang),
            paid=kroner(r.paid_ore, lang),
            exported_kwh=kwh(r.energy_exported_wh, lang),
            v2g_credit=None if r.v2g_credit_ore is None else kroner(-r.v2g_credit_ore, lang),
            token=t,
        )

    # ------------------------------------------------------------- PDFs

    @router.get("/receipts/{session_id}/pdf", response_class=Response, responses=PDF)
    async def receipt_pdf(session_id: int, t: str = "") -> Response:
        """The receipt as a PDF (the link on the receipt page and in e-mails)."""
        if not token_ok(ctx.settings, session_id, t):
            return Response("unknown link", status_code=404)
        async with ctx.sessions() as session:
            doc = await documents.receipt_doc(session, session_id)
        if doc is None:
            return Response("unknown link", status_code=404)
        return _pdf(documents.receipt_pdf(doc), f"kvittering-{session_id}.pdf")

    @router.get("/invoice/{token}/pdf", response_class=Response, responses=PDF)
    async def invoice_link_pdf(token: str) -> Response:
        """The invoice behind a pay link (SMS reminder, e-mail) as a PDF."""
        v = await invoices.view(ctx, token)
        if v is None:
            return Response("unknown link", status_code=404)
        async with ctx.sessions() as session:
            detail, pdf = await documents.invoice_pdf_bytes(session, v.invoice_id)
        return _pdf(pdf, f"{documents.invoice_name(detail)}.pdf")

    @router.get("/invoices/{invoice_id}/pdf", response_class=Response, responses=PDF)
    async def invoice_pdf(invoice_id: int, t: str = "") -> Response:
        """An invoice as a PDF by its signed link (the app's invoice list)."""
        expected = documents.invoice_pdf_token(ctx.settings, invoice_id)
        if not documents.token_ok(expected, t):
            return Response("unknown link", status_code=404)
        async with ctx.sessions() as session:
            try:
                detail, pdf = await documents.invoice_pdf_bytes(session, invoice_id)
            except BillingError:
                return Response("unknown link", status_code=404)
        return _pdf(pdf, f"{documents.invoice_name(detail)}.pdf")

    # ------------------------------------------------------------- sandbox provider

    if bank is not None:

        @router.get("/sandbox/checkout/{ref}", response_class=HTMLResponse, include_in_schema=False)
        async def sandbox_page(request: Request, ref: str, lang: Lang = None) -> HTMLResponse:
            payment = bank.payments.get(ref)
            lang = language(lang or (payment.language if payment else None))
            if payment is None:
                words = texts(lang)
                return _message(request, lang, words["not_found"], words["unknown_link"], 404)
            return _page(
                request,
                "sandbox.html",
                lang,
                title="Sandbox",
                method="Vipps" if "vipps" in ref else texts(lang)["method_card"],
                description=payment.description,
                amount=kroner(payment.amount_ore, lang),
            )

        @router.post("/sandbox/checkout/{ref}", include_in_schema=False)
        async def sandbox_decide(
            ref: str, decision: Annotated[str, Form(pattern="^(approve|decline)$")]
        ) -> Response:
            payment = bank.payments.get(ref)
            if payment is None:
                return Response("unknown payment", status_code=404)
            bank.decide(ref, approve=decision == "approve")
            return RedirectResponse(payment.return_url, status_code=303)

    return router


def _pdf(data: bytes, filename: str) -> Response:
    return Response(
        data,
        media_type="application/pdf",
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


def qr_response(base_url: str, code: str, fmt: str) -> Response:
    qr = segno.make(f"{base_url.rstrip('/')}/pay/{code}", error="m")
    buffer = io.BytesIO()
    if fmt == "svg":
        qr.save(buffer, kind="svg", scale=8, border=2)
        return Response(buffer.getvalue(), media_type="image/svg+xml")
    qr.save(buffer, kind="png", scale=8, border=2)
    return Response(buffer.getvalue(), media_type="image/png")
