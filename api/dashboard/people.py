"""Page 5, People: an organisation's members with their groups, validity and tags; add one
by phone (and invite them by SMS with the app link); bulk import from CSV with a row-by-row
report (core.orgs.importer); a membership's page to change or end it, invite again, and
manage the person's RFID tags. Every change is a core.orgs call (scoped, audited)."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.dashboard.base import DashboardServices, Db, Person, render
from core.models import IdToken, Membership, Organisation, User
from core.orgs import importer, invites, service
from core.orgs import repository as repo
from core.orgs.errors import NotFound, OrgError
from core.orgs.groups import defined_groups
from core.orgs.schemas import IdTokenIn, IdTokenPatch, MembershipIn, MembershipPatch
from core.orgs.scope import Actor
from core.timeutil import OSLO

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
        pairs = [(m, u) for m, u in rows]
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
    membership_routes(router, ctx)

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
        invite: Annotated[str, Form(max_length=3)] = "",
    ) -> Response:
        back = f"{ctx.base}/people?org={organisation}&"
        try:
            added = await service.add_membership(
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
            if invite == "yes":
                await invites.invite(db, staff.actor, ctx.settings, added.id)
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


def _go(ctx: DashboardServices, membership_id: int, **flash: str) -> Response:
    return RedirectResponse(
        f"{ctx.base}/people/memberships/{membership_id}?{urlencode(flash)}", status_code=303
    )


def membership_routes(router: APIRouter, ctx: DashboardServices) -> None:
    """A membership's page: change or end it, invite by SMS, the person's RFID tags."""

    async def attempt(membership_id: int, work: Any, ok: str) -> Response:
        try:
            result = await work()
        except OrgError as error:
            if error.status == 404:
                raise
            return _go(ctx, membership_id, error=error.message)
        except ValueError as error:
            return _go(ctx, membership_id, error=str(error).splitlines()[0])
        if result is None:  # a membership that had not begun is gone
            return RedirectResponse(f"{ctx.base}/people?{urlencode({'ok': ok})}", status_code=303)
        return _go(ctx, membership_id, ok=ok)

    @router.get("/people/memberships/{membership_id}", response_class=HTMLResponse)
    async def membership_page(
        request: Request, db: Db, staff: Person, membership_id: int
    ) -> Response:
        actor = staff.actor
        m = await repo.get_membership(db, actor, _id(membership_id))
        user = await repo.get_driver(db, actor, m.user_id)
        tags = list(
            (
                await db.execute(
                    repo.id_tokens_query(actor)
                    .where(IdToken.user_id == user.id)
                    .order_by(IdToken.id)
                )
            ).scalars()
        )
        others = [
            x for x in (await repo.memberships_of(db, actor, [user.id]))[user.id] if x.id != m.id
        ]
        return render(
            request,
            ctx,
            "membership.html",
            staff,
            title_key="people",
            m=m,
            person=user,
            tags=tags,
            others=others,
            org=await repo.get_organisation(db, actor, m.organisation_id),
            groups=await defined_groups(db, m.organisation_id),
            oslo=OSLO,
            flash=request.query_params,
        )

    @router.post("/people/memberships/{membership_id}")
    async def change(
        db: Db,
        staff: Person,
        membership_id: int,
        group: Annotated[str, Form(max_length=40)],
        valid_from: Annotated[str, Form(max_length=10)] = "",
        valid_to: Annotated[str, Form(max_length=10)] = "",
        reference: Annotated[str, Form(max_length=60)] = "",
    ) -> Response:
        async def work() -> object:
            return await service.update_membership(
                db,
                staff.actor,
                _id(membership_id),
                MembershipPatch(
                    group=group,
                    valid_from=importer.parse_when(valid_from),
                    valid_to=importer.parse_when(valid_to),
                    reference=reference,
                ),
            )

        return await attempt(membership_id, work, "changed")

    @router.post("/people/memberships/{membership_id}/end")
    async def end(db: Db, staff: Person, membership_id: int) -> Response:
        async def work() -> object:
            return await service.end_membership(db, staff.actor, _id(membership_id))

        return await attempt(membership_id, work, "ended")

    @router.post("/people/memberships/{membership_id}/invite")
    async def invite(db: Db, staff: Person, membership_id: int) -> Response:
        async def work() -> object:
            return await invites.invite(db, staff.actor, ctx.settings, _id(membership_id))

        return await attempt(membership_id, work, "invited")

    @router.post("/people/memberships/{membership_id}/tags")
    async def add_tag(
        db: Db,
        staff: Person,
        membership_id: int,
        token: Annotated[str, Form(max_length=20)],
        label: Annotated[str, Form(max_length=80)] = "",
    ) -> Response:
        async def work() -> object:
            m = await repo.get_membership(db, staff.actor, _id(membership_id))
            return await service.add_id_token(
                db, staff.actor, IdTokenIn(driver_id=m.user_id, token=token.strip(), label=label)
            )

        return await attempt(membership_id, work, token.strip().upper())

    @router.post("/people/memberships/{membership_id}/tags/{token_id}")
    async def change_tag(
        db: Db,
        staff: Person,
        membership_id: int,
        token_id: int,
        status: Annotated[str, Form(max_length=10)],
    ) -> Response:
        async def work() -> object:
            m = await repo.get_membership(db, staff.actor, _id(membership_id))
            tag = await repo.get_id_token(db, staff.actor, _id(token_id))
            if tag.user_id != m.user_id:
                raise NotFound(f"no tag {token_id} of this member")
            return await service.update_id_token(
                db,
                staff.actor,
                tag.id,
                IdTokenPatch(status="blocked" if status == "blocked" else "active"),
            )

        return await attempt(membership_id, work, status)


def _id(value: int) -> int:
    return value if 1 <= value <= 2**31 - 1 else 0
