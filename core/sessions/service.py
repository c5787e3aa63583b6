"""Charging sessions from OCPP transactions: idempotent, ordered by the charger's own data.

Every entry point may see the same message more than once (offline queues, retries) and
in an unexpected order. The rules:
- 1.6 StartTransaction: a replay (same connector, idTag, meterStart, timestamp) returns the
  transaction id it got the first time.
- 1.6 StopTransaction: only the first one for a transaction changes anything; an unknown
  transaction id (-1 after an offline start) is kept as a completed session, flagged.
- 2.x TransactionEvent: applied once per (transaction, seqNo); a late event still adds its
  samples, and energy is recomputed from the stored register readings.
- Meter samples are unique per (charger, connector, timestamp, context): replays add nothing.
- Implausible data (clock in 1970 or the future, meter going backwards, absurd values) is
  flagged on the session and never rejected: the charger would only resend it forever.

Whether a token may charge, and what pays, is decided before a start reaches this module
(core.sessions.flows.authorize_start, which may place a card hold): the start functions
take that decision, adopt the STARTING session of a remote start, and tie the hold to the
session in the same transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.bus import Event
from core.chargers.service import charger_topic
from core.config import get_settings
from core.db import insert_ignore
from core.models import (
    OPEN_STATUSES,
    Charger,
    ChargingSession,
    Connector,
    MeterSample,
    Payment,
    SessionStatus,
    StartChannel,
    TransactionEventRecord,
)
from core.sessions.schemas import MeterReading, SessionSummary, TransactionEventIn
from core.tariffs.service import price_completed_session
from core.timeutil import EARLIEST_PLAUSIBLE
from core.uow import UnitOfWork
from core.users.service import Authorization, AuthorizationStatus, authorize, normalize_token

# stop_reason of a session completed on the evidence, without the charger's stop
# (core.sessions.lifecycle); the charger's real stop, if it comes, still counts.
EVIDENCE_STOP = "ChargerLost"


def session_topic(session_id: int) -> str:
    return f"session:{session_id}"


@dataclass(frozen=True)
class StartResult:
    session_id: int
    transaction_id: int
    authorization: Authorization
    replay: bool


# --------------------------------------------------------------------------- plausibility


def plausible_time(ts: datetime | None, received_at: datetime) -> tuple[datetime, str | None]:
    """The timestamp to store, and a flag if the charger's clock cannot be trusted."""
    if ts is None:
        return received_at, "timestamp_unparseable"
    if ts < EARLIEST_PLAUSIBLE:
        return received_at, "timestamp_too_old"
    tolerance = timedelta(seconds=get_settings().future_timestamp_tolerance_s)
    if ts > received_at + tolerance:
        return received_at, "timestamp_in_future"
    return ts, None


def _flag(cs: ChargingSession, *flags: str | None) -> None:
    new = [f for f in flags if f and f not in (cs.flags or [])]
    if new:
        cs.flags = [*(cs.flags or []), *new]


def _reading_flags(reading: MeterReading) -> list[str]:
    settings = get_settings()
    flags = []
    if reading.power_w is not None and not 0 <= reading.power_w <= settings.max_power_w:
        flags.append("implausible_power")
    if reading.soc is not None and not 0 <= reading.soc <= 100:
        flags.append("implausible_soc")
    if reading.energy_wh is not None and reading.energy_wh < 0:
        flags.append("implausible_energy")
    return flags


# --------------------------------------------------------------------------- helpers


async def _connector_pk(
    session: AsyncSession, charger_id: int, evse_id: int, connector_id: int
) -> int:
    pk = (
        await session.execute(
            select(Connector.id).where(
                Connector.charger_id == charger_id,
                Connector.evse_id == evse_id,
                Connector.connector_id == connector_id,
            )
        )
    ).scalar_one_or_none()
    if pk is None:
        connector = Connector(charger_id=charger_id, evse_id=evse_id, connector_id=connector_id)
        session.add(connector)
        await session.flush()
        pk = connector.id
    return pk


async def _find(
    session: AsyncSession, charger_id: int, transaction_id: str
) -> ChargingSession | None:
    return (
        await session.execute(
            select(ChargingSession).where(
                ChargingSession.charger_id == charger_id,
                ChargingSession.transaction_id == transaction_id,
            )
        )
    ).scalar_one_or_none()


