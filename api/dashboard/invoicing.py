"""Page 9, Invoicing (the operator's staff): the schedule, a preview of a month's invoices,
a run with live progress, the invoices with paid and credit notes, CSV export and each
invoice's PDF (core.orgs.invoicing over core.billing and core.invoicing; audited)."""

from __future__ import annotations

import csv
import io
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dashboard.base import DashboardServices, Db, Person, render
from api.dashboard.history import as_date
from core.billing.periods import PeriodError, month_of, previous_period
from core.billing.schemas import InvoiceSummary
from core.invoicing.documents import invoice_name, invoice_pdf_bytes
from core.orgs import invoicing
from core.orgs.errors import OrgError
from core.timeutil import OSLO, utcnow

INT32 = 2**31 - 1
Month = Annotated[str | None, Query(max_length=7)]


def _id(value: int) -> int:
    return value if 1 <= value <= INT32 else 0


def _month(text: str | None) -> str | None:
    try:
        return month_of(text) if text else None
    except PeriodError:
        return None


def _back(ctx: DashboardServices, path: str, **flash: str) -> Response:
    return RedirectResponse(f"{ctx.base}{path}?{urlencode(flash)}", status_code=303)


def csv_text(rows: list[InvoiceSummary]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(
        [
            "number",
            "period",
            "customer",
            "issue_date",
            "due_date",
            "kid",
            "status",
            "net_nok",
            "vat_nok",
            "total_nok",
            "credited_nok",
            "paid_at",
        ]
    )

    def kr(ore: int) -> str:
        return f"{ore / 100:.2f}".replace(".", ",")

    for r in rows:
        writer.writerow(
            [
                r.number,
                r.period,
                r.buyer_name,
                r.issue_date.isoformat(),
                r.due_date.isoformat(),
                r.kid,
                r.status,
                kr(r.net_ore),
                kr(r.vat_ore),
                kr(r.total_ore),
                kr(r.credited_ore),
                r.paid_at.astimezone(OSLO).isoformat(timespec="minutes") if r.paid_at else "",
            ]
        )
    return "\ufeff" + out.getvalue()


def routes(router: APIRouter, ctx: DashboardServices) -> None:
    runs = invoicing.Runs(ctx.sessions)

    @router.get("/invoicing", response_class=HTMLResponse)
    async def invoicing_page(
        request: Request,
        db: Db,
        staff: Person,
        period: Month = None,
        status: Annotated[str | None, Query(max_length=12)] = None,
    ) -> Response:
        actor = staff.actor
        schedules, recent = await invoicing.overview(db, actor)
        shown = _month(period)
        rows = await invoicing.invoices(db, actor, period=shown, status=status)
        query = urlencode({k: v for k, v in {"period": shown, "status": status}.items() if v})
        return render(
            request,
            ctx,
            "invoicing.html",
            staff,
            title_key="invoicing",
            schedules=schedules,
            schedule=schedules[0] if schedules else None,
            runs=recent,
            rows=rows[:500],
            more=len(rows) > 500,
            period=shown,
            status_filter=status,
            statuses=invoicing.STATUSES,
            default_period=previous_period(),
            csv_url=f"{ctx.base}/invoicing.csv?{query}",
            flash=request.query_params,
        )

    @router.get("/invoicing.csv")
    async def invoicing_csv(
        db: Db,
        staff: Person,
        period: Month = None,
        status: Annotated[str | None, Query(max_length=12)] = None,
    ) -> Response:
        rows = await invoicing.invoices(db, staff.actor, period=_month(period), status=status)
        name = f"fakturaer-{_month(period) or 'alle'}.csv"
        return Response(
            csv_text(rows),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @router.get("/invoicing/preview", response_class=HTMLResponse)
    async def preview(
        request: Request,
        db: Db,
        staff: Person,
        period: Annotated[str, Query(max_length=7)],
        due_days: Annotated[str | None, Query(max_length=3)] = None,
    ) -> Response:
        days = int(due_days) if due_days and due_days.isdigit() else None
        try:
            result = await invoicing.preview(db, staff.actor, period, days)
        except OrgError as error:
            if error.status in (403, 404):
                raise
            return _back(ctx, "/invoicing", error=error.message)
        return render(
            request,
            ctx,
            "invoicing_preview.html",
            staff,
            title_key="invoicing",
            result=result,
            due_days=due_days or "",
        )

    @router.post("/invoicing/runs")
    async def start_run(
        staff: Person,
        period: Annotated[str, Form(max_length=7)],
        due_days: Annotated[str, Form(max_length=3)] = "",
        force: Annotated[str, Form(max_length=3)] = "",
    ) -> Response:
        try:
            run_id = await runs.start(
                staff.actor,
                period,
                due_days=int(due_days) if due_days.isdigit() else None,
                force=force == "yes",
            )
        except OrgError as error:
            if error.status in (403, 404):
                raise
            return _back(ctx, "/invoicing", error=error.message)
        return RedirectResponse(f"{ctx.base}/invoicing/runs/{run_id}", status_code=303)

    async def run_values(db: Db, staff: Person, run_id: int) -> dict[str, Any]:
        state = await runs.state(db, staff.actor, _id(run_id))
        share = state.done / state.total if state.total else (1.0 if state.status == "done" else 0)
        return {"run": state, "share": share}

    @router.get("/invoicing/runs/{run_id}", response_class=HTMLResponse)
    async def run_page(request: Request, db: Db, staff: Person, run_id: int) -> Response:
        return render(
            request,
            ctx,
            "invoicing_run.html",
            staff,
            title_key="invoicing",
            **await run_values(db, staff, run_id),
        )

    @router.get("/invoicing/runs/{run_id}/progress", response_class=HTMLResponse)
    async def run_progress(request: Request, db: Db, staff: Person, run_id: int) -> Response:
        return render(
            request, ctx, "_run_progress.html", staff, **await run_values(db, staff, run_id)
        )

    @router.get("/invoicing/{invoice_id}.pdf")
    async def invoice_pdf(db: Db, staff: Person, invoice_id: int) -> Response:
        detail = await invoicing.invoice(db, staff.actor, _id(invoice_id))
        _, pdf = await invoice_pdf_bytes(db, detail.id)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={"Content-Disposition": f'inline; filename="{invoice_name(detail)}.pdf"'},
        )

    @router.get("/invoicing/{invoice_id}", response_class=HTMLResponse)
    async def invoice_page(request: Request, db: Db, staff: Person, invoice_id: int) -> Response:
        detail = await invoicing.invoice(db, staff.actor, _id(invoice_id))
        return render(
            request,
            ctx,
            "invoice.html",
            staff,
            title_key="invoicing",
            d=detail,
            today=utcnow().astimezone(OSLO).date(),
            flash=request.query_params,
        )

    @router.post("/invoicing/{invoice_id}/paid")
    async def paid(
        db: Db,
        staff: Person,
        invoice_id: int,
        paid_on: Annotated[str, Form(max_length=10)] = "",
    ) -> Response:
        where = f"/invoicing/{invoice_id}"
        try:
            summary = await invoicing.mark_paid(
                db,
                staff.actor,
                _id(invoice_id),
                as_date(paid_on) or utcnow().astimezone(OSLO).date(),
            )
        except OrgError as error:
            if error.status in (403, 404):
                raise
            return _back(ctx, where, error=error.message)
        return _back(ctx, where, ok=f"{summary.number}")

    @router.post("/invoicing/{invoice_id}/credit")
    async def credit(
        request: Request,
        db: Db,
        staff: Person,
        invoice_id: int,
        reason: Annotated[str, Form(max_length=200)],
    ) -> Response:
        where = f"/invoicing/{invoice_id}"
        form = await request.form()
        lines = [int(v) for v in form.getlist("line") if isinstance(v, str) and v.isdigit()]
        try:
            note = await invoicing.credit(
                db, staff.actor, _id(invoice_id), reason, [x for x in lines if x <= INT32] or None
            )
        except OrgError as error:
            if error.status in (403, 404):
                raise
            return _back(ctx, where, error=error.message)
        return _back(ctx, where, ok=f"{note.number}")

    @router.post("/invoicing/schedule")
    async def set_schedule(
        db: Db,
        staff: Person,
        day_of_month: Annotated[int, Form(ge=1, le=28)],
        hour: Annotated[int, Form(ge=0, le=23)],
        due_days: Annotated[str, Form(max_length=3)] = "",
        enabled: Annotated[str, Form(max_length=3)] = "",
    ) -> Response:
        try:
            await invoicing.set_schedule(
                db,
                staff.actor,
                day_of_month=day_of_month,
                hour=hour,
                due_days=int(due_days) if due_days.isdigit() else None,
                enabled=enabled == "yes",
            )
        except OrgError as error:
            if error.status in (403, 404):
                raise
            return _back(ctx, "/invoicing", error=error.message)
        return _back(ctx, "/invoicing", ok="schedule")
