"""Page 10, Chargers: the register with location, uptime and faults per charger and site;
add one, import many from CSV (core.chargers.admin, as `ladeflyt charger import`); a
charger's detail with its location, fault history and remote commands; QR stickers of each
connector's pay link as a print-ready page and a PDF. Scoped and audited by core."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fpdf import FPDF
from markupsafe import Markup

from api.dashboard.base import DashboardServices, Db, Person, language, render
from api.dashboard.history import as_date, as_id
from api.dashboard.support import _outcome
from core.billing.pdf import latin1
from core.chargers import admin
from core.chargers.service import ChargerError
from core.models import Organisation, Site
from core.operator import Operator
from core.orgs import chargers, uptime
from core.orgs import repository as repo
from core.orgs.errors import OrgError
from core.orgs.history import period
from core.orgs.scope import Access, Actor
from core.timeutil import OSLO, utcnow

MAX_UPLOAD = 5 * 1024 * 1024
INT32 = 2**31 - 1
DAYS = 30  # the period shown unless asked


@dataclass(frozen=True)
class Period:
    start: date
    end: date  # inclusive

    @classmethod
    def read(cls, start: str | None, end: str | None) -> Period:
        today = utcnow().astimezone(OSLO).date()
        last = as_date(end) or today
        first = as_date(start) or last - timedelta(days=DAYS - 1)
        return cls(min(first, last), last)

    def bounds(self) -> tuple[datetime, datetime]:
        begin, finish = period(self.start, self.end)
        assert begin is not None and finish is not None
        return begin, finish

    def query(self) -> str:
        return urlencode({"from": self.start.isoformat(), "to": self.end.isoformat()})


Day = Annotated[str | None, Query(max_length=10)]


def _id(value: int) -> int:
    return value if 1 <= value <= INT32 else 0


def _back(ctx: DashboardServices, path: str, **flash: str) -> Response:
    return RedirectResponse(f"{ctx.base}{path}?{urlencode(flash)}", status_code=303)


async def _orgs_for_new_sites(db: Db, actor: Actor) -> list[tuple[str, str]]:
    """(value, name) of where sites an import names but that do not exist may be made."""
    orgs = [
        (str(o.id), o.name)
        for o in (
            await db.execute(
                repo.organisations_query(actor)
                .where(actor.org_filter(Organisation.id, Access.WRITE))
                .order_by(Organisation.name)
            )
        ).scalars()
    ]
    return ([("", "")] if actor.everywhere(Access.OPERATOR) else []) + orgs


def _float(text: str) -> float | None:
    text = text.strip().replace(",", ".")
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise ChargerError(f"not a number: {text!r}") from None


# --------------------------------------------------------------------------- stickers


def qr_svg(url: str) -> Markup:
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=5, border=2, svgclass="qr-code")
    svg = out.getvalue().decode()
    return Markup(svg[svg.index("<svg") :])


def stickers_pdf(items: list[chargers.Sticker], operator: str, lang: str) -> bytes:
    """A4, six stickers a page (2 x 3), each with the code, connector, QR code and link."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(False)
    pdf.set_title(latin1(f"{operator} QR"))
    width, height = 95.0, 90.0
    for i, s in enumerate(items):
        if i % 6 == 0:
            pdf.add_page()
        col, row = i % 2, (i % 6) // 2
        x, y = 10 + col * width, 10 + row * height
        pdf.set_draw_color(160, 160, 160)
        pdf.rect(x, y, width - 5, height - 5)
        pdf.set_xy(x + 4, y + 4)
        pdf.set_font("Helvetica", "B", 14)
        head = "Lad her" if lang == "nb" else "Charge here"
        pdf.cell(width - 13, 7, latin1(f"{head}: {s.code}"))
        pdf.set_xy(x + 4, y + 11)
        pdf.set_font("Helvetica", "", 11)
        word = "Kontakt" if lang == "nb" else "Connector"
        pdf.cell(
            width - 13, 6, latin1(f"{word} {s.evse_id} · {s.connector_type} · {s.max_kw:g} kW")
        )
        png = io.BytesIO()
        segno.make(s.url, error="m").save(png, kind="png", scale=8, border=2)
        png.seek(0)
        pdf.image(png, x=x + (width - 5 - 52) / 2, y=y + 19, w=52, h=52)
        pdf.set_xy(x + 4, y + 73)
        pdf.set_font("Helvetica", "", 7)
        pdf.cell(width - 13, 4, latin1(s.url), align="C")
        pdf.set_xy(x + 4, y + 78)
        pdf.cell(width - 13, 4, latin1(f"{operator} · {s.site}"), align="C")
    if not items:
        pdf.add_page()
    return bytes(pdf.output())