async def _store_samples(
    session: AsyncSession,
    charger_id: int,
    evse_id: int,
    session_id: int | None,
    readings: list[MeterReading],
    received_at: datetime,
) -> tuple[list[MeterReading], list[str]]:
    """Insert samples (replays are ignored); return them with plausible times, and flags."""
    rows = []
    stored = []
    flags: list[str] = []
    for r in readings:
        at, flag = plausible_time(r.sampled_at, received_at)
        if flag:
            flags.append(flag)
        stored.append(
            MeterReading(
                at, r.context, r.energy_wh, r.power_w, r.current_a, r.voltage_v, r.soc, r.export_wh
            )
        )
        rows.append(
            {
                "session_id": session_id,
                "charger_id": charger_id,
                "connector_id": evse_id,
                "sampled_at": at,
                "context": r.context[:30],
                "energy_wh": r.energy_wh,
                "power_w": r.power_w,
                "current_a": r.current_a,
                "voltage_v": r.voltage_v,
                "soc": r.soc,
                "energy_export_wh": r.export_wh,
            }
        )
    if rows:
        await session.execute(insert_ignore(session, MeterSample), rows)
    return stored, flags


def _apply_live(cs: ChargingSession, readings: list[MeterReading]) -> bool:
    """Update the session's live values from readings newer than what it has. True if changed."""
    changed = False
    for reading in readings:
        _flag(cs, *_reading_flags(reading))
        if (
            cs.last_sample_at is not None
            and reading.sampled_at is not None
            and (reading.sampled_at < cs.last_sample_at)
        ):
            continue  # an older sample arriving late: history only
        if reading.energy_wh is not None:
            if cs.last_energy_wh is not None and reading.energy_wh < cs.last_energy_wh:
                _flag(cs, "meter_regression")
            cs.last_energy_wh = reading.energy_wh
            if cs.meter_start_wh is not None:
                cs.energy_wh = max(reading.energy_wh - cs.meter_start_wh, 0)
        if reading.power_w is not None:
            cs.last_power_w = reading.power_w
        if reading.soc is not None:
            cs.last_soc = reading.soc
        if reading.export_wh is not None:
            # V2G: the first export reading is the session's start of the export register.
            if cs.meter_export_start_wh is None:
                cs.meter_export_start_wh = reading.export_wh
            cs.last_export_wh = reading.export_wh
            cs.energy_exported_wh = max(reading.export_wh - cs.meter_export_start_wh, 0)
        cs.last_sample_at = reading.sampled_at
        changed = True
    return changed


def _check_energy(cs: ChargingSession) -> None:
    if cs.energy_wh > get_settings().max_session_energy_wh:
        _flag(cs, "implausible_energy")


def session_event(cs: ChargingSession, kind: str) -> dict[str, Any]:
    return {
        "session_id": cs.id,
        "kind": kind,
        "status": cs.status,
        "transaction_id": cs.transaction_id,
        "evse_id": cs.evse_id,
        "id_token_pk": cs.id_token_pk,
        "energy_wh": cs.energy_wh,
        "power_w": cs.last_power_w,
        "soc": cs.last_soc,
        "started_at": cs.started_at.isoformat(),
        "stopped_at": cs.stopped_at.isoformat() if cs.stopped_at else None,
        "flags": list(cs.flags or []),
    }


def _publish(uow: UnitOfWork, cs: ChargingSession, charge_point_id: str, kind: str) -> None:
    data = session_event(cs, kind)
    uow.publish(Event(session_topic(cs.id), kind, data))
    uow.publish(Event(charger_topic(charge_point_id), kind, data))


# --------------------------------------------------------------------------- OCPP 1.6


def start_key_16(connector_id: int, id_tag: str, meter_start_wh: int, timestamp_raw: str) -> str:
    """What makes a 1.6 StartTransaction the same message when it is replayed."""
    return f"{connector_id}|{normalize_token(id_tag)}|{meter_start_wh}|{timestamp_raw}"[:200]


