"""`ladeflyt payments check`: every finished session settled once, and energy, price and
money collected agreeing with each other.

A finished session (completed longer ago than the grace period the settlement job needs)
is a problem when:
- it has no settlement (not settled, unpriced, or its capture failed);
- its money disagrees with its price: a paid session whose captures differ from its cost,
  a partly paid one, a free or invoiced one that money was also taken for, an invoiced one
  whose invoice lines do not add up to its cost;
- its price disagrees with its energy (the meter moved after the price was used).
Captured money that belongs to no session is a problem too. Sessions settled as UNPAID
(nobody could be charged, with the reason) are listed, but are not a fault of the books.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import (
    ChargingSession,
    InvoiceLine,
    Payment,
    SessionStatus,
    SettlementState,
)
from core.payments.settlement import UNSETTLED
from core.timeutil import utcnow


@dataclass(frozen=True)
class Finding:
    session_id: int | None
    kind: str  # not_settled | money_mismatch | energy_mismatch | unpaid | orphan_money
    detail: str


@dataclass
class AuditReport:
    checked: int = 0
    findings: list[Finding] = field(default_factory=list)

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.kind != "unpaid"]

    @property
    def unpaid(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "unpaid"]

    @property
    def clean(self) -> bool:
        return not self.problems


_MONEY_STATES = (SettlementState.PAID.value, SettlementState.PARTIALLY_PAID.value)
_NO_MONEY_STATES = (
    SettlementState.NOTHING_DUE.value,
    SettlementState.TO_INVOICE.value,
    SettlementState.INVOICED.value,
    SettlementState.UNPAID.value,
)


async def _rows(
    session: AsyncSession, before: datetime, page: int = 2_000
) -> AsyncIterator[tuple[ChargingSession, int, int | None]]:
    collected = (
        select(
            Payment.session_id.label("sid"),
            func.sum(Payment.amount_captured_ore).label("captured"),
        )
        .where(Payment.purpose == "session", Payment.session_id.is_not(None))
        .group_by(Payment.session_id)
        .subquery()
    )
    invoiced = (
        select(
            InvoiceLine.session_id.label("sid"),
            func.sum(InvoiceLine.total_ore).label("billed"),
        )
        .where(InvoiceLine.session_id.is_not(None))
        .group_by(InvoiceLine.session_id)
        .subquery()
    )
    last = 0
    while True:
        rows = (
            await session.execute(
                select(
                    ChargingSession,
                    func.coalesce(collected.c.captured, 0),
                    invoiced.c.billed,
                )
                .outerjoin(collected, collected.c.sid == ChargingSession.id)
                .outerjoin(invoiced, invoiced.c.sid == ChargingSession.id)
                .where(
                    ChargingSession.status == SessionStatus.COMPLETED.value,
                    ChargingSession.stopped_at < before,
                    ChargingSession.id > last,
                )
                .order_by(ChargingSession.id)
                .limit(page)
            )
        ).all()
        if not rows:
            return
        for cs, captured, billed in rows:
            yield cs, int(captured), int(billed) if billed is not None else None
        last = rows[-1][0].id
        session.expunge_all()


def _check(cs: ChargingSession, captured: int, billed: int | None) -> list[Finding]:
    state, cost = cs.payment_state, cs.cost_ore
    found: list[Finding] = []

    def add(kind: str, detail: str) -> None:
        found.append(Finding(cs.id, kind, detail))

    if state in UNSETTLED:
        add("not_settled", f"no settlement ({state}); cost {cost} øre, collected {captured} øre")
        return found
    if state == SettlementState.UNPAID.value:
        add("unpaid", f"unpaid: {cs.payment_note or 'no reason recorded'}; cost {cost} øre")
    if state in _MONEY_STATES and captured != (cost or 0):
        add("money_mismatch", f"{state}: cost {cost} øre, collected {captured} øre")
    if state in _NO_MONEY_STATES and captured:
        add("money_mismatch", f"{state}, yet {captured} øre was collected")
    if state == SettlementState.NOTHING_DUE.value and (cost or 0) != 0:
        add("money_mismatch", f"nothing_due, but the cost is {cost} øre")
    if state == SettlementState.INVOICED.value and billed != cost:
        add("money_mismatch", f"invoiced {billed} øre for a cost of {cost} øre")
    priced_wh = (cs.cost_breakdown or {}).get("energy_wh")
    if priced_wh is not None and priced_wh != cs.energy_wh:
        add("energy_mismatch", f"priced for {priced_wh} Wh, metered {cs.energy_wh} Wh")
    return found


async def audit(
    session: AsyncSession, *, grace: timedelta = timedelta(minutes=10), now: datetime | None = None
) -> AuditReport:
    """Check every session that finished more than `grace` ago."""
    before = (now or utcnow()) - grace
    report = AuditReport()
    async for cs, captured, billed in _rows(session, before):
        report.checked += 1
        report.findings.extend(_check(cs, captured, billed))
    orphans = await session.execute(
        select(Payment.reference, Payment.amount_captured_ore).where(
            Payment.purpose == "session",
            Payment.session_id.is_(None),
            Payment.amount_captured_ore > 0,
        )
    )
    for reference, amount in orphans:
        report.findings.append(
            Finding(None, "orphan_money", f"{reference}: {amount} øre captured for no session")
        )
    return report
