"""Staff browser sessions over HTTP: sign-in endpoints, the session cookie and CSRF checks.

Reusable by any server-rendered page: `staff_context` is a dependency giving the signed-in
staff member (and checking CSRF on every state-changing request), `set_session_cookie` /
`clear_session_cookie` handle the HttpOnly cookie, and `StaffAuth` (core.orgs.staff_auth)
does the work. The JSON endpoints below are the same steps for scripts and the API docs.

CSRF: the session cookie is HttpOnly and SameSite=Lax; every POST/PUT/PATCH/DELETE made
with it must carry the session's CSRF token as the `X-CSRF-Token` header or a `csrf_token`
form field. The token is also readable in the (non-HttpOnly) `ladeflyt_csrf` cookie, for
pages' scripts (double submit).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import Db as Db
from api.deps import Services, services
from api.problems import problem, problem_responses
from core.config import Settings
from core.orgs.errors import NotFound, Unauthenticated
from core.orgs.schemas import GrantOut
from core.orgs.staff_auth import ACTIVE, StaffAuth, StaffContext

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


def staff_auth(svc: Annotated[Services, Depends(services)]) -> StaffAuth:
    if svc.staff_auth is None:
        raise NotFound("staff sign-in is not configured")
    return svc.staff_auth


Auth = Annotated[StaffAuth, Depends(staff_auth)]


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


# --------------------------------------------------------------------------- cookies


def _secure(settings: Settings) -> bool:
    return settings.public_base_url.startswith("https://")


def set_session_cookie(
    response: Response, settings: Settings, token: str, csrf: str, stage: str
) -> None:
    max_age = settings.staff_session_ttl_s if stage == ACTIVE else settings.login_code_ttl_s
    response.set_cookie(
        settings.staff_cookie_name,
        token,
        max_age=max_age,
        httponly=True,
        secure=_secure(settings),
        samesite="lax",
        path="/",
    )
    response.set_cookie(
        settings.staff_csrf_cookie_name,
        csrf,
        max_age=max_age,
        httponly=False,
        secure=_secure(settings),
        samesite="strict",
        path="/",
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    for name in (settings.staff_cookie_name, settings.staff_csrf_cookie_name):
        response.delete_cookie(name, path="/", secure=_secure(settings), httponly=True)


def session_token(request: Request, settings: Settings) -> str | None:
    return request.cookies.get(settings.staff_cookie_name)


async def presented_csrf(request: Request) -> str | None:
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def resolve_staff(request: Request, db: AsyncSession, auth: StaffAuth) -> StaffContext:
    """The signed-in staff member of this request, CSRF checked for unsafe methods."""
    token = session_token(request, auth.settings)
    if not token:
        raise Unauthenticated("sign in first")
    context = await auth.resolve(db, token, client_ip(request))
    if request.method not in SAFE_METHODS:
        auth.check_csrf(token, await presented_csrf(request))
    return context


async def staff_context(request: Request, db: Db, auth: Auth) -> StaffContext:
    """Dependency for pages and endpoints that need a signed-in staff member."""
    return await resolve_staff(request, db, auth)


Staff = Annotated[StaffContext, Depends(staff_context)]


# --------------------------------------------------------------------------- endpoints


class CodeIn(BaseModel):
    identity: Annotated[str, Field(min_length=3, max_length=254, description="e-mail or phone")]


class CodeSent(BaseModel):
    sent: bool = True


class VerifyIn(CodeIn):
    code: Annotated[str, Field(min_length=4, max_length=12)]


class TotpIn(BaseModel):
    code: Annotated[str, Field(min_length=6, max_length=12)]


class SignInOut(BaseModel):
    stage: str  # active | totp | totp_setup
    csrf_token: str
    # Only at totp_setup: add this otpauth:// URI to an authenticator app, then send a code.
    totp_uri: str | None = None


class StaffSessionOut(BaseModel):
    id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ip: str
    user_agent: str
    current: bool


class StaffMeOut(BaseModel):
    id: int
    email: str | None
    phone: str | None
    name: str
    grants: list[GrantOut]
    totp_enabled: bool
    csrf_token: str


def _refused(error: Unauthenticated, request: Request) -> JSONResponse:
    return problem(401, error.message, instance=request.url.path, kind="unauthorized")


def staff_router() -> APIRouter:
    router = APIRouter(
        prefix="/api/v1/auth",
        tags=["staff sign-in"],
        responses=problem_responses(401, 403, 404, 422, 429),
    )

    @router.post("/code", response_model=CodeSent, status_code=202)
    async def request_code(body: CodeIn, request: Request, db: Db, auth: Auth) -> CodeSent:
        """Send a one-time code to a staff member's e-mail or phone. The answer is the same
        for addresses that belong to no one."""
        await auth.request_code(db, body.identity, client_ip(request))
        return CodeSent()

    @router.post("/verify", response_model=SignInOut)
    async def verify(
        body: VerifyIn, request: Request, response: Response, db: Db, auth: Auth
    ) -> SignInOut | JSONResponse:
        """Check the code; sets the session cookie. Operator roles continue with `/totp`."""
        try:
            step = await auth.verify_code(
                db,
                body.identity,
                body.code,
                client_ip(request),
                request.headers.get("user-agent", ""),
            )
        except Unauthenticated as error:
            # Answered, not raised: the failed attempt must be committed to count.
            return _refused(error, request)
        set_session_cookie(response, auth.settings, step.token, step.csrf_token, step.stage)
        return SignInOut(stage=step.stage, csrf_token=step.csrf_token, totp_uri=step.totp_uri)

    @router.post("/totp", response_model=SignInOut)
    async def second_factor(
        body: TotpIn, request: Request, response: Response, db: Db, auth: Auth
    ) -> SignInOut | JSONResponse:
        """The authenticator code (the second factor); replaces the cookie when signed in."""
        token = session_token(request, auth.settings)
        if not token:
            raise Unauthenticated("start with /api/v1/auth/verify")
        try:
            step = await auth.verify_totp(db, token, body.code)
        except Unauthenticated as error:
            return _refused(error, request)
        set_session_cookie(response, auth.settings, step.token, step.csrf_token, step.stage)
        return SignInOut(stage=step.stage, csrf_token=step.csrf_token)

    @router.get("/session", response_model=StaffMeOut)
    async def me(staff: Staff) -> StaffMeOut:
        s = staff.staff
        return StaffMeOut(
            id=s.id,
            email=s.email,
            phone=s.phone,
            name=s.name,
            grants=[
                GrantOut(role=g.role.value, organisation_id=g.organisation_id)
                for g in staff.actor.grants
            ],
            totp_enabled=s.totp_confirmed_at is not None,
            csrf_token=staff.csrf_token,
        )

    @router.get("/sessions", response_model=list[StaffSessionOut])
    async def my_sessions(staff: Staff, db: Db, auth: Auth) -> list[StaffSessionOut]:
        return [
            StaffSessionOut(
                id=s.id,
                created_at=s.created_at,
                last_seen_at=s.last_seen_at,
                expires_at=s.expires_at,
                ip=s.ip,
                user_agent=s.user_agent,
                current=s.id == staff.session.id,
            )
            for s in await auth.sessions_of(db, staff.staff.id)
        ]

    @router.delete("/sessions/{staff_session_id}", status_code=204)
    async def revoke(
        staff_session_id: Annotated[int, Path(ge=1, le=2**31 - 1)],
        staff: Staff,
        db: Db,
        auth: Auth,
    ) -> Response:
        """End one of your own sessions (another browser, a lost phone)."""
        if not await auth.revoke_session(db, staff.staff.id, staff_session_id):
            raise NotFound(f"no session {staff_session_id}")
        return Response(status_code=204)

    @router.post("/sign-out", status_code=204)
    async def sign_out(
        request: Request, staff: Staff, db: Db, auth: Auth, everywhere: bool = False
    ) -> Response:
        if everywhere:
            await auth.revoke_all(db, staff.staff.id)
        else:
            token = session_token(request, auth.settings) or ""
            await auth.sign_out(db, token)
        response = Response(status_code=204)
        clear_session_cookie(response, auth.settings)
        return response

    return router