async def replayed_start(
    session: AsyncSession, charger_id: int, start_key: str
) -> ChargingSession | None:
    return (
        await session.execute(
            select(ChargingSession).where(
                ChargingSession.charger_id == charger_id, ChargingSession.start_key == start_key
            )
        )
    ).scalar_one_or_none()


def stored_authorization(cs: ChargingSession) -> Authorization:
    """The answer given when the session started, for a replay of its start."""
    status = AuthorizationStatus(cs.auth_status or AuthorizationStatus.INVALID.value)
    return Authorization(status, cs.id_token_pk, cs.user_id, session_id=cs.id)


async def _starting(session: AsyncSession, auth: Authorization) -> ChargingSession | None:
    """The STARTING session a decided start belongs to (a remote start), if still open."""
    if auth.session_id is None:
        return None
    cs = await session.get(ChargingSession, auth.session_id)
    return cs if cs is not None and cs.status == SessionStatus.STARTING.value else None


async def _tie_payment(session: AsyncSession, cs: ChargingSession, auth: Authorization) -> None:
    """The hold decided for this start pays for this session."""
    if auth.payment_id is None:
        return
    payment = await session.get(Payment, auth.payment_id)
    if payment is not None and payment.session_id is None:
        payment.session_id = cs.id


async def start_transaction(
    uow: UnitOfWork,
    charger_id: int,
    charge_point_id: str,
    *,
    connector_id: int,
    id_tag: str,
    meter_start_wh: int,
    timestamp_raw: str,
    timestamp: datetime | None,
    received_at: datetime,
    auth: Authorization | None = None,
) -> StartResult:
    """Record a 1.6 StartTransaction. `auth` is the decision about its idTag
    (core.sessions.flows.decide_start_transaction); without one, only the tag's status
    counts (no payment tied)."""
    session = uow.session
    tag = normalize_token(id_tag)
    if auth is None:
        auth = await authorize(session, tag, received_at)
    start_key = start_key_16(connector_id, id_tag, meter_start_wh, timestamp_raw)
    existing = await replayed_start(session, charger_id, start_key)
    if existing is not None:
        replay = stored_authorization(existing)
        return StartResult(existing.id, int(existing.transaction_id), replay, replay=True)

    started_at, time_flag = plausible_time(timestamp, received_at)
    connector_pk = await _connector_pk(session, charger_id, connector_id, 1)
    await _supersede_active(uow, charger_id, charge_point_id, connector_pk, started_at)
    cs = await _starting(session, auth)
    if cs is None:
        cs = ChargingSession(
            charger_id=charger_id,
            transaction_id=f"~{uuid.uuid4().hex}",
            channel=auth.channel or StartChannel.RFID.value,
            flags=[],
        )
        session.add(cs)
    cs.connector_pk, cs.evse_id, cs.connector_id = connector_pk, connector_id, 1
    cs.start_key = start_key
    cs.id_token, cs.id_token_pk, cs.user_id = tag, auth.id_token_pk, auth.user_id
    cs.auth_status = auth.status.value
    cs.status = SessionStatus.ACTIVE.value
    cs.started_at = started_at
    cs.meter_start_wh = cs.last_energy_wh = meter_start_wh
    cs.energy_wh = 0
    _flag(cs, time_flag, "implausible_energy" if meter_start_wh < 0 else None)
    if not auth.accepted:
        _flag(cs, "started_unauthorized")  # an offline / cached start we refused
    await session.flush()
    # 1.6 transaction ids are integers chosen by us: the session's own id.
    cs.transaction_id = str(cs.id)
    await _tie_payment(session, cs, auth)
    _publish(uow, cs, charge_point_id, "session_started")
    return StartResult(cs.id, cs.id, auth, replay=False)


async def _supersede_active(
    uow: UnitOfWork, charger_id: int, charge_point_id: str, connector_pk: int, started_at: datetime
) -> None:
    """A new transaction on a connector ends an older one whose stop never arrived."""
    stale = (
        (
            await uow.session.execute(
                select(ChargingSession).where(
                    ChargingSession.charger_id == charger_id,
                    ChargingSession.connector_pk == connector_pk,
                    ChargingSession.status.in_(OPEN_STATUSES),
                    ChargingSession.started_at < started_at,
                )
            )
        )
        .scalars()
        .all()
    )
    for cs in stale:
        cs.status = SessionStatus.COMPLETED.value
        cs.stopped_at = cs.last_sample_at or started_at
        cs.stop_reason = "Superseded"
        _flag(cs, "stop_missing")
        await price_completed_session(uow.session, cs)
        _publish(uow, cs, charge_point_id, "session_stopped")


