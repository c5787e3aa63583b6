"""Cost sharing as staff see it (dashboard page 4): a site's electricity bill for a month,
split by metered energy (core.billing.sharing, as `ladeflyt share-bill`): a preview that
stores nothing, publishing (stored and audited, as the split of record) and the history of
published splits. Scoped: an organisation's staff see their own sites' bills, and names
only of their own members (others' shares are listed without a name)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.billing import sharing
from core.billing.errors import BillingError
from core.models import ElectricityBill, ElectricityBillShare, Site, User
from core.orgs import repository as repo
from core.orgs.audit import record
from core.orgs.errors import Conflict, Invalid, NotFound
from core.orgs.history import month as canonical_month
from core.orgs.scope import Access, Actor


@dataclass(frozen=True)
class Share:
    user_id: int | None  # None: energy of tags without a driver (the site carries it)
    name: str  # "" for a driver who is not the actor's member
    energy_wh: int
    amount_ore: int


@dataclass(frozen=True)
class Split:
    site: Site
    period: str
    amount_ore: int
    energy_wh: int
    shares: list[Share]
    bill_id: int | None = None  # None: a preview
    published_at: datetime | None = None


@dataclass(frozen=True)
class Published:
    bill_id: int
    site: str
    period: str
    amount_ore: int
    energy_wh: int
    shares: int
    published_at: datetime


async def _names(session: AsyncSession, actor: Actor, user_ids: list[int]) -> dict[int, str]:
    if not user_ids:
        return {}
    rows = await session.execute(
        repo.drivers_query(actor)
        .with_only_columns(User.id, User.name, User.phone)
        .where(User.id.in_(user_ids))
    )
    return {uid: name or phone for uid, name, phone in rows}


async def _shares(
    session: AsyncSession, actor: Actor, lines: list[tuple[int | None, int, int]]
) -> list[Share]:
    names = await _names(session, actor, [u for u, _, _ in lines if u is not None])
    return [
        Share(user_id, names.get(user_id, "") if user_id else "", wh, amount)
        for user_id, wh, amount in lines
    ]


async def preview(
    session: AsyncSession, actor: Actor, site_id: int, period: str, amount_ore: int
) -> Split:
    """What publishing would store, computed now (nothing is written)."""
    site = await repo.get_site(session, actor, site_id)
    month = canonical_month(period)
    try:
        lines = await sharing.compute_split(session, site, month, amount_ore)
    except BillingError as error:
        raise Invalid(str(error)) from None
    shares = await _shares(session, actor, [(x.user_id, x.energy_wh, x.amount_ore) for x in lines])
    return Split(site, month, amount_ore, sum(x.energy_wh for x in lines), shares)


async def _published_id(session: AsyncSession, site_id: int, period: str) -> int | None:
    return (
        await session.execute(
            select(ElectricityBill.id).where(
                ElectricityBill.site_id == site_id, ElectricityBill.period == period
            )
        )
    ).scalar()


async def publish(
    session: AsyncSession,
    actor: Actor,
    site_id: int,
    period: str,
    amount_ore: int,
    *,
    replace: bool = False,
) -> Split:
    """Store the split as the site's for the month (replacing a published one only when
    asked: a corrected bill); audited with the amounts."""
    site = await repo.get_site(session, actor, site_id)
    actor.require(Access.WRITE, site.organisation_id, "site")
    month = canonical_month(period)
    before = await _published_id(session, site.id, month)
    if before is not None and not replace:
        raise Conflict(f"the bill for {site.name} {month} is published already")
    try:
        split = await sharing.share_bill(session, site.name, month, amount_ore, replace=replace)
    except BillingError as error:
        raise Invalid(str(error)) from None
    await record(
        session,
        actor,
        "bill.share",
        "electricity_bill",
        split.id,
        site.organisation_id,
        after={
            "site": site.name,
            "period": month,
            "amount_ore": amount_ore,
            "energy_wh": split.energy_wh,
            "shares": [[s.user_id, s.energy_wh, s.amount_ore] for s in split.shares],
            "replaced": before is not None,
        },
    )
    return await published(session, actor, split.id)


async def published(session: AsyncSession, actor: Actor, bill_id: int) -> Split:
    """A published split (NotFound for one at a site the actor cannot see)."""
    bill = (
        await session.execute(
            select(ElectricityBill)
            .options(selectinload(ElectricityBill.shares))
            .where(
                ElectricityBill.id == bill_id,
                ElectricityBill.site_id.in_(repo.visible_site_ids(actor)),
            )
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if bill is None:
        raise NotFound(f"no electricity bill {bill_id}")
    site = await session.get_one(Site, bill.site_id)
    shares = await _shares(
        session, actor, [(s.user_id, s.energy_wh, s.amount_ore) for s in bill.shares]
    )
    return Split(
        site, bill.period, bill.amount_ore, bill.energy_wh, shares, bill.id, bill.created_at
    )


async def history(
    session: AsyncSession, actor: Actor, site_id: int | None = None, limit: int = 100
) -> list[Published]:
    """Published splits at the actor's sites (one site if asked), newest month first."""
    query = (
        select(
            ElectricityBill.id,
            Site.name,
            ElectricityBill.period,
            ElectricityBill.amount_ore,
            ElectricityBill.energy_wh,
            func.count(ElectricityBillShare.id),
            ElectricityBill.created_at,
        )
        .join(Site, Site.id == ElectricityBill.site_id)
        .outerjoin(ElectricityBillShare, ElectricityBillShare.bill_id == ElectricityBill.id)
        .where(ElectricityBill.site_id.in_(repo.visible_site_ids(actor)))
        .group_by(ElectricityBill.id, Site.name)
        .order_by(ElectricityBill.period.desc(), Site.name)
        .limit(limit)
    )
    if site_id is not None:
        await repo.get_site(session, actor, site_id)
        query = query.where(ElectricityBill.site_id == site_id)
    return [Published(*row) for row in await session.execute(query)]
