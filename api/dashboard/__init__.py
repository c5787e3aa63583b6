"""The dashboard at /dashboard: server-rendered pages (Jinja2 + htmx, local assets) for
operator staff and organisation admins, each page scoped by core.orgs to the signed-in
person's roles; every change goes through the core services the API uses, audited."""

from __future__ import annotations

from fastapi import APIRouter

from api.dashboard import (
    chargers,
    energy,
    history,
    invoicing,
    overview,
    people,
    power,
    prices,
    sharing,
    signin,
    support,
)
from api.dashboard.base import DashboardServices, page_route_class

__all__ = ["DashboardServices", "dashboard_router"]


def dashboard_router(ctx: DashboardServices) -> APIRouter:
    router = APIRouter(prefix=ctx.base, include_in_schema=False, route_class=page_route_class(ctx))
    for part in (
        signin,
        overview,
        energy,
        history,
        sharing,
        support,
        prices,
        people,
        power,
        invoicing,
        chargers,
    ):
        part.routes(router, ctx)
    return router