async def stop_transaction(
    uow: UnitOfWork,
    charger_id: int,
    charge_point_id: str,
    *,
    transaction_id: int,
    id_tag: str | None,
    meter_stop_wh: int,
    timestamp_raw: str,
    timestamp: datetime | None,
    reason: str | None,
    readings: list[MeterReading],
    received_at: datetime,
) -> Authorization | None:
    session = uow.session
    auth = await authorize(session, id_tag, received_at) if id_tag else None
    stopped_at, time_flag = plausible_time(timestamp, received_at)
    late = False
    cs = await _find(session, charger_id, str(transaction_id))
    if cs is None:
        cs = await _orphan_stop(
            uow,
            charger_id,
            transaction_id,
            id_tag,
            meter_stop_wh,
            timestamp_raw,
            stopped_at,
            readings,
        )
        if cs is None:
            return auth  # the same unknown stop, replayed
    elif cs.status == SessionStatus.COMPLETED.value:
        if cs.stop_reason != EVIDENCE_STOP:
            return auth  # a replayed stop changes nothing
        # The real stop of a session we completed on the evidence: its data wins.
        late = True
        _flag(cs, "late_stop")
    stored, flags = await _store_samples(
        session, charger_id, cs.evse_id or 0, cs.id, readings, received_at
    )
    _flag(cs, *flags)
    _apply_live(cs, stored)
    cs.status = SessionStatus.COMPLETED.value
    cs.stopped_at = max(stopped_at, cs.started_at)
    cs.stop_reason = reason or "Local"
    cs.meter_stop_wh = meter_stop_wh
    cs.last_energy_wh = meter_stop_wh
    if cs.meter_start_wh is not None:
        if meter_stop_wh < cs.meter_start_wh:
            _flag(cs, "meter_regression")
            cs.energy_wh = 0
        else:
            cs.energy_wh = meter_stop_wh - cs.meter_start_wh
    _flag(cs, time_flag)
    _check_energy(cs)
    await price_completed_session(session, cs)
    _publish(uow, cs, charge_point_id, "session_updated" if late else "session_stopped")
    return auth


async def _orphan_stop(
    uow: UnitOfWork,
    charger_id: int,
    transaction_id: int,
    id_tag: str | None,
    meter_stop_wh: int,
    timestamp_raw: str,
    stopped_at: datetime,
    readings: list[MeterReading],
) -> ChargingSession | None:
    """A stop for a transaction we never started: keep it (it is energy delivered), flagged."""
    digest = hashlib.sha1(f"{meter_stop_wh}|{timestamp_raw}".encode()).hexdigest()[:16]
    key = f"unknown:{transaction_id}:{digest}"
    if await _find(uow.session, charger_id, key) is not None:
        return None
    begin = next(
        (
            r.energy_wh
            for r in readings
            if r.context == "Transaction.Begin" and r.energy_wh is not None
        ),
        None,
    )
    cs = ChargingSession(
        charger_id=charger_id,
        transaction_id=key,
        id_token=normalize_token(id_tag) if id_tag else None,
        status=SessionStatus.ACTIVE.value,
        channel=StartChannel.RFID.value,
        meter_start_wh=begin,
        energy_wh=0,
        started_at=min((r.sampled_at for r in readings if r.sampled_at), default=stopped_at),
        flags=["unknown_transaction"],
    )
    if begin is None:
        _flag(cs, "meter_start_unknown")
    uow.session.add(cs)
    await uow.session.flush()
    return cs


