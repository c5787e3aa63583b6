"""A session's life outside the charger's own messages.

- A start the CSMS asks for (app, SMS, guest link) exists at once as a STARTING session, so
  the driver can follow it from the first second. The charger's StartTransaction /
  TransactionEvent then turns that very row ACTIVE (core.sessions.service adopts it); a
  start the charger refuses, or never reports, ends FAILED with a reason, and its hold is
  released.
- A session whose charger falls silent is SUSPENDED after `session_suspend_after_s`, turned
  ACTIVE again by the next word about it, and otherwise completed on the evidence (the last
  meter reading) after `session_settle_after_s` or before its hold lapses, so it is priced
  and settled rather than left open forever.
- When a charger reconnects, its open sessions are checked with it (2.x
  GetTransactionStatus; 1.6 a triggered MeterValues per connector).
"""

from __future__ import annotations

import logging
import secrets
import uuid
from dataclasses import replace
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core import bus
from core.chargers.service import charger_topic
from core.db import transaction
from core.models import (
    OPEN_STATUSES,
    Charger,
    ChargingSession,
    Connector,
    ConnectorStatus,
    Payment,
    SessionStatus,
)
from core.payments.service import Payments, release
from core.ports import PaymentState
from core.sessions import driver
from core.sessions.service import EVIDENCE_STOP, session_event, session_topic
from core.tariffs.service import price_completed_session
from core.timeutil import utcnow

log = logging.getLogger(__name__)

# Connector states in which no car can be charging.
_IDLE = frozenset(
    {
        ConnectorStatus.AVAILABLE.value,
        ConnectorStatus.UNAVAILABLE.value,
        ConnectorStatus.FAULTED.value,
    }
)


def new_remote_start_id() -> int:
    return secrets.randbelow(2**31 - 1) + 1


async def open_starting(
    session: AsyncSession,
    *,
    connector: Connector,
    user_id: int | None,
    id_token_pk: int,
    id_token: str,
    channel: str,
    at: datetime | None = None,
) -> ChargingSession:
    """The row a remote start is followed by: STARTING until the charger reports it."""
    cs = ChargingSession(
        charger_id=connector.charger_id,
        connector_pk=connector.id,
        evse_id=connector.evse_id,
        connector_id=connector.connector_id,
        # The charger's own id replaces this once it reports the transaction.
        transaction_id=f"~start-{uuid.uuid4().hex}",
        id_token=id_token,
        id_token_pk=id_token_pk,
        user_id=user_id,
        status=SessionStatus.STARTING.value,
        started_at=at or utcnow(),
        remote_start_id=new_remote_start_id(),
        channel=channel,
        energy_wh=0,
        flags=[],
    )
    session.add(cs)
    await session.flush()
    return cs


async def _event(session: AsyncSession, cs: ChargingSession, kind: str) -> list[bus.Event]:
    """The live updates about `cs`; publish them once the change is committed."""
    cp_id = (await session.get_one(Charger, cs.charger_id)).charge_point_id
    data = session_event(cs, kind)
    return [
        bus.Event(session_topic(cs.id), kind, data),
        bus.Event(charger_topic(cp_id), kind, data),
    ]


def _publish(ctx: Payments, events: list[bus.Event]) -> None:
    if ctx.events is not None:
        for event in events:
            ctx.events.publish(event)


