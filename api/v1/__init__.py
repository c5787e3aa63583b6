"""The operator REST API, `/api/v1`: organisations, sites, chargers, people, prices,
sessions, reports, commands, keys and the audit log, scoped to the caller's roles."""

from __future__ import annotations

from fastapi import APIRouter

from api.problems import problem_responses
from api.v1 import access, contracts, fleet, orgs, people, prices

PREFIX = "/api/v1"


def operator_router() -> APIRouter:
    router = APIRouter(prefix=PREFIX, responses=problem_responses(401, 403, 404, 409, 422))
    for part in (access, orgs, fleet, people, contracts, prices):
        router.include_router(part.router)
    return router
