"""Page 4, Cost sharing: a site's electricity bill for a month split by metered energy
(core.orgs.sharing over core.billing.sharing, as `ladeflyt share-bill`): preview, publish
(audited), the history of published splits, and each as CSV."""

from __future__ import annotations

import csv
import io
import re
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dashboard.base import DashboardServices, Db, Person, language, render
from api.dashboard.history import as_id
from api.dashboard.i18n import Words
from core.billing.periods import previous_period
from core.models import Site
from core.orgs import repository as repo
from core.orgs import sharing
from core.orgs.errors import OrgError
from core.orgs.support import ore_from_text

INT32 = 2**31 - 1


def share_name(t: Words, share: sharing.Share) -> str:
    if share.user_id is None:
        return t.unknown_tags
    return share.name or t.not_a_member


def csv_text(t: Words, split: sharing.Split) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["site", "period", "driver_id", "name", "kwh", "share_nok"])
    for s in split.shares:
        writer.writerow(
            [
                split.site.name,
                split.period,
                s.user_id or "",
                share_name(t, s),
                f"{s.energy_wh / 1000:.3f}".replace(".", ","),
                f"{s.amount_ore / 100:.2f}".replace(".", ","),
            ]
        )
    return "\ufeff" + out.getvalue()


def routes(router: APIRouter, ctx: DashboardServices) -> None:
    async def page(request: Request, db: Db, staff: Person, **values: Any) -> HTMLResponse:
        actor = staff.actor
        sites = list((await db.execute(repo.sites_query(actor).order_by(Site.name))).scalars())
        return render(
            request,
            ctx,
            "sharing.html",
            staff,
            title_key="sharing",
            sites=sites,
            history=await sharing.history(db, actor),
            flash=request.query_params,
            **{"form": {"site": None, "period": previous_period(), "amount": ""}, **values},
        )

    @router.get("/sharing", response_class=HTMLResponse)
    async def sharing_page(request: Request, db: Db, staff: Person) -> Response:
        return await page(request, db, staff)

    @router.get("/sharing/preview", response_class=HTMLResponse)
    async def preview(
        request: Request,
        db: Db,
        staff: Person,
        site: Annotated[str, Query(max_length=12)],
        period: Annotated[str, Query(max_length=7)],
        amount: Annotated[str, Query(max_length=20)],
    ) -> Response:
        form = {"site": as_id(site), "period": period, "amount": amount}
        site_id = as_id(site) or 0
        try:
            split = await sharing.preview(db, staff.actor, site_id, period, ore_from_text(amount))
        except OrgError as error:
            if error.status == 404:
                raise
            return await page(request, db, staff, form=form, error=error.message)
        published = await sharing.history(db, staff.actor, site_id)
        return await page(
            request,
            db,
            staff,
            form=form,
            split=split,
            already=any(p.period == split.period for p in published),
        )

    @router.post("/sharing")
    async def publish(
        db: Db,
        staff: Person,
        site: Annotated[int, Form()],
        period: Annotated[str, Form(max_length=7)],
        amount: Annotated[str, Form(max_length=20)],
        replace: Annotated[str, Form(max_length=3)] = "",
    ) -> Response:
        try:
            split = await sharing.publish(
                db,
                staff.actor,
                site if 1 <= site <= INT32 else 0,
                period,
                ore_from_text(amount),
                replace=replace == "yes",
            )
        except OrgError as error:
            if error.status == 404:
                raise
            query = urlencode({"site": site, "period": period, "amount": amount})
            return RedirectResponse(
                f"{ctx.base}/sharing/preview?{query}&{urlencode({'error': error.message})}",
                status_code=303,
            )
        return RedirectResponse(
            f"{ctx.base}/sharing/{split.bill_id}?{urlencode({'ok': split.period})}",
            status_code=303,
        )

    @router.get("/sharing/{bill_id}.csv")
    async def bill_csv(request: Request, db: Db, staff: Person, bill_id: int) -> Response:
        split = await sharing.published(db, staff.actor, bill_id if 1 <= bill_id <= INT32 else 0)
        place = re.sub(r"[^A-Za-z0-9]+", "-", split.site.name).strip("-")
        name = f"kostnadsdeling-{place}-{split.period}.csv"
        return Response(
            csv_text(Words(language(request)), split),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}"'},
        )

    @router.get("/sharing/{bill_id}", response_class=HTMLResponse)
    async def bill_page(request: Request, db: Db, staff: Person, bill_id: int) -> Response:
        split = await sharing.published(db, staff.actor, bill_id if 1 <= bill_id <= INT32 else 0)
        return render(
            request,
            ctx,
            "sharing_bill.html",
            staff,
            title_key="sharing",
            split=split,
            flash=request.query_params,
        )