async def record_meter_values(
    uow: UnitOfWork,
    charger_id: int,
    charge_point_id: str,
    *,
    evse_id: int,
    transaction_id: str | None,
    readings: list[MeterReading],
    received_at: datetime,
) -> None:
    session = uow.session
    cs = await _find(session, charger_id, transaction_id) if transaction_id else None
    stored, flags = await _store_samples(
        session, charger_id, evse_id, cs.id if cs else None, readings, received_at
    )
    if cs is not None:
        _flag(cs, *flags)
        _resume(cs)
    if cs is not None and cs.status == SessionStatus.ACTIVE.value and _apply_live(cs, stored):
        _check_energy(cs)
        _publish(uow, cs, charge_point_id, "session_updated")


def _resume(cs: ChargingSession) -> None:
    """Word about a SUSPENDED session: its charger is back, and so is the session."""
    if cs.status == SessionStatus.SUSPENDED.value:
        cs.status, cs.status_reason = SessionStatus.ACTIVE.value, None


# --------------------------------------------------------------------------- OCPP 2.x


async def apply_transaction_event(
    uow: UnitOfWork,
    charger_id: int,
    charge_point_id: str,
    event: TransactionEventIn,
    received_at: datetime,
    auth: Authorization | None = None,
) -> Authorization | None:
    """Apply a 2.x TransactionEvent; `auth` is the decision about its idToken, if it has one
    (core.sessions.flows.decide_transaction_event)."""
    session = uow.session
    if auth is None and event.id_token:
        auth = await authorize(session, event.id_token, received_at)
    at, time_flag = plausible_time(event.timestamp, received_at)
    cs = await _find(session, charger_id, event.transaction_id)
    starting = await _starting(session, auth) if auth is not None else None
    created = cs is None
    if cs is None and starting is not None:
        cs = starting  # the remote start we asked for: the same session, now reported
        cs.transaction_id = event.transaction_id
        cs.status, cs.started_at = SessionStatus.ACTIVE.value, at
        cs.connector_pk = None  # set from the event's EVSE below
    elif cs is None:
        cs = ChargingSession(
            charger_id=charger_id,
            transaction_id=event.transaction_id,
            status=SessionStatus.ACTIVE.value,
            started_at=at,
            energy_wh=0,
            channel=auth.channel if auth is not None and auth.channel else None,
            flags=[],
        )
        session.add(cs)
        await session.flush()
    elif starting is not None and starting.id != cs.id:
        # The transaction began before the driver's token was known (cable first): keep
        # the STARTING session the driver follows, and move the transaction onto it.
        cs = await _merge_into(session, cs, starting)
    inserted = (
        await session.execute(
            insert_ignore(session, TransactionEventRecord).returning(TransactionEventRecord.id),
            [
                {
                    "session_id": cs.id,
                    "seq_no": event.seq_no,
                    "event_type": event.event_type,
                    "trigger_reason": event.trigger_reason[:40],
                    "occurred_at": at,
                    "offline": event.offline,
                    "received_at": received_at,
                }
            ],
        )
    ).first()
    if inserted is None:
        return auth  # this seqNo was applied before
    _resume(cs)

    _flag(cs, time_flag)
    if event.offline:
        cs.offline = True
    if event.evse_id is not None and cs.connector_pk is None:
        connector_id = event.connector_id or 1
        cs.evse_id, cs.connector_id = event.evse_id, connector_id
        cs.connector_pk = await _connector_pk(session, charger_id, event.evse_id, connector_id)
    if event.id_token and auth is not None and (cs.id_token is None or cs is starting):
        cs.id_token = normalize_token(event.id_token)
        cs.id_token_pk, cs.user_id = auth.id_token_pk, auth.user_id
        cs.auth_status = auth.status.value
        cs.channel = cs.channel or auth.channel or StartChannel.RFID.value
        if not auth.accepted:
            _flag(cs, "started_unauthorized")
        await _tie_payment(session, cs, auth)
    if event.remote_start_id is not None:
        cs.remote_start_id = event.remote_start_id
    cs.started_at = min(cs.started_at, at)
    cs.last_seq_no = max(cs.last_seq_no or 0, event.seq_no)

    stored, flags = await _store_samples(
        session, charger_id, cs.evse_id or 0, cs.id, event.readings, received_at
    )
    _flag(cs, *flags)
    if event.event_type == "Started" or cs.meter_start_wh is None:
        first = min(
            (r for r in stored if r.energy_wh is not None and r.sampled_at is not None),
            key=lambda r: r.sampled_at or at,
            default=None,
        )
        if (first is not None and event.event_type == "Started") or (
            first is not None and cs.meter_start_wh is None
        ):
            cs.meter_start_wh = first.energy_wh
    if cs.status == SessionStatus.ACTIVE.value:
        _apply_live(cs, stored)

    if event.event_type == "Ended":
        if cs.stop_reason == EVIDENCE_STOP:
            _flag(cs, "late_stop")
        cs.status = SessionStatus.COMPLETED.value
        cs.stopped_at = max(at, cs.started_at)
        cs.stop_reason = event.stopped_reason or "Local"
    if cs.status == SessionStatus.COMPLETED.value:
        await _energy_from_samples(session, cs)
        await price_completed_session(session, cs)
    _check_energy(cs)
    kind = (
        "session_stopped"
        if event.event_type == "Ended"
        else "session_started"
        if created or event.event_type == "Started"
        else "session_updated"
    )
    _publish(uow, cs, charge_point_id, kind)
    return auth


