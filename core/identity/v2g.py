"""V2G settlement: energy a car delivered back in a session, paid to its owner.

The export register (Energy.Active.Export.Register) is sampled in the session's meter
values; each rise between two samples is priced at the spot price of the quarter hour the
rise began in, minus the operator's margin, and never below zero. The credit is the sum,
rounded once to whole øre (half up), so it is exact however many samples there are. It is
stored once per session (V2gCredit) and credited on the driver's next invoice.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import insert_ignore
from core.models import ChargingSession, MeterSample, SpotPrice, V2gCredit


@dataclass(frozen=True)
class CreditLine:
    starts_at: datetime
    wh: int
    ore_per_kwh: Decimal
    ore: Decimal


@dataclass(frozen=True)
class ExportCredit:
    energy_wh: int
    credit_ore: int
    lines: list[CreditLine]


class SpotPriceMissing(Exception):
    """No spot price for a quarter hour the car exported in: settle later."""


def quarter(at: datetime) -> datetime:
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


async def export_credit(
    session: AsyncSession, cs: ChargingSession, area: str, margin_ore_per_kwh: int
) -> ExportCredit:
    samples: list[tuple[datetime, int]] = [
        (at, int(wh))
        for at, wh in (
            await session.execute(
                select(MeterSample.sampled_at, MeterSample.energy_export_wh)
                .where(MeterSample.session_id == cs.id, MeterSample.energy_export_wh.is_not(None))
                .order_by(MeterSample.sampled_at, MeterSample.id)
            )
        ).all()
        if wh is not None
    ]
    rises: dict[datetime, int] = {}
    for (before_at, before), (_, after) in itertools.pairwise(samples):
        if after > before:
            start = quarter(before_at)
            rises[start] = rises.get(start, 0) + (after - before)
    if not rises:
        return ExportCredit(0, 0, [])
    prices = {
        starts_at: Decimal(price)
        for starts_at, price in (
            await session.execute(
                select(SpotPrice.starts_at, SpotPrice.price_ore_per_kwh).where(
                    SpotPrice.area == area,
                    SpotPrice.starts_at >= min(rises),
                    SpotPrice.starts_at <= max(rises) + timedelta(minutes=15),
                )
            )
        ).all()
    }
    lines = []
    for starts_at in sorted(rises):
        if starts_at not in prices:
            raise SpotPriceMissing(f"no {area} spot price for {starts_at.isoformat()}")
        rate = max(prices[starts_at] - margin_ore_per_kwh, Decimal(0))
        wh = rises[starts_at]
        lines.append(CreditLine(starts_at, wh, rate, Decimal(wh) * rate / 1000))
    total = sum((line.ore for line in lines), Decimal(0))
    return ExportCredit(
        energy_wh=sum(rises.values()),
        credit_ore=int(total.quantize(Decimal(1), rounding=ROUND_HALF_UP)),
        lines=lines,
    )


async def record_credit(
    session: AsyncSession, cs: ChargingSession, area: str, margin_ore_per_kwh: int
) -> V2gCredit | None:
    """Store the session's credit once (a repeated settlement stores nothing new)."""
    if not cs.energy_exported_wh:
        return None
    credit = await export_credit(session, cs, area, margin_ore_per_kwh)
    await session.execute(
        insert_ignore(session, V2gCredit).values(
            session_id=cs.id,
            user_id=cs.user_id,
            energy_wh=credit.energy_wh,
            credit_ore=credit.credit_ore,
            lines=[
                {
                    "starts_at": line.starts_at.isoformat(),
                    "wh": line.wh,
                    "ore_per_kwh": _plain(line.ore_per_kwh),
                    "ore": _plain(line.ore),
                }
                for line in credit.lines
            ],
        )
    )
    return (
        await session.execute(select(V2gCredit).where(V2gCredit.session_id == cs.id))
    ).scalar_one()


def _plain(value: Decimal) -> str:
    return format(value.normalize(), "f")
