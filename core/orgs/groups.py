"""Customer groups and the one rule that picks a driver's group for a price.

A driver's group at a site at a moment is the group of the membership valid then at that
site: a membership of the site itself before one of its organisation as a whole, then the
one that started last, then the newest. Without one (a guest, a driver without an account,
a member of another organisation, a site the operator owns itself) it is `public`.
Quotes, the app's prices, running costs, final prices and so invoices all come from
`groups_at`, so they agree.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import CustomerGroup, Membership, Site
from core.orgs.errors import Invalid

PUBLIC = "public"
# member, tenant, employee, service car, guest: every organisation has these.
BUILTIN_GROUPS = ("member", "tenant", "employee", "service", "guest")
_ALIASES = {"service car": "service", "service_car": "service", "servicebil": "service"}


def normalize_group(group: str | None) -> str:
    value = " ".join((group or "").strip().lower().split())
    value = _ALIASES.get(value, value)
    return value or PUBLIC


async def defined_groups(session: AsyncSession, organisation_id: int | None) -> list[str]:
    """The groups usable at an organisation: the built-in ones and its own."""
    own: list[str] = []
    if organisation_id is not None:
        own = list(
            (
                await session.execute(
                    select(CustomerGroup.name)
                    .where(CustomerGroup.organisation_id == organisation_id)
                    .order_by(CustomerGroup.name)
                )
            ).scalars()
        )
    return [*BUILTIN_GROUPS, *own]


async def check_group(
    session: AsyncSession, organisation_id: int | None, group: str, *, allow_public: bool
) -> str:
    """The normalised group name, or Invalid for a group the organisation does not have."""
    name = normalize_group(group)
    if name == PUBLIC:
        if allow_public:
            return name
        raise Invalid("`public` is everyone without a membership; choose a group")
    known = await defined_groups(session, organisation_id)
    if name not in known:
        raise Invalid(f"unknown group {group!r}; use one of {', '.join(known)}")
    return name


async def groups_at(
    session: AsyncSession, user_id: int | None, site_ids: Iterable[int | None], at: datetime
) -> dict[int | None, str]:
    """The driver's group at each of these sites at `at` (see the module docstring)."""
    wanted = set(site_ids)
    out: dict[int | None, str] = dict.fromkeys(wanted, PUBLIC)
    real = {s for s in wanted if s is not None}
    if user_id is None or not real:
        return out
    rows = await session.execute(
        select(Site.id, Site.organisation_id).where(
            Site.id.in_(real), Site.organisation_id.is_not(None)
        )
    )
    org_of: dict[int, int] = {site_id: org_id for site_id, org_id in rows if org_id is not None}
    if not org_of:
        return out
    memberships = (
        await session.execute(
            select(Membership).where(
                Membership.user_id == user_id,
                Membership.organisation_id.in_(set(org_of.values())),
                or_(Membership.valid_from.is_(None), Membership.valid_from <= at),
                or_(Membership.valid_to.is_(None), Membership.valid_to > at),
            )
        )
    ).scalars()
    ranked: dict[int, tuple[int, float, int, str]] = {}
    for m in memberships:
        for site_id, org_id in org_of.items():
            if m.organisation_id != org_id or m.site_id not in (None, site_id):
                continue
            started = m.valid_from.timestamp() if m.valid_from else float("-inf")
            rank = (0 if m.site_id == site_id else 1, -started, -m.id, m.group)
            if site_id not in ranked or rank < ranked[site_id]:
                ranked[site_id] = rank
    for site_id, rank in ranked.items():
        out[site_id] = rank[3]
    return out


async def group_at(
    session: AsyncSession, user_id: int | None, site_id: int | None, at: datetime
) -> str:
    return (await groups_at(session, user_id, [site_id], at))[site_id]
