"""Page 5, People: an organisation's members with their groups, validity and tags; add one
by phone; bulk import from CSV with a row-by-row report (core.orgs.importer)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dashboard.base import DashboardServices, Db, Person, render
from core.models import IdToken, Membership, Organisation, User
from core.orgs import importer, service
from core.orgs import repository as repo
from core.orgs.errors import OrgError
from core.orgs.groups import defined_groups
from core.orgs.schemas import MembershipIn
from core.orgs.scope import Actor

MAX_UPLOAD = 5 * 1024 * 1024


async def _page_values(db: Db, actor: Actor, org_id: int | None) -> dict[str, Any]:
    orgs = list(
        (await db.execute(repo.organisations_query(actor).order_by(Organisation.name))).scalars()
    )
    org = next((o for o in orgs if o.id == org_id), orgs[0] if orgs else None)
    members: list[tuple[Membership, User, int]] = []
    groups: list[str] = []
    if org is not None:
        rows = await db.execute(
            repo.memberships_query(actor)
            .where(Membership.organisation_id == org.id)
            .join(User, User.id == Membership.user_id)
            .add_columns(User)
            .order_by(User.name, Membership.id)
            .limit(1000)
        )
        pairs = [(m, u) for m, u in rows.tuples()]
        tags: dict[int, int] = {}
        for token in (
            await db.execute(
                repo.id_tokens_query(actor).where(IdToken.user_id.in_({u.id for _, u in pairs}))
            )
        ).scalars():
            tags[token.user_id or 0] = tags.get(token.user_id or 0, 0) + 1
        members = [(m, u, tags.get(u.id, 0)) for m, u in pairs]
        groups = await defined_groups(db, org.id)
    return {"orgs": orgs, "org": org, "members": members, "groups": groups}


def routes(router: APIRouter, ctx: DashboardServices) -> None:
    @router.get("/people", response_class=HTMLResponse)
    async def people_page(
        request: Request, db: Db, staff: Person, org: int | None = None
    ) -> Response:
        values = await _page_values(db, staff.actor, org)
        return render(
            request,
            ctx,
            "people.html",
            staff,
            title_key="people",
            flash=request.query_params,
            **values,
        )

    @router.post("/people/members")
    async def add_member(
        db: Db,
        staff: Person,
        organisation: Annotated[int, Form()],
        phone: Annotated[str, Form(max_length=20)],
        group: Annotated[str, Form(max_length=40)],
        name: Annotated[str, Form(max_length=120)] = "",
        valid_from: Annotated[str, Form(max_length=10)] = "",
        valid_to: Annotated[str, Form(max_length=10)] = "",
        reference: Annotated[str, Form(max_length=60)] = "",
    ) -> Response:
        back = f"{ctx.base}/people?org={organisation}&"
        try:
            await service.add_membership(
                db,
                staff.actor,
                MembershipIn(
                    organisation_id=organisation,
                    phone=phone,
                    name=name,
                    group=group,
                    valid_from=importer.parse_when(valid_from),
                    valid_to=importer.parse_when(valid_to),
                    reference=reference,
                ),
            )
        except OrgError as error:
            if error.status == 404:
                raise
            return RedirectResponse(back + urlencode({"error": error.message}), status_code=303)
        except ValueError as error:
            return RedirectResponse(
                back + urlencode({"error": str(error).splitlines()[0]}), status_code=303
            )
        return RedirectResponse(back + urlencode({"ok": phone}), status_code=303)

    @router.post("/people/import", response_class=HTMLResponse)
    async def import_members(
        request: Request,
        db: Db,
        staff: Person,
        organisation: Annotated[int, Form()],
        file: Annotated[UploadFile, File()],
    ) -> Response:
        data = await file.read(MAX_UPLOAD + 1)
        report: importer.ImportReport | None = None
        error = None
        if len(data) > MAX_UPLOAD:
            error = "the file is larger than 5 MB"
        else:
            try:
                rows = importer.read_csv(data.decode("utf-8-sig", errors="replace"))
                report = await importer.import_members(db, staff.actor, organisation, rows)
            except OrgError as exc:
                if exc.status == 404:
                    raise
                error = exc.message
        values = await _page_values(db, staff.actor, organisation)
        return render(
            request,
            ctx,
            "people.html",
            staff,
            title_key="people",
            report=report,
            import_error=error,
            flash={},
            **values,
        )
