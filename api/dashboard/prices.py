"""Page 6, Prices: tariffs per group x site x time window, a live quote preview priced by
the real tariff engine for every group, and the history of changes (the audit log)."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dashboard.base import DashboardServices, Db, Person, render
from core.models import AuditEntry, Site, TariffAssignment
from core.orgs import prices
from core.orgs import repository as repo
from core.orgs.errors import OrgError
from core.orgs.groups import defined_groups
from core.orgs.schemas import AssignmentIn, TariffComponentIn, TariffIn
from core.orgs.scope import Actor
from core.timeutil import OSLO, utcnow

KINDS = ("energy", "time", "parking", "session")


def _when(text: str | None) -> datetime:
    try:
        parsed = datetime.fromisoformat(text) if text else None
    except ValueError:
        parsed = None
    if parsed is None:
        return utcnow().astimezone(OSLO).replace(hour=18, minute=0, second=0, microsecond=0)
    return parsed.replace(tzinfo=OSLO) if parsed.tzinfo is None else parsed


def _kwh(text: str | None) -> int:
    try:
        value = Decimal((text or "30").replace(",", "."))
    except InvalidOperation:
        value = Decimal(30)
    return int(min(max(value, Decimal(0)), Decimal(1000)) * 1000)


async def _preview_values(
    db: Db, actor: Actor, site: int | None, kwh: str | None, when: str | None
) -> dict[str, Any]:
    sites = list((await db.execute(repo.sites_query(actor).order_by(Site.name))).scalars())
    chosen = next((s for s in sites if s.id == site), sites[0] if sites else None)
    at, energy = _when(when), _kwh(kwh)
    quotes = await prices.preview(db, actor, chosen.id, energy, at) if chosen else []
    return {
        "sites": sites,
        "site": chosen,
        "at": at,
        "at_text": at.strftime("%Y-%m-%dT%H:%M"),
        "energy_wh": energy,
        "quotes": quotes,
    }


def _back(ctx: DashboardServices, **flash: str) -> Response:
    return RedirectResponse(f"{ctx.base}/prices?{urlencode(flash)}", status_code=303)


def routes(router: APIRouter, ctx: DashboardServices) -> None:
    @router.get("/prices", response_class=HTMLResponse)
    async def prices_page(
        request: Request,
        db: Db,
        staff: Person,
        site: int | None = None,
        kwh: str | None = None,
        when: str | None = None,
    ) -> Response:
        actor = staff.actor
        tariffs = list((await db.execute(repo.tariffs_query(actor).order_by("name"))).scalars())
        assignments = list(
            (
                await db.execute(
                    repo.assignments_query(actor).order_by(
                        TariffAssignment.site_id, TariffAssignment.customer_group
                    )
                )
            ).scalars()
        )
        values = await _preview_values(db, actor, site, kwh, when)
        orgs = list((await db.execute(repo.organisations_query(actor))).scalars())
        groups: set[str] = {"public"}
        for org in orgs:
            groups.update(await defined_groups(db, org.id))
        # The history of changes: the audit log (empty for roles that may not read it).
        history = list(
            (
                await db.execute(
                    repo.audit_query(actor)
                    .where(AuditEntry.object_type.in_(("tariff", "tariff_assignment")))
                    .order_by(AuditEntry.id.desc())
                    .limit(30)
                )
            ).scalars()
        )
        return render(
            request,
            ctx,
            "prices.html",
            staff,
            title_key="prices",
            tariffs=[prices.tariff_out(t) for t in tariffs],
            tariff_names={t.id: t.name for t in tariffs},
            site_names={s.id: s.name for s in values["sites"]},
            site_orgs={s.id: s.organisation_id for s in values["sites"]},
            now=utcnow(),
            assignments=assignments,
            orgs=orgs,
            groups=sorted(groups),
            kinds=KINDS,
            history=history,
            flash=request.query_params,
            **values,
        )

    @router.get("/prices/preview", response_class=HTMLResponse)
    async def preview(
        request: Request,
        db: Db,
        staff: Person,
        site: int | None = None,
        kwh: str | None = None,
        when: str | None = None,
    ) -> Response:
        values = await _preview_values(db, staff.actor, site, kwh, when)
        return render(request, ctx, "_quote.html", staff, **values)

    @router.post("/prices/tariffs")
    async def create_tariff(
        db: Db,
        staff: Person,
        name: Annotated[str, Form(max_length=80)],
        organisation: Annotated[str, Form(max_length=12)] = "",
    ) -> Response:
        try:
            org_id = int(organisation) if organisation.isdigit() else None
            tariff = await prices.create_tariff(
                db, staff.actor, TariffIn(name=name, organisation_id=org_id)
            )
        except (OrgError, ValueError) as error:
            return _back(ctx, error=getattr(error, "message", str(error)))
        return _back(ctx, ok=tariff.name)

    @router.post("/prices/tariffs/{tariff_id}/components")
    async def add_component(
        db: Db,
        staff: Person,
        tariff_id: int,
        kind: Annotated[str, Form(max_length=20)],
        price: Annotated[str, Form(max_length=20)],
        days: Annotated[str, Form(max_length=40)] = "all",
        start: Annotated[str, Form(max_length=5)] = "",
        end: Annotated[str, Form(max_length=5)] = "",
    ) -> Response:
        try:
            incl = Decimal(price.replace(",", ".").strip())
            # The form takes kroner incl. VAT, as boards think of prices; tariffs keep øre
            # excl. VAT (core.tariffs).
            excl = (incl * 100 / Decimal("1.25")).quantize(Decimal("0.0001"))
            component = TariffComponentIn(
                kind=kind,  # type: ignore[arg-type]
                price_ore=excl,
                days=days or "all",
                start=start or None,
                end=end or None,
            )
            await prices.add_component(db, staff.actor, tariff_id, component)
        except InvalidOperation:
            return _back(ctx, error=f"not a price: {price!r}")
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, error=error.message)
        except ValueError as error:
            return _back(ctx, error=str(error).splitlines()[0])
        return _back(ctx, ok="component")

    @router.post("/prices/assignments")
    async def assign(
        db: Db,
        staff: Person,
        tariff: Annotated[int, Form()],
        site: Annotated[int, Form()],
        group: Annotated[str, Form(max_length=40)],
        valid_from: Annotated[str, Form(max_length=10)] = "",
    ) -> Response:
        try:
            start = None
            if valid_from:
                start = datetime.combine(date.fromisoformat(valid_from), datetime.min.time(), OSLO)
            await prices.create_assignment(
                db,
                staff.actor,
                AssignmentIn(tariff_id=tariff, site_id=site, group=group, valid_from=start),
            )
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, error=error.message)
        except ValueError as error:
            return _back(ctx, error=str(error).splitlines()[0])
        return _back(ctx, ok="assigned")

    @router.post("/prices/assignments/{assignment_id}/end")
    async def end_assignment(db: Db, staff: Person, assignment_id: int) -> Response:
        try:
            await prices.end_assignment(
                db, staff.actor, assignment_id if 1 <= assignment_id <= 2**31 - 1 else 0
            )
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, error=error.message)
        return _back(ctx, ok="ended")
