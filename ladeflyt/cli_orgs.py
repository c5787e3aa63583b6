"""`ladeflyt org|site|member|staff|apikey`: organisations, their sites and members, staff
and API keys. The CLI acts as the operator (it has the database); every change is audited."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.models import ApiKey, Membership, Organisation, Role, Site, StaffMember, StaffRole, User
from core.orgs import apikeys, importer, repository, service, staff, totp
from core.orgs.errors import OrgError
from core.orgs.importer import parse_when
from core.orgs.schemas import ApiKeyIn, GroupIn, MembershipIn, OrganisationIn, SiteIn
from core.timeutil import OSLO, utcnow
from core.users.auth import load_secret
from ladeflyt.console import cli_actor as _actor
from ladeflyt.console import in_transaction as _run

T = TypeVar("T")
__all__ = ["OrgError", "register", "site_subparsers"]  # OrgError: exit code 2 in cli.main

ROLES = [r.value for r in Role]


def _local(value: Any) -> str:
    return "-" if value is None else f"{value.astimezone(OSLO):%Y-%m-%d %H:%M}"


# --------------------------------------------------------------------------- org


def cmd_org_add(args: argparse.Namespace, settings: Settings) -> None:
    data = OrganisationIn(
        name=args.name,
        org_number=args.org_number,
        kind=args.kind,
        street=args.street,
        postal_code=args.postal_code,
        city=args.city,
        contact_name=args.contact_name,
        contact_email=args.contact_email,
        contact_phone=args.contact_phone,
    )

    async def work(session: AsyncSession) -> Organisation:
        return await service.create_organisation(session, _actor(), data)

    org = _run(settings, work)
    number = f" (org. nr. {org.org_number})" if org.org_number else ""
    print(f"organisation {org.id} {org.name}{number} added")


def cmd_org_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[tuple[Organisation, int, int]]:
        orgs = list(
            (
                await session.execute(
                    repository.organisations_query(_actor()).order_by(Organisation.name)
                )
            ).scalars()
        )
        out = []
        for org in orgs:
            sites = len(
                list(
                    (
                        await session.execute(select(Site.id).where(Site.organisation_id == org.id))
                    ).scalars()
                )
            )
            members = len(
                set(
                    (
                        await session.execute(
                            select(Membership.user_id).where(Membership.organisation_id == org.id)
                        )
                    ).scalars()
                )
            )
            out.append((org, sites, members))
        return out

    rows = _run(settings, work)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": o.id,
                        "name": o.name,
                        "org_number": o.org_number,
                        "kind": o.kind,
                        "sites": s,
                        "members": m,
                    }
                    for o, s, m in rows
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    if not rows:
        print("no organisations")
        return
    print(f"{'id':>4}  {'name':<32} {'org. nr.':<10} {'kind':<12} {'sites':>5} {'members':>7}")
    for o, s, m in rows:
        print(f"{o.id:>4}  {o.name:<32} {o.org_number or '-':<10} {o.kind:<12} {s:>5} {m:>7}")


def cmd_org_group_add(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> str:
        org = await repository.find_organisation(session, _actor(), args.org)
        group = await service.add_group(
            session, _actor(), org.id, GroupIn(name=args.name, description=args.description)
        )
        return f"group {group.name} added to {org.name}"

    print(_run(settings, work))


# --------------------------------------------------------------------------- site


def site_subparsers(sub: Any) -> Any:
    """The subcommands of `ladeflyt site`, made once per parser: other modules register
    theirs on it (e.g. `site power`), before or after this one. Kept on the parser itself
    (an id()-keyed registry would hand a new parser a dead one's subcommands)."""
    existing = getattr(sub, "ladeflyt_site_commands", None)
    if existing is None:
        parser = sub.add_parser("site", help="sites (places with chargers)")
        existing = parser.add_subparsers(dest="site_command", required=True)
        sub.ladeflyt_site_commands = existing
    return existing


def cmd_site_add(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> tuple[Site, str]:
        actor = _actor()
        org = await repository.find_organisation(session, actor, args.org)
        site = await service.create_site(
            session,
            actor,
            SiteIn(
                name=args.name,
                organisation_id=org.id,
                address=args.address,
                postal_code=args.postal_code,
                city=args.city,
                latitude=args.lat,
                longitude=args.lon,
                public=not args.private,
                list_price_ore_per_kwh=args.list_price,
            ),
        )
        return site, org.name

    site, org_name = _run(settings, work)
    print(f"site {site.id} {site.name} added to {org_name}")


def cmd_site_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[tuple[Site, str]]:
        actor = _actor()
        query = select(Site, Organisation.name).outerjoin(
            Organisation, Organisation.id == Site.organisation_id
        )
        if args.org:
            org = await repository.find_organisation(session, actor, args.org)
            query = query.where(Site.organisation_id == org.id)
        return [(s, n or "(operator)") for s, n in await session.execute(query.order_by(Site.name))]

    rows = _run(settings, work)
    if not rows:
        print("no sites")
        return
    print(f"{'id':>4}  {'site':<28} {'organisation':<28} address")
    for s, org_name in rows:
        place = ", ".join(p for p in (s.address, s.city) if p)
        print(f"{s.id:>4}  {s.name:<28} {org_name:<28} {place}")


# --------------------------------------------------------------------------- member


def cmd_member_add(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> str:
        actor = _actor()
        org = await repository.find_organisation(session, actor, args.org)
        site_id = None
        if args.site:
            site_id = (await repository.find_site(session, actor, args.site)).id
        m = await service.add_membership(
            session,
            actor,
            MembershipIn(
                organisation_id=org.id,
                site_id=site_id,
                group=args.group,
                phone=args.phone,
                name=args.name,
                valid_from=parse_when(args.valid_from),
                valid_to=parse_when(args.valid_to),
                reference=args.ref,
            ),
        )
        user = await session.get_one(User, m.user_id)
        where = f" at {args.site}" if args.site else ""
        return f"{user.phone} is {m.group} of {org.name}{where} (membership {m.id})"

    print(_run(settings, work))


def cmd_member_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[tuple[Membership, User, str | None]]:
        actor = _actor()
        org = await repository.find_organisation(session, actor, args.org)
        query = (
            select(Membership, User, Site.name)
            .join(User, User.id == Membership.user_id)
            .outerjoin(Site, Site.id == Membership.site_id)
            .where(Membership.organisation_id == org.id)
            .order_by(User.phone, Membership.id)
        )
        rows: list[tuple[Membership, User, str | None]] = [
            (m, u, s) for m, u, s in await session.execute(query)
        ]
        if not args.all:
            now = utcnow()
            rows = [r for r in rows if r[0].valid_to is None or r[0].valid_to > now]
        return rows

    rows = _run(settings, work)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "id": m.id,
                        "phone": u.phone,
                        "name": u.name,
                        "group": m.group,
                        "site": s,
                        "valid_from": m.valid_from.isoformat() if m.valid_from else None,
                        "valid_to": m.valid_to.isoformat() if m.valid_to else None,
                        "reference": m.reference,
                    }
                    for m, u, s in rows
                ],
                indent=2,
                ensure_ascii=False,
            )
        )
        return
    if not rows:
        print("no members")
        return
    print(
        f"{'id':>5}  {'phone':<13} {'name':<22} {'group':<10} {'site':<18} "
        f"{'from':<16} {'to':<16} ref"
    )
    for m, u, s in rows:
        print(
            f"{m.id:>5}  {u.phone:<13} {u.name[:22]:<22} {m.group:<10} {s or '(all)':<18} "
            f"{_local(m.valid_from):<16} {_local(m.valid_to):<16} {m.reference}"
        )