async def _merge_into(
    session: AsyncSession, reported: ChargingSession, starting: ChargingSession
) -> ChargingSession:
    """Move what the charger reported so far onto the STARTING session, and drop the copy."""
    for model in (MeterSample, TransactionEventRecord):
        await session.execute(
            update(model).where(model.session_id == reported.id).values(session_id=starting.id)
        )
    for field in (
        "transaction_id",
        "connector_pk",
        "evse_id",
        "connector_id",
        "started_at",
        "meter_start_wh",
        "last_energy_wh",
        "last_power_w",
        "last_soc",
        "last_sample_at",
        "energy_wh",
        "last_seq_no",
        "offline",
        "flags",
    ):
        value = getattr(reported, field)
        if field == "transaction_id":
            reported.transaction_id = f"~merged-{uuid.uuid4().hex}"
            await session.flush()
        setattr(starting, field, value)
    starting.status = SessionStatus.ACTIVE.value
    await session.delete(reported)
    await session.flush()
    return starting


async def _energy_from_samples(session: AsyncSession, cs: ChargingSession) -> None:
    """2.x energy: the last Energy.Active.Import.Register reading minus the first."""
    base = select(MeterSample.energy_wh, MeterSample.sampled_at).where(
        MeterSample.session_id == cs.id, MeterSample.energy_wh.is_not(None)
    )
    first = (await session.execute(base.order_by(MeterSample.sampled_at.asc()).limit(1))).first()
    last = (await session.execute(base.order_by(MeterSample.sampled_at.desc()).limit(1))).first()
    if first is None or last is None:
        return
    cs.meter_start_wh = first.energy_wh
    cs.meter_stop_wh = last.energy_wh
    cs.last_energy_wh = last.energy_wh
    if last.energy_wh < first.energy_wh:
        _flag(cs, "meter_regression")
        cs.energy_wh = 0
    else:
        cs.energy_wh = last.energy_wh - first.energy_wh


# --------------------------------------------------------------------------- queries


async def list_sessions(
    session: AsyncSession, *, limit: int = 100, active_only: bool = False
) -> list[SessionSummary]:
    query = (
        select(ChargingSession, Charger.charge_point_id)
        .join(Charger, Charger.id == ChargingSession.charger_id)
        .order_by(ChargingSession.started_at.desc(), ChargingSession.id.desc())
        .limit(limit)
    )
    if active_only:
        query = query.where(ChargingSession.status.in_(OPEN_STATUSES))
    rows = (await session.execute(query)).all()
    return [
        SessionSummary(
            id=cs.id,
            charger_id=cp_id,
            connector_id=cs.evse_id,
            transaction_id=cs.transaction_id,
            id_token=cs.id_token,
            started_at=cs.started_at,
            stopped_at=cs.stopped_at,
            energy_wh=cs.energy_wh,
            status=cs.status,
            stop_reason=cs.stop_reason,
            flags=list(cs.flags or []),
        )
        for cs, cp_id in rows
    ]


async def count_active(session: AsyncSession) -> int:
    return int(
        (
            await session.execute(
                select(func.count()).where(ChargingSession.status.in_(OPEN_STATUSES))
            )
        ).scalar_one()
    )
