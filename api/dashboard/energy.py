"""Page 2, Energy and cost for any period: a free date range or a preset (month, quarter,
year), summed per driver, group, site, company or for the whole facility, a chart per day,
week or month, and the same sums as CSV and XLSX (core.orgs.energy, scoped by core.orgs)."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from openpyxl import Workbook

from api.dashboard.base import DashboardServices, Db, Person, language, render
from api.dashboard.history import Filters, as_id, choices
from api.dashboard.i18n import Words
from core.models import Organisation
from core.orgs import energy
from core.orgs import repository as repo
from core.orgs.fleet import SessionFilter
from core.orgs.scope import Actor
from core.orgs.sqltime import STEPS
from core.timeutil import OSLO, utcnow

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class EnergyFilters(Filters):
    """The history filters, plus organisation, grouping and chart step; a period always
    (this month unless asked)."""

    def __init__(
        self,
        filters: Annotated[Filters, Depends()],
        org: Annotated[str | None, Query(max_length=12)] = None,
        by: Annotated[str | None, Query(max_length=12)] = None,
        step: Annotated[str | None, Query(max_length=8)] = None,
    ) -> None:
        self.__dict__.update(filters.__dict__)
        self.org = as_id(org)
        self.by = by if by in energy.BY else "facility"
        self.step = step if step in STEPS else "day"
        if self.start is None and self.end is None:
            self.start, self.end = energy.presets(utcnow().astimezone(OSLO).date())["this_month"]
        elif self.start is None:
            self.start = self.end
        elif self.end is None:
            self.end = self.start

    async def session_filter(self, db: Any, actor: Actor) -> SessionFilter:
        f = await super().session_filter(db, actor)
        if self.org is not None:
            await repo.get_organisation(db, actor, self.org)
        return SessionFilter(**{**f.__dict__, "status": None, "organisation_id": self.org})

    def query(self, **more: Any) -> str:
        values = {"org": self.org, "by": self.by, "step": self.step, **more}
        return super().query(**values)

    def preset_url(self, start: date, end: date) -> str:
        return "?" + self.query(**{"from": start.isoformat(), "to": end.isoformat()})


def label_of(t: Words, by: str, row: energy.EnergySum) -> str:
    """A row's name as shown: the blanks say what they are."""
    if by == "facility":
        return t.whole_facility
    if row.label:
        return row.label
    return {"driver": t.other_drivers, "company": t.no_company, "site": t.no_site}.get(by, row.key)


def series_labels(t: Words, view: energy.EnergyView) -> list[str]:
    out = []
    for key, label, _ in view.chart.series:
        if view.by == "facility":
            out.append(t.energy_kwh)
        elif key is None:
            out.append(t.others)
        else:
            out.append(label_of(t, view.by, energy.EnergySum(key, label, 0, 0, 0, 0)))
    return out


def shown_rows(t: Words, view: energy.EnergyView) -> list[tuple[str, energy.EnergySum]]:
    """The rows of an export with their names, and the total last (the only one for the
    whole facility)."""
    if view.by == "facility":
        return [(t.whole_facility, view.total)]
    return [(label_of(t, view.by, r), r) for r in view.rows] + [(t.total, view.total)]


def _kr(ore: int) -> float:
    return round(ore / 100, 2)


def csv_text(t: Words, view: energy.EnergyView) -> str:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";", lineterminator="\r\n")
    writer.writerow(["key", view.by, "sessions", "kwh", "net_nok", "vat_nok", "total_nok"])

    def dec(value: float, places: int) -> str:
        return f"{value:.{places}f}".replace(".", ",")

    for row in [*view.rows, view.total] if view.by != "facility" else [view.total]:
        shown = (
            t.total if row is view.total and view.by != "facility" else label_of(t, view.by, row)
        )
        writer.writerow(
            [
                row.key,
                shown,
                row.sessions,
                dec(row.energy_wh / 1000, 3),
                dec(row.net_ore / 100, 2),
                dec(row.vat_ore / 100, 2),
                dec(row.cost_ore / 100, 2),
            ]
        )
    return "\ufeff" + out.getvalue()


