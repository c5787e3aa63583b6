"""Signing in to the dashboard: e-mail or phone, the one-time code (or a one-time link),
the authenticator code where the role needs one, then the session cookie (api.staff_auth)."""

from __future__ import annotations

import hmac
import io
import secrets
from typing import Annotated

import segno
from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dashboard.base import DashboardServices, Db, Person, render
from api.staff_auth import (
    clear_session_cookie,
    client_ip,
    session_token,
    set_session_cookie,
)
from core.orgs.errors import OrgError
from core.orgs.staff_auth import ACTIVE, TOTP_SETUP

# Before sign-in there is no session to bind a CSRF token to: a random cookie and the same
# value in the form (double submit) stop another site from signing a browser in.
SIGNIN_COOKIE = "ladeflyt_signin"


def _safe_next(ctx: DashboardServices, target: str | None) -> str:
    if target and target.startswith(ctx.base) and not target.startswith("//"):
        return target
    return ctx.base


def _form_token(request: Request) -> str:
    return request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(16)


def _with_token(response: Response, token: str) -> Response:
    response.set_cookie(SIGNIN_COOKIE, token, max_age=3600, httponly=True, samesite="strict")
    return response


def _token_ok(request: Request, presented: str) -> bool:
    cookie = request.cookies.get(SIGNIN_COOKIE, "")
    return bool(cookie) and hmac.compare_digest(cookie, presented)


def qr_svg(text: str) -> str:
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="svg", scale=5, border=2, svgclass="qr")
    return out.getvalue().decode()


def routes(router: APIRouter, ctx: DashboardServices) -> None:
    auth = ctx.staff_auth
    base = ctx.base

    def page(
        request: Request, step: str, token: str, status: int = 200, **values: object
    ) -> Response:
        response = render(
            request, ctx, "sign_in.html", None, status=status, step=step, form_token=token, **values
        )
        return _with_token(response, token)

    @router.get("/sign-in", response_class=HTMLResponse)
    async def sign_in_page(request: Request, next: str | None = None) -> Response:
        return page(request, "identity", _form_token(request), next=_safe_next(ctx, next))

    @router.post("/sign-in", response_class=HTMLResponse)
    async def request_code(
        request: Request,
        db: Db,
        identity: Annotated[str, Form(max_length=254)],
        form_token: Annotated[str, Form(max_length=64)] = "",
        next: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        token = _form_token(request)
        if not _token_ok(request, form_token):
            return page(request, "identity", token, 403, error="forbidden", next=next)
        try:
            await auth.request_code(db, identity, client_ip(request))
        except OrgError as error:
            return page(request, "identity", token, error.status, error=error.message, next=next)
        return page(
            request, "code", token, identity=identity, next=_safe_next(ctx, next), sent=True
        )

    @router.get("/sign-in/code", response_class=HTMLResponse)
    async def code_page(
        request: Request, identity: str = "", code: str = "", next: str | None = None
    ) -> Response:
        """Also the one-time link: the code filled in, one press to sign in."""
        return page(
            request,
            "code",
            _form_token(request),
            identity=identity[:254],
            code=code[:12],
            next=_safe_next(ctx, next),
        )

    @router.post("/sign-in/code", response_class=HTMLResponse)
    async def verify(
        request: Request,
        db: Db,
        identity: Annotated[str, Form(max_length=254)],
        code: Annotated[str, Form(max_length=12)],
        form_token: Annotated[str, Form(max_length=64)] = "",
        next: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        token = _form_token(request)
        target = _safe_next(ctx, next)
        if not _token_ok(request, form_token):
            return page(
                request, "code", token, 403, error="forbidden", identity=identity, next=target
            )
        try:
            step = await auth.verify_code(
                db, identity, code, client_ip(request), request.headers.get("user-agent", "")
            )
        except OrgError as error:
            # Answered, not raised: the failed attempt is committed and counts.
            return page(
                request,
                "code",
                token,
                error.status,
                error=error.message,
                identity=identity,
                next=target,
            )
        if step.stage == ACTIVE:
            response: Response = RedirectResponse(target, status_code=303)
        elif step.stage == TOTP_SETUP:
            assert step.totp_uri is not None
            secret = step.totp_uri.split("secret=", 1)[1].split("&", 1)[0]
            response = page(
                request,
                "totp",
                token,
                setup=True,
                qr=qr_svg(step.totp_uri),
                secret=secret,
                next=target,
            )
        else:
            response = page(request, "totp", token, next=target)
        set_session_cookie(response, ctx.settings, step.token, step.csrf_token, step.stage)
        return response

    @router.post("/sign-in/totp", response_class=HTMLResponse)
    async def second_factor(
        request: Request,
        db: Db,
        code: Annotated[str, Form(max_length=12)],
        form_token: Annotated[str, Form(max_length=64)] = "",
        next: Annotated[str, Form(max_length=500)] = "",
    ) -> Response:
        token = _form_token(request)
        target = _safe_next(ctx, next)
        session = session_token(request, ctx.settings) or ""
        if not _token_ok(request, form_token):
            return page(request, "totp", token, 403, error="forbidden", next=target)
        try:
            step = await auth.verify_totp(db, session, code)
        except OrgError as error:
            return page(request, "totp", token, error.status, error=error.message, next=target)
        response = RedirectResponse(target, status_code=303)
        set_session_cookie(response, ctx.settings, step.token, step.csrf_token, step.stage)
        return response

    @router.post("/sign-out")
    async def sign_out(request: Request, staff: Person, db: Db) -> Response:
        await auth.sign_out(db, session_token(request, ctx.settings) or "")
        response = RedirectResponse(f"{base}/sign-in", status_code=303)
        clear_session_cookie(response, ctx.settings)
        return response
