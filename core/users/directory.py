"""The operator's list of drivers: who they are, how they pay, where they are members."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import IdToken, Membership, Organisation, PaymentMethod, Site, User


@dataclass(frozen=True)
class DriverRow:
    user: User
    pays_by: str  # invoice | card | vipps | - (nothing saved)
    tags: int
    memberships: list[str]  # "member of Solsiden borettslag", current ones only


async def list_drivers(
    session: AsyncSession,
    *,
    search: str | None = None,
    organisation_id: int | None = None,
    at: datetime,
    limit: int = 500,
) -> list[DriverRow]:
    """Drivers by phone number, with what each one pays by, their tags and their current
    memberships; four queries whatever the number of rows."""
    query = select(User).order_by(User.phone).limit(limit)
    if search:
        like = f"%{search.strip().lower()}%"
        query = query.where(
            or_(
                func.lower(User.name).like(like),
                func.lower(User.phone).like(like),
                func.lower(func.coalesce(User.email, "")).like(like),
            )
        )
    if organisation_id is not None:
        query = query.where(
            User.id.in_(
                select(Membership.user_id).where(Membership.organisation_id == organisation_id)
            )
        )
    users = list((await session.execute(query)).scalars())
    ids = [u.id for u in users]
    if not ids:
        return []
    tags: dict[int | None, int] = {
        user_id: count
        for user_id, count in await session.execute(
            select(IdToken.user_id, func.count(IdToken.id))
            .where(IdToken.user_id.in_(ids))
            .group_by(IdToken.user_id)
        )
    }
    methods: dict[int, set[str]] = defaultdict(set)
    for user_id, kind in await session.execute(
        select(PaymentMethod.user_id, PaymentMethod.kind).where(PaymentMethod.user_id.in_(ids))
    ):
        methods[user_id].add(kind)
    members: dict[int, list[str]] = defaultdict(list)
    rows = await session.execute(
        select(Membership.user_id, Membership.group, Organisation.name, Site.name)
        .join(Organisation, Organisation.id == Membership.organisation_id)
        .outerjoin(Site, Site.id == Membership.site_id)
        .where(
            Membership.user_id.in_(ids),
            or_(Membership.valid_from.is_(None), Membership.valid_from <= at),
            or_(Membership.valid_to.is_(None), Membership.valid_to > at),
        )
        .order_by(Organisation.name, Membership.id)
    )
    for user_id, group, org_name, site_name in rows:
        members[user_id].append(
            f"{group} of {org_name}" + (f" at {site_name}" if site_name else "")
        )
    return [
        DriverRow(
            user=u,
            pays_by="invoice"
            if u.invoice_billing
            else "card"
            if "card" in methods[u.id]
            else "vipps"
            if "vipps" in methods[u.id]
            else "-",
            tags=int(tags.get(u.id, 0)),
            memberships=members[u.id],
        )
        for u in users
    ]