def cmd_member_remove(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[str]:
        actor = _actor()
        org = await repository.find_organisation(session, actor, args.org)
        site_id = (await repository.find_site(session, actor, args.site)).id if args.site else None
        found = await service.find_memberships(
            session, actor, org.id, args.phone, group=args.group, site_id=site_id
        )
        now = utcnow()
        current = [m for m in found if m.valid_to is None or m.valid_to > now]
        if not current:
            raise OrgError(f"{args.phone} has no current membership of {org.name}")
        done = []
        for m in current:
            ended = await service.end_membership(session, actor, m.id, now)
            done.append(
                f"membership {m.id} ({m.group}) "
                + ("ended" if ended is not None else "deleted (had not started)")
            )
        return done

    for line in _run(settings, work):
        print(line)


def cmd_member_import(args: argparse.Namespace, settings: Settings) -> None:
    path = Path(args.file)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as error:
        raise OrgError(f"cannot read {path}: {error}") from None
    rows = importer.read_csv(text)
    step = max(len(rows) // 20, 1)

    def progress(done: int, total: int) -> None:
        if done % step == 0 or done == total:
            print(f"\r{done}/{total} rows", end="" if done < total else "\n", file=sys.stderr)

    async def work(session: AsyncSession) -> importer.ImportReport:
        actor = _actor()
        org = await repository.find_organisation(session, actor, args.org)
        return await importer.import_members(session, actor, org.id, rows, progress)

    report = _run(settings, work)
    print(f"{report.imported} of {report.total} rows imported, {len(report.rejected)} rejected")
    for r in report.rejected:
        print(f"  line {r.line} ({r.phone or 'no phone'}): {r.reason}")


# --------------------------------------------------------------------------- staff


def cmd_staff_add(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> tuple[staff.StaffAdded, str | None]:
        actor = _actor()
        org_id = None
        if args.org:
            org_id = (await repository.find_organisation(session, actor, args.org)).id
        added = await staff.add_staff(session, actor, args.identity, args.role, org_id, args.name)
        uri = (
            totp.provisioning_uri(load_secret(settings), added.staff)
            if added.totp_created
            else None
        )
        return added, uri

    added, uri = _run(settings, work)
    who = added.staff.email or added.staff.phone
    where = f" in organisation {added.role.organisation_id}" if added.role.organisation_id else ""
    print(f"{who} is {added.role.role}{where}")
    if uri:
        print("Second factor (shown once): add this to an authenticator app, e.g. as a QR code:")
        print(f"  {uri}")


def cmd_staff_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[tuple[StaffMember, list[str]]]:
        people = list(
            (await session.execute(select(StaffMember).order_by(StaffMember.id))).scalars()
        )
        out = []
        for p in people:
            roles = await session.execute(
                select(StaffRole.role, Organisation.name)
                .outerjoin(Organisation, Organisation.id == StaffRole.organisation_id)
                .where(StaffRole.staff_id == p.id)
            )
            out.append((p, [f"{r}@{o}" if o else r for r, o in roles]))
        return out

    for person, roles in _run(settings, work):
        totp_state = "totp" if person.totp_confirmed_at else "-"
        print(
            f"{person.id:>4}  {person.email or person.phone:<32} {totp_state:<5} "
            f"{', '.join(roles) or '(no roles)'}"
        )


# --------------------------------------------------------------------------- apikey


def cmd_apikey_create(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> Any:
        actor = _actor()
        org_id = None
        if args.org:
            org_id = (await repository.find_organisation(session, actor, args.org)).id
        return await apikeys.create_key(
            session, actor, ApiKeyIn(role=Role(args.role), organisation_id=org_id, name=args.name)
        )

    created = _run(settings, work)
    print(created.key)
    print(
        f"API key {created.id} ({created.role}"
        + (f", organisation {created.organisation_id}" if created.organisation_id else "")
        + "): shown only now; store it safely. Use it as `Authorization: Bearer <key>`.",
        file=sys.stderr,
    )


def cmd_apikey_list(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> list[tuple[ApiKey, str | None]]:
        actor = _actor()
        query = select(ApiKey, Organisation.name).outerjoin(
            Organisation, Organisation.id == ApiKey.organisation_id
        )
        if args.org:
            org = await repository.find_organisation(session, actor, args.org)
            query = query.where(ApiKey.organisation_id == org.id)
        return [(k, n) for k, n in await session.execute(query.order_by(ApiKey.id))]

    rows = _run(settings, work)
    if not rows:
        print("no API keys")
        return
    print(
        f"{'id':>4}  {'prefix':<16} {'role':<17} {'organisation':<24} {'last used':<16} state  name"
    )
    for k, org_name in rows:
        state = "revoked" if k.revoked_at else "active"
        print(
            f"{k.id:>4}  lf_{k.prefix:<13} {k.role:<17} {org_name or '(operator)':<24} "
            f"{_local(k.last_used_at):<16} {state:<6} {k.name}"
        )


def cmd_apikey_revoke(args: argparse.Namespace, settings: Settings) -> None:
    async def work(session: AsyncSession) -> ApiKey:
        actor = _actor()
        key = await apikeys.find_key(session, actor, args.key)
        return await apikeys.revoke_key(session, actor, key.id)

    key = _run(settings, work)
    print(f"API key {key.id} (lf_{key.prefix}) revoked")


# --------------------------------------------------------------------------- parser


def register(sub: Any) -> None:
    """Add the organisation commands to the `ladeflyt` parser's subcommands."""
    org = sub.add_parser("org", help="organisations").add_subparsers(dest="oc", required=True)
    p = org.add_parser("add", help="add an organisation (borettslag, sameie, business...)")
    p.add_argument("name")
    p.add_argument("--org-number", default=None, help="organisasjonsnummer (9 digits, MOD11)")
    p.add_argument(
        "--kind",
        default="other",
        choices=["borettslag", "sameie", "business", "municipality", "operator", "other"],
    )
    p.add_argument("--street", default="")
    p.add_argument("--postal-code", default="")
    p.add_argument("--city", default="")
    p.add_argument("--contact-name", default="")
    p.add_argument("--contact-email", default=None)
    p.add_argument("--contact-phone", default=None)
    p.set_defaults(func=cmd_org_add)
    p = org.add_parser("list", help="list organisations")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_org_list)
    p = org.add_parser("group-add", help="define a customer group of an organisation's own")
    p.add_argument("org", help="organisation name, number or id")
    p.add_argument("name")
    p.add_argument("--description", default="")
    p.set_defaults(func=cmd_org_group_add)

    site = site_subparsers(sub)
    p = site.add_parser("add", help="add a site to an organisation")
    p.add_argument("name")
    p.add_argument("--org", required=True, help="organisation name, number or id")
    p.add_argument("--lat", type=float, default=None)
    p.add_argument("--lon", type=float, default=None)
    p.add_argument("--address", default="")
    p.add_argument("--postal-code", default="")
    p.add_argument("--city", default="")
    p.add_argument("--private", action="store_true", help="not shown on the public map")
    p.add_argument("--list-price", type=int, default=None, help="øre/kWh incl. VAT")
    p.set_defaults(func=cmd_site_add)
    p = site.add_parser("list", help="list sites")
    p.add_argument("--org", default=None)
    p.set_defaults(func=cmd_site_list)

    member = sub.add_parser("member", help="memberships").add_subparsers(dest="mc", required=True)
    p = member.add_parser("add", help="make a driver (by phone) a member in a group")
    p.add_argument("phone")
    p.add_argument("--org", required=True, help="organisation name, number or id")
    p.add_argument("--site", default=None, help="only at this site (default: all its sites)")
    p.add_argument("--group", required=True, help="member, tenant, employee, service, guest...")
    p.add_argument("--from", dest="valid_from", default=None, help="date or time (Oslo)")
    p.add_argument("--to", dest="valid_to", default=None, help="date or time (Oslo), exclusive")
    p.add_argument("--ref", default="", help="apartment number, employee number...")
    p.add_argument("--name", default="", help="the driver's name, if new")
    p.set_defaults(func=cmd_member_add)
    p = member.add_parser("list", help="list an organisation's members")
    p.add_argument("--org", required=True)
    p.add_argument("--all", action="store_true", help="also ended memberships")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_member_list)
    p = member.add_parser("remove", help="end a driver's memberships now")
    p.add_argument("phone")
    p.add_argument("--org", required=True)
    p.add_argument("--group", default=None, help="only this group")
    p.add_argument("--site", default=None, help="only memberships of this site")
    p.set_defaults(func=cmd_member_remove)
    p = member.add_parser("import", help="import memberships from CSV (phone,group,site,...)")
    p.add_argument("--org", required=True)
    p.add_argument("file")
    p.set_defaults(func=cmd_member_import)

    people = sub.add_parser("staff", help="staff and roles").add_subparsers(
        dest="stc", required=True
    )
    p = people.add_parser("add", help="give a person (e-mail or phone) a role")
    p.add_argument("identity", metavar="EMAIL-OR-PHONE")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--org", default=None, help="for org_admin and org_viewer")
    p.add_argument("--name", default="")
    p.set_defaults(func=cmd_staff_add)
    p = people.add_parser("list", help="list staff and their roles")
    p.set_defaults(func=cmd_staff_list)

    key = sub.add_parser("apikey", help="operator API keys").add_subparsers(
        dest="kc", required=True
    )
    p = key.add_parser("create", help="create an API key (printed once)")
    p.add_argument("--role", required=True, choices=ROLES)
    p.add_argument("--org", default=None, help="for org_admin and org_viewer keys")
    p.add_argument("--name", default="")
    p.set_defaults(func=cmd_apikey_create)
    p = key.add_parser("list", help="list API keys (never the keys themselves)")
    p.add_argument("--org", default=None)
    p.set_defaults(func=cmd_apikey_list)
    p = key.add_parser("revoke", help="revoke an API key")
    p.add_argument("key", help="id, prefix or the key")
    p.set_defaults(func=cmd_apikey_revoke)