async def fail_start(ctx: Payments, session_id: int, reason: str) -> bool:
    """A start that did not happen: FAILED with `reason`, and its hold released.

    False if the charger has reported the session meanwhile (it is not STARTING any more)."""
    async with transaction(ctx.sessions) as session:
        failed = await session.execute(
            update(ChargingSession)
            .where(
                ChargingSession.id == session_id,
                ChargingSession.status == SessionStatus.STARTING.value,
            )
            .values(
                status=SessionStatus.FAILED.value,
                status_reason=reason[:200],
                stopped_at=utcnow(),
                updated_at=utcnow(),
            )
        )
        if getattr(failed, "rowcount", 0) != 1:
            return False
        cs = await session.get_one(ChargingSession, session_id, populate_existing=True)
        holds = (
            (
                await session.execute(
                    select(Payment.id).where(
                        Payment.session_id == session_id,
                        Payment.status.in_(
                            (PaymentState.PENDING.value, PaymentState.AUTHORIZED.value)
                        ),
                    )
                )
            )
            .scalars()
            .all()
        )
        events = await _event(session, cs, "session_failed")
    _publish(ctx, events)
    for payment_id in holds:
        await release(ctx, payment_id)
    log.info("session %s did not start: %s", session_id, reason)
    return True


async def send_remote_start(
    ctx: Payments, plan: driver.StartPlan, session_id: int
) -> driver.Started | driver.Refused:
    """Ask the charger to start the STARTING session `session_id`; a refusal FAILS it."""
    outcome = await driver.send_start(
        ctx.commands, plan, timeout=ctx.settings.remote_start_timeout_s
    )
    if isinstance(outcome, driver.Refused) and not outcome.uncertain:
        await fail_start(ctx, session_id, outcome.message)
    # No answer (timeout, busy): the charger may still start. The session stays STARTING,
    # its hold held, until the charger reports it or it times out.
    return replace(outcome, session_id=session_id)


async def expire_starting(ctx: Payments, now: datetime) -> int:
    """STARTING sessions the charger never reported: FAILED, holds released."""
    cutoff = now - timedelta(seconds=ctx.settings.session_start_timeout_s)
    async with ctx.sessions() as session:
        ids = (
            (
                await session.execute(
                    select(ChargingSession.id).where(
                        ChargingSession.status == SessionStatus.STARTING.value,
                        ChargingSession.updated_at < cutoff,
                    )
                )
            )
            .scalars()
            .all()
        )
    failed = 0
    for session_id in ids:
        if await fail_start(ctx, session_id, "the charger did not start charging in time"):
            failed += 1
    return failed


async def suspend_silent(ctx: Payments, now: datetime) -> int:
    """ACTIVE sessions nobody has heard of for a while, on a charger that is offline or
    reports the connector idle: SUSPENDED (the next word about them resumes them)."""
    cutoff = now - timedelta(seconds=ctx.settings.session_suspend_after_s)
    events: list[bus.Event] = []
    async with transaction(ctx.sessions) as session:
        rows = (
            await session.execute(
                select(ChargingSession, Charger.online, Connector.status)
                .join(Charger, Charger.id == ChargingSession.charger_id)
                .outerjoin(Connector, Connector.id == ChargingSession.connector_pk)
                .where(
                    ChargingSession.status == SessionStatus.ACTIVE.value,
                    ChargingSession.updated_at < cutoff,
                )
            )
        ).all()
        suspended = 0
        for cs, online, connector_status in rows:
            if online and connector_status not in _IDLE:
                continue  # connected and busy: a long quiet session, not a lost one
            cs.status = SessionStatus.SUSPENDED.value
            cs.status_reason = (
                "the charger is offline" if not online else "the charger reports the plug idle"
            )
            suspended += 1
            events += await _event(session, cs, "session_suspended")
    _publish(ctx, events)
    return suspended


