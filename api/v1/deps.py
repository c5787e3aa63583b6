"""Who is calling the operator API: an API key (`Authorization: Bearer lf_...`) or a
signed-in staff member's browser session (cookie + CSRF token)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from api.deps import Db as Db
from api.deps import Services, services
from api.staff_auth import client_ip, resolve_staff, session_token
from core.db import transaction
from core.orgs import apikeys
from core.orgs.errors import Unauthenticated
from core.orgs.paging import CURSOR_PATTERN, MAX_LIMIT
from core.orgs.scope import Actor

Svc = Annotated[Services, Depends(services)]
INT32 = 2**31 - 1


async def actor(request: Request, db: Db, svc: Svc) -> Actor:
    scheme, _, presented = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() == "bearer" and presented:
        found, stale = await apikeys.authenticate(db, presented.strip(), client_ip(request))
        if stale and found.id is not None:
            async with transaction(svc.sessions) as own:
                await apikeys.touch(own, found.id)
        return found
    if svc.staff_auth is not None and session_token(request, svc.settings):
        return (await resolve_staff(request, db, svc.staff_auth)).actor
    raise Unauthenticated("send `Authorization: Bearer <API key>`, or sign in")


Caller = Annotated[Actor, Depends(actor)]


def id_path(what: str) -> object:
    return Path(ge=1, le=INT32, description=f"the {what}'s id")


OrgId = Annotated[int, id_path("organisation")]
SiteId = Annotated[int, id_path("site")]
ChargerId = Annotated[int, id_path("charger")]
MembershipId = Annotated[int, id_path("membership")]
DriverId = Annotated[int, id_path("driver")]
TokenId = Annotated[int, id_path("id token")]
TariffId = Annotated[int, id_path("tariff")]
AssignmentId = Annotated[int, id_path("tariff assignment")]
SessionId = Annotated[int, id_path("charging session")]
KeyId = Annotated[int, id_path("API key")]

OptionalId = Annotated[int | None, Query(ge=1, le=INT32)]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT)]
Cursor = Annotated[
    str | None,
    Query(pattern=CURSOR_PATTERN, description="`next_cursor` of the page before (opaque)"),
]
