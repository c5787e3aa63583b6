"""What every dashboard page shares: the services, the signed-in staff member, language,
templates, error pages and the one rule for what a page may show (core.orgs' Actor)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.routing import APIRoute
from fastapi.templating import Jinja2Templates
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from api.dashboard.i18n import Formats, Words
from api.deps import Db as Db
from api.staff_auth import Staff
from core.bus import CommandBus, EventBus
from core.config import Settings
from core.orgs.errors import Forbidden, NotFound, OrgError, Unauthenticated
from core.orgs.scope import Access, Actor
from core.orgs.staff_auth import StaffAuth, StaffContext
from core.payments.service import Payments

log = logging.getLogger(__name__)
LANG_COOKIE = "ladeflyt_lang"
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


@dataclass
class DashboardServices:
    """Wired in ladeflyt.runtime: the same core services the API and the gateway use."""

    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    commands: CommandBus
    events: EventBus
    payments: Payments
    staff_auth: StaffAuth

    @property
    def base(self) -> str:
        return "/" + self.settings.dashboard_path.strip("/")


@dataclass(frozen=True)
class NavItem:
    key: str
    path: str


# The product sheet's pages, in its order; who sees which is decided in `nav_for`.
PAGES = (
    NavItem("overview", ""),
    NavItem("energy", "/energy"),
    NavItem("history", "/history"),
    NavItem("sharing", "/sharing"),
    NavItem("people", "/people"),
    NavItem("prices", "/prices"),
    NavItem("power", "/power"),
    NavItem("support", "/support"),
    NavItem("invoicing", "/invoicing"),
    NavItem("chargers", "/chargers"),
)


def nav_for(actor: Actor) -> list[NavItem]:
    # Invoicing is the operator's own work (core.invoicing invoices the operator's customers).
    return [p for p in PAGES if p.key != "invoicing" or actor.everywhere(Access.READ)]


def language(request: Request) -> str:
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE) or "nb"
    return asked if asked in ("nb", "en") else "nb"


def switch_url(request: Request, lang: str) -> str:
    other = "en" if lang == "nb" else "nb"
    return f"{request.url.path}?{request.url.include_query_params(lang=other).query}"


async def signed_in(request: Request, staff: Staff) -> StaffContext:
    return staff


Person = Annotated[StaffContext, Depends(signed_in)]


def render(
    request: Request,
    ctx: DashboardServices,
    name: str,
    staff: StaffContext | None,
    *,
    status: int = 200,
    **values: Any,
) -> HTMLResponse:
    lang = language(request)
    actor = staff.actor if staff else None
    response = templates.TemplateResponse(
        request,
        name,
        {
            "lang": lang,
            "t": Words(lang),
            "f": Formats(lang),
            "base": ctx.base,
            "staff": staff,
            "actor": actor,
            "csrf": staff.csrf_token if staff else "",
            "nav": nav_for(actor) if actor else [],
            "here": request.url.path,
            "switch_url": switch_url(request, lang),
            "can": (lambda access, org=None: actor is not None and actor.can(Access(access), org)),
            **values,
        },
        status_code=status,
    )
    if request.query_params.get("lang") in ("nb", "en"):
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax")
    return response


def sign_in_url(ctx: DashboardServices, request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{ctx.base}/sign-in?next={quote(target)}"


def page_route_class(ctx: DashboardServices) -> type[APIRoute]:
    """Routes whose errors are pages: not signed in → the sign-in page; another
    organisation's object or an unknown one → 404 page; a role that may not → 403 page."""

    class PageRoute(APIRoute):
        def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
            handler = super().get_route_handler()

            async def run(request: Request) -> Response:
                try:
                    return await handler(request)
                except Unauthenticated:
                    target = sign_in_url(ctx, request)
                    if request.headers.get("HX-Request"):
                        return Response(status_code=401, headers={"HX-Redirect": target})
                    return RedirectResponse(target, status_code=303)
                except OrgError as error:
                    key = (
                        "not_found"
                        if isinstance(error, NotFound)
                        else "forbidden"
                        if isinstance(error, Forbidden)
                        else "error"
                    )
                    return render(
                        request,
                        ctx,
                        "error.html",
                        None,
                        status=error.status,
                        title_key=key,
                        message=error.message,
                    )

            return run

    return PageRoute
