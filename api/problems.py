"""RFC 9457 problem details for the operator API (`application/problem+json`)."""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import (
    http_exception_handler,
    request_validation_exception_handler,
)
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.orgs.errors import OrgError

PROBLEM_TYPE = "application/problem+json"
PREFIX = "/api/v1"

log = logging.getLogger("api.http")


class Problem(BaseModel):
    """What went wrong, as RFC 9457 says: `type` names the kind, `detail` this case."""

    type: str = "about:blank"
    title: str
    status: int
    detail: str | None = None
    instance: str | None = None
    # For 422: what was wrong with which field.
    errors: list[dict[str, Any]] | None = None


def problem(
    status: int,
    detail: str | None,
    *,
    instance: str | None = None,
    title: str | None = None,
    kind: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = Problem(
        type=f"https://ladeflyt.no/problems/{kind}" if kind else "about:blank",
        title=title or HTTPStatus(status).phrase,
        status=status,
        detail=detail,
        instance=instance,
        errors=errors,
    )
    return JSONResponse(
        body.model_dump(exclude_none=True),
        status_code=status,
        media_type=PROBLEM_TYPE,
        headers=headers,
    )


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for these problem statuses."""
    return {
        s: {"model": Problem, "content": {PROBLEM_TYPE: {}}, "description": HTTPStatus(s).phrase}
        for s in statuses
    }


_KINDS = {
    "NotFound": "not_found",
    "Forbidden": "forbidden",
    "Conflict": "conflict",
    "Invalid": "invalid",
    "Unauthenticated": "unauthorized",
    "RateLimited": "rate_limited",
}


def _ours(request: Request) -> bool:
    return request.url.path.startswith(PREFIX)


def _log(request: Request, status: int, detail: object) -> None:
    """A client's mistake, in one line at INFO (a server fault is logged where it happens,
    with its traceback)."""
    if status < 500:
        log.info("client error %s on %s %s: %s", status, request.method, request.url.path, detail)


def install(app: FastAPI) -> None:
    """Problem details for /api/v1; every other path keeps FastAPI's own error bodies."""

    @app.exception_handler(OrgError)
    async def org_error(request: Request, exc: OrgError) -> Response:
        headers = {"WWW-Authenticate": "Bearer"} if exc.status == 401 else None
        kind = _KINDS.get(type(exc).__name__, "error")
        _log(request, exc.status, exc.message)
        return problem(
            exc.status,
            exc.message,
            instance=request.url.path,
            title=exc.title,
            kind=kind,
            headers=headers,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        _log(request, exc.status_code, exc.detail)
        if not _ours(request):
            return await http_exception_handler(request, exc)
        detail = exc.detail if isinstance(exc.detail, str) else None
        return problem(
            exc.status_code,
            detail,
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        _log(request, 422, "request not valid")
        if not _ours(request):
            return await request_validation_exception_handler(request, exc)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": e.get("type")}
            for e in exc.errors()
        ]
        return problem(
            422,
            "the request is not valid; see `errors`",
            instance=request.url.path,
            kind="invalid",
            errors=errors,
        )
