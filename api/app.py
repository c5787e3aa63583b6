"""The HTTP application: health, operator REST endpoints and the driver GraphQL API."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter, FastAPI

from api import problems
from api.body_limit import BodyLimit
from api.deps import Services
from api.docs import add_docs
from api.graphql.context import DriverServices
from api.graphql.schema import graphql_router
from api.invoices import router as invoices_router
from api.observability import RequestId, metrics_router
from api.routes import router
from api.staff_auth import staff_router
from api.v1 import operator_router


def create_app(
    services: Services,
    driver: DriverServices | None = None,
    routers: Sequence[APIRouter] = (),
) -> FastAPI:
    """The HTTP app; `routers` are the other packages' endpoints (SMS webhooks, payments)."""
    app = FastAPI(
        title="Ladeflyt",
        version="0.1.0",
        description="EV-charging operator backend: operator REST API at /api/v1 "
        "(`Authorization: Bearer <API key>`, or a staff browser session; errors are RFC 9457 "
        "problem details). The driver app uses GraphQL at /graphql (schema in "
        "openapi/schema.graphql).",
        docs_url=None,
        redoc_url=None,
    )
    add_docs(app)
    app.state.services = services
    app.add_middleware(BodyLimit, max_bytes=services.settings.http_max_body_bytes)
    app.add_middleware(RequestId)
    if services.settings.metrics_enabled:
        app.include_router(metrics_router())
    problems.install(app)
    app.include_router(router)
    app.include_router(invoices_router)
    app.include_router(operator_router())
    app.include_router(staff_router())
    for extra in routers:
        app.include_router(extra)
    if driver is not None:
        app.include_router(graphql_router(driver), prefix="/graphql", include_in_schema=False)
    return app
