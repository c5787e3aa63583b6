"""Every read that serves staff or an API key, scoped to the actor's organisations.

Each function takes the `Actor` and filters in SQL (`actor.org_filter`), so an object of
another organisation is never loaded: lists leave it out, lookups raise NotFound (404).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Select, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute, selectinload

from core.models import (
    ApiKey,
    AuditEntry,
    Charger,
    ChargingSession,
    IdToken,
    Membership,
    Organisation,
    Site,
    StaffMember,
    StaffRole,
    Tariff,
    TariffAssignment,
    User,
)
from core.orgs.errors import NotFound
from core.orgs.paging import check_limit, decode_cursor, encode_cursor
from core.orgs.scope import Access, Actor

T = TypeVar("T")


async def page(
    session: AsyncSession,
    query: Select[T],
    id_column: InstrumentedAttribute[int],
    cursor: str | None,
    limit: int,
    *,
    newest_first: bool = False,
) -> tuple[list[T], str | None]:
    """Keyset paging on an id column: (rows, cursor of the next page or None)."""
    check_limit(limit)
    after = decode_cursor(cursor)
    if after is not None:
        query = query.where(id_column < after if newest_first else id_column > after)
    query = query.order_by(id_column.desc() if newest_first else id_column).limit(limit + 1)
    rows = list((await session.execute(query)).scalars())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    return rows, encode_cursor(int(getattr(rows[-1], "id")))  # noqa: B009


def _one(row: T | None, what: str) -> T:
    if row is None:
        raise NotFound(f"no {what}")
    return row


# --------------------------------------------------------------------------- organisations


def organisations_query(actor: Actor) -> Select[Organisation]:
    return select(Organisation).where(actor.org_filter(Organisation.id))


async def get_organisation(session: AsyncSession, actor: Actor, org_id: int) -> Organisation:
    found = (
        await session.execute(organisations_query(actor).where(Organisation.id == org_id))
    ).scalar_one_or_none()
    return _one(found, f"organisation {org_id}")


async def find_organisation(session: AsyncSession, actor: Actor, ref: str) -> Organisation:
    """By id, name or organisation number (the CLI's ORG)."""
    text = ref.strip()
    conditions: list[ColumnElement[bool]] = [Organisation.name == text]
    digits = text.replace(" ", "")
    if digits.isdigit():
        conditions.append(Organisation.org_number == digits)
        if len(digits) < 9:
            conditions.append(Organisation.id == int(digits))
    found = (
        await session.execute(organisations_query(actor).where(or_(*conditions)).limit(2))
    ).scalars()
    rows = list(found)
    if len(rows) != 1:
        raise NotFound(f"no organisation {ref!r}")
    return rows[0]


# --------------------------------------------------------------------------- sites


def sites_query(actor: Actor, access: Access = Access.READ) -> Select[Site]:
    return select(Site).where(actor.org_filter(Site.organisation_id, access))


async def get_site(session: AsyncSession, actor: Actor, site_id: int) -> Site:
    found = (
        await session.execute(sites_query(actor).where(Site.id == site_id))
    ).scalar_one_or_none()
    return _one(found, f"site {site_id}")


async def find_site(session: AsyncSession, actor: Actor, ref: str) -> Site:
    text = ref.strip()
    condition: ColumnElement[bool] = Site.name == text
    if text.isdigit():
        condition = or_(condition, Site.id == int(text))
    rows = list((await session.execute(sites_query(actor).where(condition).limit(2))).scalars())
    if len(rows) != 1:
        raise NotFound(f"no site {ref!r}")
    return rows[0]


def visible_site_ids(actor: Actor) -> Select[int]:
    return select(Site.id).where(actor.org_filter(Site.organisation_id))


# --------------------------------------------------------------------------- chargers


def chargers_query(actor: Actor) -> Select[Charger]:
    query = select(Charger).options(selectinload(Charger.connectors))
    if actor.orgs() is None:
        return query
    return query.join(Site, Site.id == Charger.site_id).where(
        actor.org_filter(Site.organisation_id)
    )


async def get_charger(session: AsyncSession, actor: Actor, charger_id: int) -> Charger:
    found = (
        await session.execute(chargers_query(actor).where(Charger.id == charger_id))
    ).scalar_one_or_none()
    return _one(found, f"charger {charger_id}")


async def organisations_of_sites(
    session: AsyncSession, site_ids: Sequence[int | None]
) -> dict[int, int | None]:
    ids = {s for s in site_ids if s is not None}
    if not ids:
        return {}
    rows = await session.execute(select(Site.id, Site.organisation_id).where(Site.id.in_(ids)))
    return {site_id: org_id for site_id, org_id in rows}


# --------------------------------------------------------------------------- people


def memberships_query(actor: Actor) -> Select[Membership]:
    return select(Membership).where(actor.org_filter(Membership.organisation_id))


async def get_membership(session: AsyncSession, actor: Actor, membership_id: int) -> Membership:
    found = (
        await session.execute(memberships_query(actor).where(Membership.id == membership_id))
    ).scalar_one_or_none()
    return _one(found, f"membership {membership_id}")


def _member_of_scope(actor: Actor) -> ColumnElement[bool]:
    if actor.orgs() is None:
        from sqlalchemy import true

        return true()
    return exists().where(
        Membership.user_id == User.id, actor.org_filter(Membership.organisation_id)
    )


def drivers_query(actor: Actor) -> Select[User]:
    """Drivers as members of the actor's organisations (any period): operators see all."""
    return select(User).where(_member_of_scope(actor))


async def get_driver(session: AsyncSession, actor: Actor, driver_id: int) -> User:
    found = (
        await session.execute(drivers_query(actor).where(User.id == driver_id))
    ).scalar_one_or_none()
    return _one(found, f"driver {driver_id}")


async def memberships_of(
    session: AsyncSession, actor: Actor, driver_ids: Sequence[int]
) -> dict[int, list[Membership]]:
    out: dict[int, list[Membership]] = {d: [] for d in driver_ids}
    if not driver_ids:
        return out
    rows = await session.execute(
        memberships_query(actor)
        .where(Membership.user_id.in_(set(driver_ids)))
        .order_by(Membership.id)
    )
    for m in rows.scalars():
        out[m.user_id].append(m)
    return out


def id_tokens_query(actor: Actor) -> Select[IdToken]:
    query = select(IdToken)
    if actor.orgs() is None:
        return query
    return query.join(User, User.id == IdToken.user_id).where(_member_of_scope(actor))


async def get_id_token(session: AsyncSession, actor: Actor, token_id: int) -> IdToken:
    found = (
        await session.execute(id_tokens_query(actor).where(IdToken.id == token_id))
    ).scalar_one_or_none()
    return _one(found, f"id token {token_id}")


# --------------------------------------------------------------------------- prices


def _assignment_in_scope(actor: Actor) -> ColumnElement[bool]:
    """Assignments at a site or charger the actor can see."""
    charger_sites = select(Charger.id).where(Charger.site_id.in_(visible_site_ids(actor)))
    return or_(
        TariffAssignment.site_id.in_(visible_site_ids(actor)),
        TariffAssignment.charger_id.in_(charger_sites),
    )


def tariffs_query(actor: Actor) -> Select[Tariff]:
    """The actor's organisations' own tariffs, and any tariff in force at their sites."""
    query = select(Tariff).options(selectinload(Tariff.components))
    if actor.orgs() is None:
        return query
    used_here = exists().where(TariffAssignment.tariff_id == Tariff.id, _assignment_in_scope(actor))
    return query.where(or_(actor.org_filter(Tariff.organisation_id), used_here))


async def get_tariff(session: AsyncSession, actor: Actor, tariff_id: int) -> Tariff:
    found = (
        await session.execute(tariffs_query(actor).where(Tariff.id == tariff_id))
    ).scalar_one_or_none()
    return _one(found, f"tariff {tariff_id}")


def assignments_query(actor: Actor) -> Select[TariffAssignment]:
    query = select(TariffAssignment)
    if actor.orgs() is None:
        return query
    return query.where(_assignment_in_scope(actor))


async def get_assignment(
    session: AsyncSession, actor: Actor, assignment_id: int
) -> TariffAssignment:
    found = (
        await session.execute(assignments_query(actor).where(TariffAssignment.id == assignment_id))
    ).scalar_one_or_none()
    return _one(found, f"tariff assignment {assignment_id}")


# --------------------------------------------------------------------------- sessions


def sessions_query(actor: Actor) -> Select[ChargingSession]:
    """Sessions at the actor's sites (a member's sessions elsewhere are not theirs)."""
    query = select(ChargingSession)
    if actor.orgs() is None:
        return query
    chargers = select(Charger.id).where(Charger.site_id.in_(visible_site_ids(actor)))
    return query.where(ChargingSession.charger_id.in_(chargers))


async def get_session(session: AsyncSession, actor: Actor, session_id: int) -> ChargingSession:
    found = (
        await session.execute(sessions_query(actor).where(ChargingSession.id == session_id))
    ).scalar_one_or_none()
    return _one(found, f"session {session_id}")


async def session_places(
    session: AsyncSession, charger_ids: Sequence[int]
) -> dict[int, tuple[str, int | None]]:
    """charger id → (charge point id, site id), for presenting sessions."""
    if not charger_ids:
        return {}
    rows = await session.execute(
        select(Charger.id, Charger.charge_point_id, Charger.site_id).where(
            Charger.id.in_(set(charger_ids))
        )
    )
    return {cid: (cp, site) for cid, cp, site in rows}


# --------------------------------------------------------------------------- access


def audit_query(actor: Actor) -> Select[AuditEntry]:
    return select(AuditEntry).where(actor.org_filter(AuditEntry.organisation_id, Access.AUDIT))


def api_keys_query(actor: Actor) -> Select[ApiKey]:
    return select(ApiKey).where(actor.org_filter(ApiKey.organisation_id, Access.WRITE))


async def get_api_key(session: AsyncSession, actor: Actor, key_id: int) -> ApiKey:
    found = (
        await session.execute(api_keys_query(actor).where(ApiKey.id == key_id))
    ).scalar_one_or_none()
    return _one(found, f"API key {key_id}")


async def staff_roles(session: AsyncSession, staff_id: int) -> list[StaffRole]:
    return list(
        (
            await session.execute(
                select(StaffRole).where(StaffRole.staff_id == staff_id).order_by(StaffRole.id)
            )
        ).scalars()
    )


async def staff_by_identity(session: AsyncSession, identity: str) -> StaffMember | None:
    return (
        await session.execute(
            select(StaffMember).where(
                or_(StaffMember.email == identity, StaffMember.phone == identity)
            )
        )
    ).scalar_one_or_none()


def in_period(column: Any, start: datetime | None, end: datetime | None) -> list[Any]:
    out = []
    if start is not None:
        out.append(column >= start)
    if end is not None:
        out.append(column < end)
    return out
