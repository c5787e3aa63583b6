"""Page 1, Overview: sites on a map and in a list, each connector's live status, power now,
sessions now, energy today, faults highlighted; live over server-sent events."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from api.dashboard.base import DashboardServices, Db, Person, language, render, templates
from api.dashboard.i18n import Formats, Words
from api.staff_auth import resolve_staff
from core.bus import Event
from core.orgs import overview
from core.orgs import repository as repo

KEEPALIVE_S = 15.0


def map_points(sites: list[overview.SiteNow]) -> list[dict[str, Any]]:
    """Sites with coordinates placed in a 100 by 60 box (an offline schematic map)."""
    placed = [s for s in sites if s.latitude is not None and s.longitude is not None]
    if not placed:
        return []
    lats = [s.latitude for s in placed if s.latitude is not None]
    lons = [s.longitude for s in placed if s.longitude is not None]
    lat_span = max(lats) - min(lats)
    lon_span = max(lons) - min(lons)
    points = []
    for s in placed:
        assert s.latitude is not None and s.longitude is not None
        x = 8 + 84 * (s.longitude - min(lons)) / lon_span if lon_span > 1e-4 else 50
        y = 52 - 44 * (s.latitude - min(lats)) / lat_span if lat_span > 1e-4 else 30
        points.append({"site": s, "x": round(x, 2), "y": round(y, 2)})
    return points


def fragments(charger_id: int, event: Event, lang: str) -> list[tuple[str, str]]:
    """(SSE event name, one-line HTML) for what an event changes on the overview."""
    data = event.data
    macros: Any = templates.env.get_template("_live.html").module
    t, f = Words(lang), Formats(lang)
    out: list[tuple[str, str]] = []
    if event.kind == "connector_status" and data.get("evse_id"):
        name = f"c-{charger_id}-{data['evse_id']}-{data.get('connector_id') or 1}"
        out.append((name, str(macros.badge(t, data["status"], data.get("error_code")))))
    elif event.kind in ("online", "offline"):
        out.append((f"o-{charger_id}", str(macros.online(t, bool(data.get("online"))))))
    elif "power_w" in data and data.get("evse_id"):
        open_ = data.get("status") in ("active", "suspended")
        power = data.get("power_w") or 0 if open_ else 0
        out.append((f"p-{charger_id}-{data['evse_id']}", f.kw(power) + " kW"))
        out.append(
            (f"e-{charger_id}-{data['evse_id']}", f.kwh(data.get("energy_wh") or 0) + " kWh")
        )
    return [(name, " ".join(html.split())) for name, html in out]


def routes(router: APIRouter, ctx: DashboardServices) -> None:
    @router.get("", response_class=HTMLResponse)
    async def overview_page(
        request: Request, db: Db, staff: Person, site: int | None = None
    ) -> Response:
        if site is not None:
            await repo.get_site(db, staff.actor, site)
        now = await overview.overview(db, staff.actor, site_id=site)
        all_sites = now if site is None else await overview.overview(db, staff.actor)
        return render(
            request,
            ctx,
            "overview.html",
            staff,
            title_key="overview",
            now=now,
            site_filter=site,
            site_choices=[(s.id, s.name) for s in all_sites.sites],
            points=map_points(now.sites),
        )

    @router.get("/live")
    async def live(request: Request) -> Response:
        """Server-sent events: connector status, power, energy and online changes of the
        chargers this person may see (decided once, when the stream opens)."""
        async with ctx.sessions() as db:
            staff = await resolve_staff(request, db, ctx.staff_auth)
            visible = await overview.visible_charge_points(db, staff.actor)
            await db.commit()
        lang = language(request)
        queue: asyncio.Queue[Event] = asyncio.Queue(512)

        async def pump() -> None:
            async with ctx.events.subscribe("*") as events:
                async for event in events:
                    if event.topic.startswith("charger:") and event.topic[8:] in visible:
                        if queue.full():
                            queue.get_nowait()
                        queue.put_nowait(event)

        async def stream() -> AsyncIterator[str]:
            task = asyncio.create_task(pump())
            try:
                yield "retry: 3000\n: connected\n\n"
                while True:
                    try:
                        event = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
                    except TimeoutError:
                        yield ": keepalive\n\n"
                        continue
                    charger_id = visible[event.topic[8:]]
                    for name, html in fragments(charger_id, event, lang):
                        yield f"event: {name}\ndata: {html}\n\n"
            finally:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task

        return StreamingResponse(
            stream(),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )
