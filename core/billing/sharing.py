"""Cost sharing in a housing cooperative: a site's electricity bill split by metered energy.

Each user's share is amount x their energy / all energy at the site's chargers in the
period (completed sessions that stopped in it). Shares are whole øre by the largest
remainder method: everyone gets the rounded-down share, and the øre left over go one each
to the largest remainders (ties: more energy first, then lower user id), so the shares
always add up to the bill exactly and no share is off by more than one øre. Energy from
sessions without a known user (unregistered tags) gets a share of its own (user None) that
the cooperative carries, rather than being spread over the members.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.billing.errors import BillingError
from core.billing.periods import PeriodError, period_bounds
from core.billing.schemas import BillShare, BillSplit
from core.models import (
    Charger,
    ChargingSession,
    ElectricityBill,
    ElectricityBillShare,
    SessionStatus,
    User,
)
from core.models.infrastructure import Site


def split_by_energy(amount_ore: int, energies: Sequence[int]) -> list[int]:
    """Whole-øre shares of `amount_ore` proportional to `energies`, summing to it exactly."""
    total = sum(energies)
    if amount_ore < 0 or any(e < 0 for e in energies):
        raise ValueError("amounts and energies are not negative")
    if total == 0:
        raise ValueError("no energy to split by")
    exact = [Fraction(amount_ore * e, total) for e in energies]
    shares = [int(x) for x in exact]  # floor: all are >= 0
    left = amount_ore - sum(shares)
    order = sorted(range(len(energies)), key=lambda i: (-(exact[i] - shares[i]), -energies[i], i))
    for i in order[:left]:
        shares[i] += 1
    return shares


@dataclass(frozen=True)
class ShareLine:
    user_id: int | None  # None: energy no user can be billed for
    energy_wh: int
    amount_ore: int


async def compute_split(
    session: AsyncSession, site: Site, period: str, amount_ore: int
) -> list[ShareLine]:
    """The shares of a site's bill for a month, not stored (a preview): known users by id,
    the unattributed energy last."""
    try:
        start, end = period_bounds(period.strip())
    except PeriodError as exc:
        raise BillingError(str(exc)) from None
    if amount_ore < 0:
        raise BillingError("an electricity bill is not negative")
    usage = (
        await session.execute(
            select(ChargingSession.user_id, func.sum(ChargingSession.energy_wh))
            .join(Charger, Charger.id == ChargingSession.charger_id)
            .where(
                Charger.site_id == site.id,
                ChargingSession.status == SessionStatus.COMPLETED.value,
                ChargingSession.stopped_at >= start,
                ChargingSession.stopped_at < end,
            )
            .group_by(ChargingSession.user_id)
        )
    ).all()
    rows = sorted(
        ((user_id, int(wh or 0)) for user_id, wh in usage if wh),
        key=lambda r: (r[0] is None, r[0] or 0),
    )
    if not rows:
        raise BillingError(f"no metered energy at {site.name} in {period.strip()}")
    amounts = split_by_energy(amount_ore, [wh for _, wh in rows])
    return [
        ShareLine(user_id, wh, amount) for (user_id, wh), amount in zip(rows, amounts, strict=True)
    ]


async def share_bill(
    session: AsyncSession,
    site: str,
    period: str,
    amount_ore: int,
    *,
    replace: bool = False,
) -> BillSplit:
    """Split a site's electricity bill for a month between its users; stored per site and
    period (`replace` to redo it, e.g. after a corrected bill)."""
    period = period.strip()
    try:
        period_bounds(period)
    except PeriodError as exc:
        raise BillingError(str(exc)) from None
    if amount_ore < 0:
        raise BillingError("an electricity bill is not negative")
    site_row = (await session.execute(select(Site).where(Site.name == site))).scalar_one_or_none()
    if site_row is None:
        raise BillingError(f"no site {site!r}")
    existing = (
        await session.execute(
            select(ElectricityBill).where(
                ElectricityBill.site_id == site_row.id, ElectricityBill.period == period
            )
        )
    ).scalar_one_or_none()
    if existing is not None:
        if not replace:
            raise BillingError(f"the bill for {site} {period} is split already (use --replace)")
        await session.delete(existing)
        await session.flush()
    lines = await compute_split(session, site_row, period, amount_ore)
    bill = ElectricityBill(
        site_id=site_row.id,
        period=period,
        amount_ore=amount_ore,
        energy_wh=sum(line.energy_wh for line in lines),
    )
    session.add(bill)
    await session.flush()
    for line in lines:
        session.add(
            ElectricityBillShare(
                bill_id=bill.id,
                user_id=line.user_id,
                energy_wh=line.energy_wh,
                amount_ore=line.amount_ore,
            )
        )
    await session.flush()
    found = await get_bill_split(session, site, period)
    assert found is not None
    return found


async def get_bill_split(session: AsyncSession, site: str, period: str) -> BillSplit | None:
    row = (
        await session.execute(
            select(ElectricityBill)
            .options(selectinload(ElectricityBill.shares))
            .join(Site, Site.id == ElectricityBill.site_id)
            .where(Site.name == site, ElectricityBill.period == period)
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if row is None:
        return None
    user_ids = [s.user_id for s in row.shares if s.user_id is not None]
    names = {
        uid: name or phone
        for uid, name, phone in await session.execute(
            select(User.id, User.name, User.phone).where(User.id.in_(user_ids))
        )
    }
    return BillSplit(
        id=row.id,
        site=site,
        period=period,
        amount_ore=row.amount_ore,
        energy_wh=row.energy_wh,
        shares=[
            BillShare(
                s.user_id,
                names.get(s.user_id, "") if s.user_id else "(ukjent bruker)",
                s.energy_wh,
                s.amount_ore,
            )
            for s in row.shares
        ],
    )
