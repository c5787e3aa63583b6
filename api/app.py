"""The HTTP application: health, operator REST endpoints (GraphQL joins later)."""

from __future__ import annotations

from fastapi import FastAPI

from api.deps import Services
from api.routes import router


def create_app(services: Services) -> FastAPI:
    app = FastAPI(
        title="Ladeflyt",
        version="0.1.0",
        description="EV-charging operator backend: operator REST API.",
    )
    app.state.services = services
    app.include_router(router)
    return app
