"""Changes to organisations, their groups, sites, memberships, drivers and RFID tags.

Each function takes the acting `Actor`, finds the object through the scoped repository
(another organisation's object is NotFound), checks the role, changes it, and writes an
audit entry in the same transaction. Services flush; the caller's transaction commits.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import CustomerGroup, IdToken, IdTokenKind, Membership, Organisation, Site, User
from core.orgs import repository as repo
from core.orgs.audit import record, snapshot
from core.orgs.errors import Conflict, Forbidden, Invalid, NotFound
from core.orgs.groups import BUILTIN_GROUPS, check_group, defined_groups, normalize_group
from core.orgs.orgnumber import normalize_org_number
from core.orgs.schemas import (
    GroupIn,
    GroupOut,
    IdTokenIn,
    IdTokenPatch,
    MembershipIn,
    MembershipPatch,
    OrganisationIn,
    OrganisationPatch,
    SiteIn,
    SitePatch,
)
from core.orgs.scope import Access, Actor
from core.timeutil import utcnow
from core.users.service import UserError, normalize_phone, normalize_token

# --------------------------------------------------------------------------- organisations


async def _name_free(
    session: AsyncSession, name: str, number: str | None, except_id: int | None = None
) -> None:
    taken = (
        await session.execute(select(Organisation.id).where(Organisation.name == name))
    ).scalar()
    if taken is not None and taken != except_id:
        raise Conflict(f"an organisation named {name!r} exists already")
    if number is not None:
        taken = (
            await session.execute(select(Organisation.id).where(Organisation.org_number == number))
        ).scalar()
        if taken is not None and taken != except_id:
            raise Conflict(f"an organisation with number {number} exists already")


async def create_organisation(
    session: AsyncSession, actor: Actor, data: OrganisationIn
) -> Organisation:
    actor.require(Access.OPERATOR, None, "organisation")
    number = normalize_org_number(data.org_number)
    await _name_free(session, data.name, number)
    org = Organisation(**{**data.model_dump(), "org_number": number})
    session.add(org)
    await session.flush()
    await record(
        session, actor, "organisation.create", "organisation", org.id, org.id, after=snapshot(org)
    )
    return org


async def update_organisation(
    session: AsyncSession, actor: Actor, org_id: int, patch: OrganisationPatch
) -> Organisation:
    org = await repo.get_organisation(session, actor, org_id)
    actor.require(Access.WRITE, org.id, "organisation")
    before = snapshot(org)
    changes = patch.model_dump(exclude_unset=True)
    if "org_number" in changes:
        changes["org_number"] = normalize_org_number(changes["org_number"])
    if changes.get("name") is None:
        changes.pop("name", None)
    if changes.get("kind") is None:
        changes.pop("kind", None)
    await _name_free(
        session, changes.get("name", org.name), changes.get("org_number", org.org_number), org.id
    )
    for key, value in changes.items():
        setattr(org, key, "" if value is None and key in _NOT_NULL_TEXT else value)
    await session.flush()
    await record(
        session,
        actor,
        "organisation.update",
        "organisation",
        org.id,
        org.id,
        before=before,
        after=snapshot(org),
    )
    return org


_NOT_NULL_TEXT = {"street", "postal_code", "city", "contact_name"}


async def list_groups(session: AsyncSession, actor: Actor, org_id: int) -> list[GroupOut]:
    org = await repo.get_organisation(session, actor, org_id)
    own = {
        g.name: g
        for g in (
            await session.execute(
                select(CustomerGroup).where(CustomerGroup.organisation_id == org.id)
            )
        ).scalars()
    }
    return [
        GroupOut(
            name=name,
            description=own[name].description if name in own else "",
            builtin=name in BUILTIN_GROUPS,
        )
        for name in await defined_groups(session, org.id)
    ]


async def add_group(session: AsyncSession, actor: Actor, org_id: int, data: GroupIn) -> GroupOut:
    org = await repo.get_organisation(session, actor, org_id)
    actor.require(Access.WRITE, org.id, "organisation")
    name = normalize_group(data.name)
    if name == "public" or not name.replace(" ", "").replace("-", "").replace("_", "").isalnum():
        raise Invalid("a group name is letters, digits, spaces, - and _, and not `public`")
    if name in await defined_groups(session, org.id):
        raise Conflict(f"{org.name} has a group {name!r} already")
    group = CustomerGroup(organisation_id=org.id, name=name, description=data.description)
    session.add(group)
    await session.flush()
    await record(session, actor, "group.create", "group", group.id, org.id, after=snapshot(group))
    return GroupOut(name=name, description=data.description, builtin=False)


# --------------------------------------------------------------------------- sites


async def _target_org(session: AsyncSession, actor: Actor, org_id: int | None) -> int | None:
    """An organisation the actor may add things to (None: the operator's own)."""
    if org_id is None:
        actor.require(Access.OPERATOR, None, "organisation")
        return None
    org = await repo.get_organisation(session, actor, org_id)
    actor.require(Access.WRITE, org.id, "organisation")
    return org.id


async def create_site(session: AsyncSession, actor: Actor, data: SiteIn) -> Site:
    org_id = await _target_org(session, actor, data.organisation_id)
    if (await session.execute(select(Site.id).where(Site.name == data.name))).first():
        raise Conflict(f"a site named {data.name!r} exists already")
    site = Site(**{**data.model_dump(), "organisation_id": org_id})
    session.add(site)
    await session.flush()
    await record(session, actor, "site.create", "site", site.id, org_id, after=snapshot(site))
    return site


async def update_site(session: AsyncSession, actor: Actor, site_id: int, patch: SitePatch) -> Site:
    site = await repo.get_site(session, actor, site_id)
    actor.require(Access.WRITE, site.organisation_id, "site")
    before = snapshot(site)
    changes = patch.model_dump(exclude_unset=True)
    if "organisation_id" in changes:
        # Moving a site between organisations is the operator's decision.
        actor.require(Access.OPERATOR, None, "site")
        changes["organisation_id"] = await _target_org(session, actor, changes["organisation_id"])
    for key in ("name", "public", "address", "postal_code", "city"):
        if key in changes and changes[key] is None:
            del changes[key]
    if "name" in changes:
        taken = (
            await session.execute(select(Site.id).where(Site.name == changes["name"]))
        ).scalar()
        if taken is not None and taken != site.id:
            raise Conflict(f"a site named {changes['name']!r} exists already")
    for key, value in changes.items():
        setattr(site, key, value)
    await session.flush()
    await record(
        session,
        actor,
        "site.update",
        "site",
        site.id,
        site.organisation_id,
        before=before,
        after=snapshot(site),
    )
    return site


# --------------------------------------------------------------------------- memberships


def _check_period(valid_from: datetime | None, valid_to: datetime | None) -> None:
    for value in (valid_from, valid_to):
        if value is not None and value.tzinfo is None:
            raise Invalid("times need a UTC offset, e.g. 2026-03-01T00:00:00+01:00")
    if valid_from is not None and valid_to is not None and valid_to <= valid_from:
        raise Invalid("a membership ends after it starts")


async def _driver_for(session: AsyncSession, actor: Actor, data: MembershipIn) -> tuple[User, bool]:
    """The driver to enrol: an existing one the actor can see, or one found or created by
    phone (a phone number is how organisations know their members)."""
    if (data.driver_id is None) == (data.phone is None):
        raise Invalid("give either driver_id or phone")
    if data.driver_id is not None:
        return await repo.get_driver(session, actor, data.driver_id), False
    assert data.phone is not None
    try:
        phone = normalize_phone(data.phone)
    except UserError as error:
        raise Invalid(str(error)) from None
    user = (await session.execute(select(User).where(User.phone == phone))).scalar_one_or_none()
    if user is not None:
        return user, False
    user = User(phone=phone, name=data.name)
    session.add(user)
    await session.flush()
    return user, True


async def add_membership(session: AsyncSession, actor: Actor, data: MembershipIn) -> Membership:
    org = await repo.get_organisation(session, actor, data.organisation_id)
    actor.require(Access.WRITE, org.id, "organisation")
    site_id = None
    if data.site_id is not None:
        site = await repo.get_site(session, actor, data.site_id)
        if site.organisation_id != org.id:
            raise NotFound(f"no site {data.site_id} in {org.name}")
        site_id = site.id
    group = await check_group(session, org.id, data.group, allow_public=False)
    _check_period(data.valid_from, data.valid_to)
    user, created = await _driver_for(session, actor, data)
    if created:
        await record(
            session,
            actor,
            "driver.create",
            "driver",
            user.id,
            org.id,
            after={"phone": user.phone, "name": user.name},
        )
    membership = Membership(
        user_id=user.id,
        organisation_id=org.id,
        site_id=site_id,
        group=group,
        valid_from=data.valid_from,
        valid_to=data.valid_to,
        reference=data.reference,
    )
    session.add(membership)
    await session.flush()
    await record(
        session,
        actor,
        "membership.create",
        "membership",
        membership.id,
        org.id,
        after=snapshot(membership),
    )
    return membership


async def update_membership(
    session: AsyncSession, actor: Actor, membership_id: int, patch: MembershipPatch
) -> Membership:
    m = await repo.get_membership(session, actor, membership_id)
    actor.require(Access.WRITE, m.organisation_id, "membership")
    before = snapshot(m)
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("group") is not None:
        m.group = await check_group(
            session, m.organisation_id, changes["group"], allow_public=False
        )
    if "site_id" in changes:
        if changes["site_id"] is None:
            m.site_id = None
        else:
            site = await repo.get_site(session, actor, changes["site_id"])
            if site.organisation_id != m.organisation_id:
                raise NotFound(f"no site {changes['site_id']} in this organisation")
            m.site_id = site.id
    if changes.get("reference") is not None:
        m.reference = changes["reference"]
    valid_from = changes.get("valid_from", m.valid_from)
    valid_to = changes.get("valid_to", m.valid_to)
    _check_period(valid_from, valid_to)
    m.valid_from, m.valid_to = valid_from, valid_to
    await session.flush()
    await record(
        session,
        actor,
        "membership.update",
        "membership",
        m.id,
        m.organisation_id,
        before=before,
        after=snapshot(m),
    )
    return m


async def end_membership(
    session: AsyncSession, actor: Actor, membership_id: int, at: datetime | None = None
) -> Membership | None:
    """End a membership now: sessions before keep the group they had. One that has not
    started yet is deleted (returns None)."""
    m = await repo.get_membership(session, actor, membership_id)
    actor.require(Access.WRITE, m.organisation_id, "membership")
    before = snapshot(m)
    now = at or utcnow()
    if m.valid_from is not None and m.valid_from >= now:
        await session.delete(m)
        await session.flush()
        await record(
            session,
            actor,
            "membership.delete",
            "membership",
            membership_id,
            before["organisation_id"] if before else None,
            before=before,
        )
        return None
    if m.valid_to is None or m.valid_to > now:
        m.valid_to = now
    await session.flush()
    await record(
        session,
        actor,
        "membership.end",
        "membership",
        m.id,
        m.organisation_id,
        before=before,
        after=snapshot(m),
    )
    return m


async def find_memberships(
    session: AsyncSession,
    actor: Actor,
    org_id: int,
    phone: str,
    *,
    group: str | None = None,
    site_id: int | None = None,
    active_at: datetime | None = None,
) -> list[Membership]:
    """A driver's memberships at an organisation, by phone (for `member remove`)."""
    try:
        number = normalize_phone(phone)
    except UserError as error:
        raise Invalid(str(error)) from None
    query = (
        repo.memberships_query(actor)
        .join(User, User.id == Membership.user_id)
        .where(Membership.organisation_id == org_id, User.phone == number)
    )
    if group is not None:
        query = query.where(Membership.group == normalize_group(group))
    if site_id is not None:
        query = query.where(Membership.site_id == site_id)
    rows = list((await session.execute(query.order_by(Membership.id))).scalars())
    if active_at is not None:
        rows = [
            m
            for m in rows
            if (m.valid_from is None or m.valid_from <= active_at)
            and (m.valid_to is None or m.valid_to > active_at)
        ]
    return rows


# --------------------------------------------------------------------------- RFID tags


async def _driver_orgs(session: AsyncSession, actor: Actor, user_id: int) -> set[int]:
    """The actor's organisations this driver is a member of."""
    rows = await session.execute(
        select(Membership.organisation_id).where(
            Membership.user_id == user_id, actor.org_filter(Membership.organisation_id)
        )
    )
    return set(rows.scalars())


async def _require_driver_write(session: AsyncSession, actor: Actor, user_id: int) -> int | None:
    """May the actor manage this (visible) driver's tags? Returns the organisation logged."""
    if actor.can(Access.WRITE, None):
        orgs = await _driver_orgs(session, actor, user_id)
        return min(orgs) if len(orgs) == 1 else None
    writable = await _driver_orgs(session, actor, user_id) & (actor.orgs(Access.WRITE) or set())
    if not writable:
        raise Forbidden("your role does not allow this (write)")
    return min(writable)


async def require_driver_write(session: AsyncSession, actor: Actor, user_id: int) -> int | None:
    """May the actor manage this (visible) driver's tokens and contracts? Returns the
    organisation to log the change under."""
    return await _require_driver_write(session, actor, user_id)


async def add_id_token(session: AsyncSession, actor: Actor, data: IdTokenIn) -> IdToken:
    user = await repo.get_driver(session, actor, data.driver_id)
    org_id = await _require_driver_write(session, actor, user.id)
    value = normalize_token(data.token)
    if (await session.execute(select(IdToken.id).where(IdToken.token == value))).first():
        raise Conflict(f"the RFID tag {value} is registered already")
    token = IdToken(
        token=value,
        kind=IdTokenKind.RFID.value,
        label=data.label,
        expires_at=data.expires_at,
        user_id=user.id,
    )
    session.add(token)
    await session.flush()
    await record(
        session, actor, "id_token.create", "id_token", token.id, org_id, after=snapshot(token)
    )
    return token


async def update_id_token(
    session: AsyncSession, actor: Actor, token_id: int, patch: IdTokenPatch
) -> IdToken:
    token = await repo.get_id_token(session, actor, token_id)
    if token.user_id is None:
        actor.require(Access.OPERATOR, None, "id token")
        org_id = None
    else:
        org_id = await _require_driver_write(session, actor, token.user_id)
    before = snapshot(token)
    changes = patch.model_dump(exclude_unset=True)
    if changes.get("status") is not None:
        token.status = changes["status"]
    if changes.get("label") is not None:
        token.label = changes["label"]
    if "expires_at" in changes:
        token.expires_at = changes["expires_at"]
    await session.flush()
    await record(
        session,
        actor,
        "id_token.update",
        "id_token",
        token.id,
        org_id,
        before=before,
        after=snapshot(token),
    )
    return token
