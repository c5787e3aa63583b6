"""Receipts: what a session sold, as bokføringsforskriften § 5-1-1 asks of a sales document
(number, date, seller and organisation number, what was delivered where, quantity and unit
price per component, VAT), and their links: /receipts/<session>?t=<token>, the token an
HMAC of the session id, so a link works without signing in and cannot be guessed for
someone else's session.

The receipt's number is the session's id: one sequence the operator can account for, one
number per session whether it was paid by card, Vipps, invoice, or not at all."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.config import Settings
from core.models import Charger, ChargingSession, Payment, SessionStatus, Site, V2gCredit
from core.payments.service import payment_for_session
from core.sessions.costs import session_cost
from core.tariffs.schemas import CostLine
from core.users.auth import load_secret


def receipt_token(settings: Settings, session_id: int) -> str:
    key = load_secret(settings).encode()
    return hmac.new(key, f"receipt:{session_id}".encode(), hashlib.sha256).hexdigest()[:32]


def receipt_url(settings: Settings, session_id: int) -> str:
    base = settings.public_base_url.rstrip("/")
    return f"{base}/receipts/{session_id}?t={receipt_token(settings, session_id)}"


def token_ok(settings: Settings, session_id: int, token: str) -> bool:
    return hmac.compare_digest(receipt_token(settings, session_id).encode(), token.encode())


VAT_PERCENT = 25  # core.tariffs.engine.VAT_RATE


@dataclass(frozen=True)
class Receipt:
    session_id: int  # also the receipt's number
    charger_code: str
    site_name: str | None
    site_address: str | None
    evse_id: int | None
    started_at: datetime
    stopped_at: datetime | None
    energy_wh: int
    lines: list[CostLine]
    net_ore: int
    vat_ore: int
    total_ore: int
    paid_ore: int
    method: str | None
    completed: bool
    # V2G: energy the car gave back, and what it earns the owner (credited on the next
    # invoice); None when nothing was given back or the credit is not settled yet.
    energy_exported_wh: int = 0
    v2g_credit_ore: int | None = None


async def receipt(session: AsyncSession, session_id: int) -> Receipt | None:
    cs = await session.get(ChargingSession, session_id)
    if cs is None:
        return None
    charger = await session.get_one(Charger, cs.charger_id)
    site = await session.get(Site, charger.site_id) if charger.site_id is not None else None
    breakdown = await session_cost(session, cs)
    payment: Payment | None = await payment_for_session(session, cs)
    return Receipt(
        session_id=cs.id,
        charger_code=charger.public_code or charger.charge_point_id,
        site_name=site.name if site else None,
        site_address=site.address if site else None,
        evse_id=cs.evse_id,
        started_at=cs.started_at,
        stopped_at=cs.stopped_at,
        energy_wh=cs.energy_wh,
        lines=breakdown.lines if breakdown else [],
        net_ore=breakdown.net_ore if breakdown else 0,
        vat_ore=breakdown.vat_ore if breakdown else 0,
        total_ore=breakdown.total_ore if breakdown else 0,
        paid_ore=payment.amount_captured_ore if payment else 0,
        method=payment.method if payment else None,
        completed=cs.status == SessionStatus.COMPLETED.value,
        energy_exported_wh=cs.energy_exported_wh or 0,
        v2g_credit_ore=await v2g_credit_ore(session, cs),
    )


async def v2g_credits_ore(session: AsyncSession, rows: Sequence[ChargingSession]) -> dict[int, int]:
    """The V2G credits of a page of sessions, by session id (one query, none if no
    session on the page gave energy back)."""
    ids = [cs.id for cs in rows if cs.energy_exported_wh]
    if not ids:
        return {}
    found = await session.execute(
        select(V2gCredit.session_id, V2gCredit.credit_ore).where(V2gCredit.session_id.in_(ids))
    )
    return {session_id: int(credit) for session_id, credit in found.all()}


async def v2g_credit_ore(session: AsyncSession, cs: ChargingSession) -> int | None:
    """The owner's credit for the energy this session gave back (None: none, or not yet)."""
    if not cs.energy_exported_wh:
        return None
    return (
        await session.execute(select(V2gCredit.credit_ore).where(V2gCredit.session_id == cs.id))
    ).scalar_one_or_none()
