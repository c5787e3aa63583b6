"""Health of the process; the operator REST API lives in api/v1."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import text

from api import schemas
from api.deps import Services, services

router = APIRouter()
Svc = Annotated[Services, Depends(services)]


@router.get(
    "/healthz",
    response_model=schemas.Health,
    tags=["health"],
    responses={503: {"model": schemas.Health}},
)
async def healthz(svc: Svc) -> JSONResponse:
    database = "ok"
    try:
        async with svc.sessions() as session:
            await session.execute(text("SELECT 1"))
    except Exception:
        database = "unavailable"
    connected = len(getattr(svc.commands, "connected_ids", list)())
    body = schemas.Health(
        status="ok" if database == "ok" else "degraded",
        database=database,  # type: ignore[arg-type]
        chargers_connected=connected,
    )
    return JSONResponse(body.model_dump(), status_code=200 if database == "ok" else 503)
