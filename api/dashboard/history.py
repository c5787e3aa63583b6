"""Page 3, Charging history: filters, paging, a session's detail with its meter curve and
price breakdown, and a CSV export of everything the filters match (scoped by core.orgs)."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator
from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from api.dashboard.base import DashboardServices, Db, Person, render
from core.models import Charger, SettlementState, Site
from core.orgs import history, support
from core.orgs import repository as repo
from core.orgs.fleet import SessionFilter
from core.orgs.paging import CURSOR_PATTERN
from core.orgs.scope import Actor
from core.timeutil import OSLO

INT32 = 2**31 - 1
# Filter forms send empty fields: every filter is read leniently (empty or malformed = none).
Text = Annotated[str | None, Query(max_length=40)]


def as_id(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() and 1 <= int(value) <= INT32 else None


def as_date(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


STATUSES = ("active", "suspended", "completed", "failed", "starting")


class Filters:
    """The history filters, from the query string (also used by the energy page)."""

    def __init__(
        self,
        site: Text = None,
        charger: Text = None,
        driver: Text = None,
        group: Text = None,
        status: Text = None,
        payment: Text = None,
        start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    ) -> None:
        self.site, self.charger, self.driver = as_id(site), as_id(charger), as_id(driver)
        self.group = group.strip() if group and group.strip() else None
        self.status = status if status in STATUSES else None
        self.payment = payment if payment in {s.value for s in SettlementState} else None
        self.start, self.end = as_date(start), as_date(end)

    async def session_filter(self, db: Any, actor: Actor) -> SessionFilter:
        # Naming another organisation's site, charger or driver is "not found".
        if self.site is not None:
            await repo.get_site(db, actor, self.site)
        if self.charger is not None:
            await repo.get_charger(db, actor, self.charger)
        if self.driver is not None:
            await repo.get_driver(db, actor, self.driver)
        start, end = history.period(self.start, self.end)
        return SessionFilter(
            site_id=self.site,
            charger_id=self.charger,
            driver_id=self.driver,
            group=self.group,
            status=self.status,
            start=start,
            end=end,
            payment_state=self.payment,
        )

    def query(self, **more: Any) -> str:
        values = {
            "site": self.site,
            "charger": self.charger,
            "driver": self.driver,
            "group": self.group,
            "status": self.status,
            "payment": self.payment,
            "from": self.start.isoformat() if self.start else None,
            "to": self.end.isoformat() if self.end else None,
            **more,
        }
        from urllib.parse import urlencode

        return urlencode({k: v for k, v in values.items() if v not in (None, "")})


async def choices(db: Any, actor: Actor) -> dict[str, Any]:
    sites = await db.execute(
        repo.sites_query(actor).with_only_columns(Site.id, Site.name).order_by(Site.name)
    )
    chargers = await db.execute(
        repo.chargers_query(actor)
        .with_only_columns(Charger.id, Charger.charge_point_id)
        .order_by(Charger.charge_point_id)
    )
    return {"sites": [tuple(r) for r in sites], "chargers": [tuple(r) for r in chargers]}


CSV_COLUMNS = (
    "session",
    "started",
    "stopped",
    "site",
    "charger",
    "connector",
    "driver",
    "tag",
    "group",
    "status",
    "payment",
    "kwh",
    "cost_nok",
)


def csv_lines(rows: list[history.HistoryRow]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    for r in rows:
        writer.writerow(
            [
                r.id,
                r.started_at.astimezone(OSLO).isoformat(timespec="minutes"),
                r.stopped_at.astimezone(OSLO).isoformat(timespec="minutes") if r.stopped_at else "",
                r.site,
                r.charger,
                r.evse_id or "",
                r.driver,
                r.id_token or "",
                r.group,
                r.status,
                r.payment_state,
                f"{r.energy_wh / 1000:.3f}".replace(".", ","),
                "" if r.cost_ore is None else f"{r.cost_ore / 100:.2f}".replace(".", ","),
            ]
        )
    return out.getvalue()


def routes(router: APIRouter, ctx: DashboardServices) -> None:
    @router.get("/history", response_class=HTMLResponse)
    async def history_page(
        request: Request,
        db: Db,
        staff: Person,
        filters: Annotated[Filters, Depends()],
        cursor: Annotated[str | None, Query(pattern=CURSOR_PATTERN)] = None,
    ) -> Response:
        f = await filters.session_filter(db, staff.actor)
        rows, next_cursor = await history.history_page(db, staff.actor, f, cursor)
        sums = await history.totals(db, staff.actor, f)
        return render(
            request,
            ctx,
            "history.html",
            staff,
            title_key="history",
            rows=rows,
            sums=sums,
            filters=filters,
            next_url=f"?{filters.query(cursor=next_cursor)}" if next_cursor else None,
            first_url=f"?{filters.query()}" if cursor else None,
            export_url=f"{ctx.base}/history.csv?{filters.query()}",
            statuses=STATUSES,
            payments=[s.value for s in SettlementState],
            **await choices(db, staff.actor),
        )

    @router.get("/history.csv")
    async def history_csv(
        db: Db, staff: Person, filters: Annotated[Filters, Depends()]
    ) -> Response:
        f = await filters.session_filter(db, staff.actor)
        actor = staff.actor

        async def body() -> AsyncIterator[str]:
            yield "\ufeff" + ";".join(CSV_COLUMNS) + "\r\n"
            async with ctx.sessions() as own:
                async for chunk in history.export(own, actor, f):
                    yield csv_lines(chunk)

        return StreamingResponse(
            body(),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="ladehistorikk.csv"'},
        )

    @router.get("/history/{session_id}", response_class=HTMLResponse)
    async def session_page(request: Request, db: Db, staff: Person, session_id: int) -> Response:
        if not 1 <= session_id <= INT32:
            session_id = 0
        detail = await history.session_detail(db, staff.actor, session_id)
        return render(
            request,
            ctx,
            "session.html",
            staff,
            title_key="history",
            d=detail,
            chart=orjson.dumps(detail.chart()).decode(),
            notes=await support.notes(db, staff.actor, session_id=detail.session.id),
            flash=request.query_params,
        )