# --------------------------------------------------------------------------- routes


def routes(router: APIRouter, ctx: DashboardServices) -> None:
    async def page_values(db: Db, actor: Actor, site: int | None, shown: Period) -> dict[str, Any]:
        start, end = shown.bounds()
        rows = await chargers.charger_rows(db, actor, start, end, site)
        sites = list((await db.execute(repo.sites_query(actor).order_by(Site.name))).scalars())
        return {
            "rows": rows,
            "site_uptimes": chargers.site_uptimes(rows),
            "sites": sites,
            "writable_sites": await chargers.writable_sites(db, actor),
            "orgs_for_sites": await _orgs_for_new_sites(db, actor),
            "site_filter": site,
            "shown": shown,
            "connector_types": ("Type2", "CCS", "CHAdeMO", "Type1", "Schuko"),
        }

    @router.get("/chargers", response_class=HTMLResponse)
    async def chargers_page(
        request: Request,
        db: Db,
        staff: Person,
        site: Annotated[str | None, Query(max_length=12)] = None,
        start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    ) -> Response:
        values = await page_values(db, staff.actor, as_id(site), Period.read(start, end))
        return render(
            request,
            ctx,
            "chargers.html",
            staff,
            title_key="chargers",
            flash=request.query_params,
            **values,
        )

    @router.post("/chargers")
    async def add_charger(
        db: Db,
        staff: Person,
        site: Annotated[int, Form()],
        charge_point_id: Annotated[str, Form(max_length=48)],
        connectors: Annotated[int, Form(ge=1, le=32)] = 1,
        max_kw: Annotated[str, Form(max_length=10)] = "22",
        connector_type: Annotated[str, Form(max_length=20)] = "Type2",
        public_code: Annotated[str, Form(max_length=48)] = "",
        password: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        try:
            place = await repo.get_site(db, staff.actor, _id(site))
            kw = _float(max_kw) or 22.0
            if not 1 <= kw <= 1000:
                raise ChargerError(f"max kW {kw:g} is not between 1 and 1000")
            added = await admin.add_charger(
                db,
                staff.actor,
                admin.NewCharger(
                    charge_point_id=charge_point_id.strip(),
                    site=place.name,
                    connectors=connectors,
                    max_power_w=round(kw * 1000),
                    connector_type=connector_type.strip() or "Type2",
                    password=password or None,
                    public_code=public_code.strip() or None,
                ),
            )
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, "/chargers", error=error.message)
        except ChargerError as error:
            return _back(ctx, "/chargers", error=str(error))
        return _back(ctx, f"/chargers/{added.id}", ok=added.charge_point_id)

    @router.post("/chargers/import", response_class=HTMLResponse)
    async def import_chargers(
        request: Request,
        db: Db,
        staff: Person,
        file: Annotated[UploadFile, File()],
        organisation: Annotated[str, Form(max_length=12)] = "",
    ) -> Response:
        data = await file.read(MAX_UPLOAD + 1)
        report: list[admin.Rejected] | None = None
        total = 0
        error = None
        if len(data) > MAX_UPLOAD:
            error = "the file is larger than 5 MB"
        else:
            try:
                rows = admin.read_csv(data.decode("utf-8-sig", errors="replace"))
                total = len(rows)
                report = await admin.import_batch(
                    db, staff.actor, rows, organisation_id=as_id(organisation)
                )
            except ChargerError as exc:
                error = str(exc)
        values = await page_values(db, staff.actor, None, Period.read(None, None))
        return render(
            request,
            ctx,
            "chargers.html",
            staff,
            title_key="chargers",
            flash={},
            report=report,
            report_total=total,
            import_error=error,
            **values,
        )

    async def sticker_items(
        db: Db, staff: Any, site: str | None, charger: str | None
    ) -> list[chargers.Sticker]:
        return await chargers.stickers(
            db,
            staff.actor,
            ctx.settings.public_base_url,
            site_id=as_id(site),
            charger_id=as_id(charger),
        )

    @router.get("/chargers/stickers", response_class=HTMLResponse)
    async def stickers_page(
        request: Request,
        db: Db,
        staff: Person,
        site: Annotated[str | None, Query(max_length=12)] = None,
        charger: Annotated[str | None, Query(max_length=12)] = None,
    ) -> Response:
        items = await sticker_items(db, staff, site, charger)
        query = urlencode({k: v for k, v in {"site": site, "charger": charger}.items() if v})
        return render(
            request,
            ctx,
            "stickers.html",
            staff,
            title_key="stickers",
            items=[(s, qr_svg(s.url)) for s in items],
            operator=Operator.from_settings(ctx.settings).name,
            pdf_url=f"{ctx.base}/chargers/stickers.pdf?{query}",
        )

    @router.get("/chargers/stickers.pdf")
    async def stickers_file(
        request: Request,
        db: Db,
        staff: Person,
        site: Annotated[str | None, Query(max_length=12)] = None,
        charger: Annotated[str | None, Query(max_length=12)] = None,
    ) -> Response:
        items = await sticker_items(db, staff, site, charger)
        return Response(
            stickers_pdf(items, Operator.from_settings(ctx.settings).name, language(request)),
            media_type="application/pdf",
            headers={"Content-Disposition": 'inline; filename="qr-klistremerker.pdf"'},
        )

    @router.get("/chargers/{charger_id}", response_class=HTMLResponse)
    async def charger_page(
        request: Request,
        db: Db,
        staff: Person,
        charger_id: int,
        start: Annotated[str | None, Query(alias="from", max_length=10)] = None,
        end: Annotated[str | None, Query(alias="to", max_length=10)] = None,
    ) -> Response:
        actor = staff.actor
        detail = await chargers.charger_detail(db, actor, _id(charger_id))
        shown = Period.read(start, end)
        begin, finish = shown.bounds()
        up = await uptime.uptime(db, actor, begin, finish, [detail.charger.id])
        return render(
            request,
            ctx,
            "charger.html",
            staff,
            title_key="chargers",
            d=detail,
            up=up.get(detail.charger.id),
            faults=await uptime.faults(db, actor, begin, finish, [detail.charger.id]),
            shown=shown,
            writable_sites=await chargers.writable_sites(db, actor),
            connected=ctx.commands.is_connected(detail.charger.charge_point_id),
            flash=request.query_params,
        )

    async def change(db: Db, staff: Any, charger_id: int, changes: Any, ok: str) -> Response:
        """Change one of the actor's chargers (core.chargers.admin); back to its page."""
        where = f"/chargers/{charger_id}"
        try:
            charger = await repo.get_charger(db, staff.actor, _id(charger_id))
            await admin.update_charger(db, staff.actor, charger.charge_point_id, await changes())
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, where, error=error.message)
        except ChargerError as error:
            return _back(ctx, where, error=str(error))
        return _back(ctx, where, ok=ok)

    @router.post("/chargers/{charger_id}/site")
    async def move_charger(
        db: Db, staff: Person, charger_id: int, site: Annotated[int, Form()]
    ) -> Response:
        async def changes() -> admin.ChargerChanges:
            target = await repo.get_site(db, staff.actor, _id(site))
            return admin.ChargerChanges(site=target.name)

        return await change(db, staff, charger_id, changes, "moved")

    @router.post("/chargers/{charger_id}/location")
    async def locate(
        db: Db,
        staff: Person,
        charger_id: int,
        latitude: Annotated[str, Form(max_length=20)] = "",
        longitude: Annotated[str, Form(max_length=20)] = "",
        address: Annotated[str, Form(max_length=200)] = "",
    ) -> Response:
        async def changes() -> admin.ChargerChanges:
            place = admin.Place(_float(latitude), _float(longitude), address.strip() or None)
            return admin.ChargerChanges(place=place)

        return await change(db, staff, charger_id, changes, "located")

    @router.post("/chargers/{charger_id}/command")
    async def command(
        db: Db,
        staff: Person,
        charger_id: int,
        command: Annotated[str, Form(max_length=20)],
        evse: Annotated[str, Form(max_length=3)] = "",
    ) -> Response:
        where = f"/chargers/{charger_id}"
        try:
            outcome = await chargers.command(
                db, staff.actor, ctx.commands, _id(charger_id), command, as_id(evse)
            )
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, where, error=error.message)
        return _back(ctx, where, **_outcome(outcome))