async def settle_on_evidence(ctx: Payments, now: datetime) -> list[int]:
    """SUSPENDED sessions silent for `session_settle_after_s`, or whose hold lapses soon:
    completed with what is known (last meter reading), flagged, priced. Returns their ids
    (the settlement job settles them)."""
    cutoff = now - timedelta(seconds=ctx.settings.session_settle_after_s)
    lapsing = now + timedelta(hours=ctx.settings.hold_lapse_margin_h)
    hold_lapses = (
        select(Payment.id)
        .where(
            Payment.session_id == ChargingSession.id,
            Payment.status == PaymentState.AUTHORIZED.value,
            Payment.capture_before.is_not(None),
            Payment.capture_before < lapsing,
        )
        .exists()
    )
    completed: list[int] = []
    events: list[bus.Event] = []
    async with transaction(ctx.sessions) as session:
        rows = (
            (
                await session.execute(
                    select(ChargingSession).where(
                        ChargingSession.status == SessionStatus.SUSPENDED.value,
                        (ChargingSession.updated_at < cutoff) | hold_lapses,
                    )
                )
            )
            .scalars()
            .all()
        )
        for cs in rows:
            cs.status = SessionStatus.COMPLETED.value
            cs.stopped_at = max(cs.last_sample_at or cs.started_at, cs.started_at)
            cs.stop_reason = EVIDENCE_STOP
            if cs.meter_stop_wh is None:
                cs.meter_stop_wh = cs.last_energy_wh
            if "stop_missing" not in (cs.flags or []):
                cs.flags = [*(cs.flags or []), "stop_missing"]
            await price_completed_session(session, cs)
            events += await _event(session, cs, "session_stopped")
            completed.append(cs.id)
    _publish(ctx, events)  # committed: the settlement job may settle them now
    for session_id in completed:
        log.warning("session %s: charger silent, completed on the last meter reading", session_id)
    return completed


async def reconcile_charger(ctx: Payments, charge_point_id: str) -> int:
    """A charger (re)connected: ask it about the sessions we think are open on it.

    2.x answers GetTransactionStatus: ongoing → ACTIVE again; ended with nothing queued →
    completed on the evidence now. 1.6 has no such call: a triggered MeterValues for the
    connector resumes a session that is still running (the charger replays a queued
    StopTransaction on its own). Returns how many sessions were asked about."""
    async with ctx.sessions() as session:
        rows = (
            await session.execute(
                select(ChargingSession.id, ChargingSession.transaction_id, ChargingSession.evse_id)
                .join(Charger, Charger.id == ChargingSession.charger_id)
                .where(
                    Charger.charge_point_id == charge_point_id,
                    ChargingSession.status.in_(OPEN_STATUSES),
                )
            )
        ).all()
    asked = 0
    for session_id, transaction_id, evse_id in rows:
        try:
            result = await ctx.commands.send(
                charge_point_id, bus.GetTransactionStatus(transaction_id=transaction_id)
            )
        except bus.CommandNotSupported:
            try:
                await ctx.commands.send(
                    charge_point_id, bus.TriggerMessage("MeterValues", evse_id=evse_id)
                )
            except bus.CommandError as error:
                log.info("%s: could not trigger MeterValues: %s", charge_point_id, error)
            asked += 1
            continue
        except bus.CommandError as error:
            log.info(
                "%s: transaction %s status unknown: %s", charge_point_id, transaction_id, error
            )
            continue
        asked += 1
        ongoing = bool(result.payload.get("ongoing_indicator"))
        queued = bool(result.payload.get("messages_in_queue"))
        await _after_status(ctx, session_id, ongoing=ongoing, queued=queued)
    return asked


async def _after_status(ctx: Payments, session_id: int, *, ongoing: bool, queued: bool) -> None:
    events: list[bus.Event] = []
    async with transaction(ctx.sessions) as session:
        cs = await session.get(ChargingSession, session_id)
        if cs is None or cs.status not in OPEN_STATUSES:
            return
        if ongoing and cs.status == SessionStatus.SUSPENDED.value:
            cs.status, cs.status_reason = SessionStatus.ACTIVE.value, None
            events = await _event(session, cs, "session_updated")
        elif not ongoing and not queued:
            # Ended, and nothing queued will tell us more: settle on the evidence at the
            # next round. (Queued messages: the charger replays the end itself.)
            cs.status = SessionStatus.SUSPENDED.value
            cs.status_reason = "the charger says the transaction has ended"
            cs.updated_at = utcnow() - timedelta(seconds=ctx.settings.session_settle_after_s + 1)
    _publish(ctx, events)
