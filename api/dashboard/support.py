"""Page 8, Customer support: find a driver, tag, charger or session; a driver's sessions,
payments, SMS log and notes; on a session: stop, unlock, refund with a reason, resend the
receipt, notes. Every action is a core.orgs.support call (audited, scoped)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dashboard.base import DashboardServices, Db, Person, render
from core.models import IdToken
from core.orgs import history, support
from core.orgs import repository as repo
from core.orgs.errors import OrgError
from core.orgs.fleet import CommandOutcome, SessionFilter

INT32 = 2**31 - 1


def _back(ctx: DashboardServices, path: str, **flash: str) -> Response:
    return RedirectResponse(f"{ctx.base}{path}?{urlencode(flash)}", status_code=303)


def _outcome(outcome: CommandOutcome) -> dict[str, str]:
    if outcome.error is not None:
        return {"error": f"{type(outcome.error).__name__}: {outcome.error}"}
    assert outcome.result is not None
    key = "ok" if outcome.result.accepted else "error"
    return {key: f"{outcome.result.status}"}


def _id(value: int) -> int:
    return value if 1 <= value <= INT32 else 0


def routes(router: APIRouter, ctx: DashboardServices) -> None:
    @router.get("/support", response_class=HTMLResponse)
    async def support_page(request: Request, db: Db, staff: Person, q: str = "") -> Response:
        found = await support.search(db, staff.actor, q[:100])
        sessions = await history.rows_of(db, staff.actor, found.sessions) if found.sessions else []
        return render(
            request,
            ctx,
            "support.html",
            staff,
            title_key="support",
            q=q,
            found=found,
            sessions=sessions,
        )

    @router.get("/support/driver/{driver_id}", response_class=HTMLResponse)
    async def driver_page(request: Request, db: Db, staff: Person, driver_id: int) -> Response:
        actor = staff.actor
        driver = await repo.get_driver(db, actor, _id(driver_id))
        memberships = (await repo.memberships_of(db, actor, [driver.id]))[driver.id]
        tags = list(
            (
                await db.execute(repo.id_tokens_query(actor).where(IdToken.user_id == driver.id))
            ).scalars()
        )
        rows, _ = await history.history_page(
            db, actor, SessionFilter(driver_id=driver.id), None, 20
        )
        return render(
            request,
            ctx,
            "driver.html",
            staff,
            title_key="support",
            driver=driver,
            memberships=memberships,
            tags=tags,
            rows=rows,
            payments=await support.payments_of(db, actor, driver.id),
            sms=await support.sms_log(db, actor, driver.id),
            notes=await support.notes(db, actor, user_id=driver.id),
            orgs={
                o.id: o.name for o in (await db.execute(repo.organisations_query(actor))).scalars()
            },
            flash=request.query_params,
        )

    @router.post("/support/driver/{driver_id}/notes")
    async def driver_note(
        db: Db, staff: Person, driver_id: int, text: Annotated[str, Form(max_length=2000)]
    ) -> Response:
        try:
            await support.add_note(db, staff.actor, text, user_id=_id(driver_id))
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, f"/support/driver/{driver_id}", error=error.message)
        return _back(ctx, f"/support/driver/{driver_id}", ok="note")

    @router.post("/history/{session_id}/stop")
    async def stop(db: Db, staff: Person, session_id: int) -> Response:
        where = f"/history/{session_id}"
        try:
            outcome = await support.stop_session(db, staff.actor, ctx.commands, _id(session_id))
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, where, error=error.message)
        return _back(ctx, where, **_outcome(outcome))

    @router.post("/history/{session_id}/unlock")
    async def unlock(db: Db, staff: Person, session_id: int) -> Response:
        where = f"/history/{session_id}"
        try:
            outcome = await support.unlock(db, staff.actor, ctx.commands, _id(session_id))
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, where, error=error.message)
        return _back(ctx, where, **_outcome(outcome))

    @router.post("/history/{session_id}/refund")
    async def refund(
        db: Db,
        staff: Person,
        session_id: int,
        amount: Annotated[str, Form(max_length=20)],
        reason: Annotated[str, Form(max_length=200)],
    ) -> Response:
        where = f"/history/{session_id}"
        try:
            ore = support.ore_from_text(amount)
            await support.refund_session(
                db, staff.actor, ctx.payments, _id(session_id), ore, reason
            )
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, where, error=error.message)
        return _back(ctx, where, ok="refunded")

    @router.post("/history/{session_id}/receipt")
    async def receipt(db: Db, staff: Person, session_id: int) -> Response:
        where = f"/history/{session_id}"
        try:
            phone = await support.resend_receipt(db, staff.actor, ctx.payments, _id(session_id))
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, where, error=error.message)
        return _back(ctx, where, ok=f"receipt {phone}")

    @router.post("/history/{session_id}/notes")
    async def session_note(
        db: Db, staff: Person, session_id: int, text: Annotated[str, Form(max_length=2000)]
    ) -> Response:
        where = f"/history/{session_id}"
        try:
            await support.add_note(db, staff.actor, text, session_id=_id(session_id))
        except OrgError as error:
            if error.status == 404:
                raise
            return _back(ctx, where, error=error.message)
        return _back(ctx, where, ok="note")
