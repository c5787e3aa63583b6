"""Page 7, Power management: a site's grid limits and its chargers' maximum power (the
settings that exist), the live load per line against the main fuse, how the allocator would
share it between the cars charging now, and the log of changes (core.orgs.power)."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dashboard.base import DashboardServices, Db, Person, render
from api.dashboard.history import as_id
from core.models import Site
from core.orgs import power
from core.orgs import repository as repo
from core.orgs.errors import Invalid, OrgError
from core.orgs.scope import Actor

INT32 = 2**31 - 1
LIVE_EVERY_S = 5


def _kw_to_w(text: str) -> int | None:
    """`11`, `7,4` kW as watts; empty: no value."""
    cleaned = text.strip().replace(",", ".")
    if not cleaned:
        return None
    try:
        value = Decimal(cleaned)
    except InvalidOperation:
        raise Invalid(f"not a number of kW: {text!r}") from None
    if not value.is_finite() or value < 0:
        raise Invalid(f"not a number of kW: {text!r}")
    return int(value * 1000)


def _amps(text: str) -> int | None:
    cleaned = text.strip()
    if not cleaned:
        return None
    if not cleaned.isdigit():
        raise Invalid(f"not a whole number of amperes: {text!r}")
    return int(cleaned)


def _back(ctx: DashboardServices, site: int, **flash: str) -> Response:
    return RedirectResponse(
        f"{ctx.base}/power?{urlencode({'site': site, **flash})}", status_code=303
    )


async def _sites(db: Db, actor: Actor) -> list[Site]:
    return list((await db.execute(repo.sites_query(actor).order_by(Site.name))).scalars())


def routes(router: APIRouter, ctx: DashboardServices) -> None:
    @router.get("/power", response_class=HTMLResponse)
    async def power_page(
        request: Request,
        db: Db,
        staff: Person,
        site: Annotated[str | None, Query(max_length=12)] = None,
    ) -> Response:
        actor = staff.actor
        sites = await _sites(db, actor)
        chosen = as_id(site) or (sites[0].id if sites else None)
        values: dict[str, Any] = {"sites": sites, "load": None, "events": []}
        if chosen is not None:
            values["load"] = await power.site_load(db, actor, chosen)
            values["events"] = await power.events(db, actor, chosen)
        return render(
            request,
            ctx,
            "power.html",
            staff,
            title_key="power",
            every=LIVE_EVERY_S,
            flash=request.query_params,
            **values,
        )

    @router.get("/power/live", response_class=HTMLResponse)
    async def live(
        request: Request,
        db: Db,
        staff: Person,
        site: Annotated[int, Query(ge=1, le=INT32)],
    ) -> Response:
        load = await power.site_load(db, staff.actor, site)
        return render(request, ctx, "_power_live.html", staff, load=load, every=LIVE_EVERY_S)

    @router.post("/power/limits")
    async def limits(
        db: Db,
        staff: Person,
        site: Annotated[int, Form(ge=1, le=INT32)],
        fuse_a: Annotated[str, Form(max_length=6)] = "",
        peak_kw: Annotated[str, Form(max_length=10)] = "",
    ) -> Response:
        try:
            await power.set_limits(
                db, staff.actor, site, fuse_a=_amps(fuse_a), peak_w=_kw_to_w(peak_kw)
            )
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, site, error=error.message)
        return _back(ctx, site, ok="limits")

    @router.post("/power/chargers/{charger_id}/max")
    async def charger_max(
        db: Db,
        staff: Person,
        charger_id: int,
        site: Annotated[int, Form(ge=1, le=INT32)],
        max_kw: Annotated[str, Form(max_length=10)],
    ) -> Response:
        try:
            watts = _kw_to_w(max_kw)
            if watts is None:
                raise Invalid("give the charger's maximum in kW")
            await power.set_charger_max(
                db, staff.actor, charger_id if 1 <= charger_id <= INT32 else 0, watts
            )
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, site, error=error.message)
        return _back(ctx, site, ok="max")