def xlsx_bytes(t: Words, view: energy.EnergyView) -> bytes:
    """Two sheets: the sums per key, and the whole selection per day, week or month."""
    book = Workbook(write_only=True)
    sums = book.create_sheet(t.energy[:31])
    sums.append([f"{t.period}: {view.start.isoformat()} - {view.end.isoformat()}"])
    sums.append([t(f"by_{view.by}"), t.sessions, "kWh", t.net_nok, t.vat_nok, t.total_nok])
    rows = [*view.rows, view.total] if view.by != "facility" else [view.total]
    for row in rows:
        shown = (
            t.total if row is view.total and view.by != "facility" else label_of(t, view.by, row)
        )
        sums.append(
            [
                shown,
                row.sessions,
                round(row.energy_wh / 1000, 3),
                _kr(row.net_ore),
                _kr(row.vat_ore),
                _kr(row.cost_ore),
            ]
        )
    per = book.create_sheet(t(f"per_{view.step}")[:31])
    per.append([t(f"step_{view.step}"), t.sessions, "kWh", t.total_nok])
    chart = view.chart
    for at, n, wh, cost in zip(
        chart.buckets, chart.sessions, chart.energy_wh, chart.cost_ore, strict=True
    ):
        per.append([at, n, round(wh / 1000, 3), _kr(cost)])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _filename(view: energy.EnergyView, ext: str) -> str:
    return f"energi-{view.start.isoformat()}-{view.end.isoformat()}-{view.by}.{ext}"


def routes(router: APIRouter, ctx: DashboardServices) -> None:
    async def sums(db: Db, staff: Any, filters: EnergyFilters) -> energy.EnergyView:
        f = await filters.session_filter(db, staff.actor)
        return await energy.energy(db, staff.actor, f, by=filters.by, step=filters.step)

    @router.get("/energy", response_class=HTMLResponse)
    async def energy_page(
        request: Request, db: Db, staff: Person, filters: Annotated[EnergyFilters, Depends()]
    ) -> Response:
        view = await sums(db, staff, filters)
        t = Words(language(request))
        today = utcnow().astimezone(OSLO).date()
        orgs = list(
            (
                await db.execute(repo.organisations_query(staff.actor).order_by(Organisation.name))
            ).scalars()
        )
        return render(
            request,
            ctx,
            "energy.html",
            staff,
            title_key="energy",
            view=view,
            filters=filters,
            labels=[label_of(t, view.by, r) for r in view.rows],
            chart=orjson.dumps(
                view.chart.spec(series_labels(t, view), t(f"step_{view.step}"))
            ).decode(),
            presets=[
                (name, filters.preset_url(start, end), (start, end) == (view.start, view.end))
                for name, (start, end) in energy.presets(today).items()
            ],
            orgs=orgs,
            csv_url=f"{ctx.base}/energy.csv?{filters.query()}",
            xlsx_url=f"{ctx.base}/energy.xlsx?{filters.query()}",
            **await choices(db, staff.actor),
        )

    @router.get("/energy.csv")
    async def energy_csv(
        request: Request, db: Db, staff: Person, filters: Annotated[EnergyFilters, Depends()]
    ) -> Response:
        view = await sums(db, staff, filters)
        return Response(
            csv_text(Words(language(request)), view),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{_filename(view, "csv")}"'},
        )

    @router.get("/energy.xlsx")
    async def energy_xlsx(
        request: Request, db: Db, staff: Person, filters: Annotated[EnergyFilters, Depends()]
    ) -> Response:
        view = await sums(db, staff, filters)
        return Response(
            xlsx_bytes(Words(language(request)), view),
            media_type=XLSX,
            headers={"Content-Disposition": f'attachment; filename="{_filename(view, "xlsx")}"'},
        )
