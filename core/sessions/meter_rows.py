"""The fast path of a charging session's meter values: rows per group commit, state in memory.

A charging car reports meter values every minute, per session, and nearly every report is
ordinary: newer than the last one, plausible, for an ACTIVE session. The gateway keeps each
open transaction of a connection in memory (`LiveTx`, loaded once from the database) and
turns an ordinary report into rows (`SAMPLES`, `TX_EVENTS`, `LIVE`) that the write batcher
writes with one statement per kind for the whole batch (core.uow.RowKind). Anything out of
the ordinary (a flag to raise, a regression, a late or replayed report, a session not
ACTIVE, a token to decide, a V2G export register) is not planned here: the caller falls
back to the ORM path of core.sessions.service, which knows every rule, and forgets the
cached state.

The LIVE update only touches a session still ACTIVE or SUSPENDED (resuming it, as the ORM
path does), so a session completed meanwhile by another process keeps its final values.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import Table, and_, bindparam, exists, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.bus import Event, EventBus
from core.chargers.service import charger_topic
from core.config import get_settings
from core.db import insert_ignore
from core.models import (
    ChargingSession,
    IdToken,
    IdTokenKind,
    MeterSample,
    Payment,
    SessionStatus,
    TransactionEventRecord,
)
from core.sessions.schemas import MeterReading, TransactionEventIn
from core.sessions.service import plausible_time, session_topic
from core.uow import RowKind, Rows

_OPEN = (SessionStatus.ACTIVE.value, SessionStatus.SUSPENDED.value)
_SESSIONS: Table = ChargingSession.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class LiveTx:
    """What the gateway remembers of one open transaction between its messages."""

    session_id: int
    transaction_id: str
    evse_id: int | None
    status: str
    started_at: datetime
    meter_start_wh: int | None
    last_energy_wh: int | None
    energy_wh: int
    last_power_w: int | None
    last_soc: int | None
    last_sample_at: datetime | None
    last_seq_no: int | None
    id_token_pk: int | None
    flags: tuple[str, ...]
    # Payments or SMS act on this session's updates (a hold to watch, a driver to tell).
    watched: bool

    def event(self, kind: str = "session_updated") -> dict[str, Any]:
        """The same data as core.sessions.service.session_event."""
        return {
            "session_id": self.session_id,
            "kind": kind,
            "status": self.status,
            "transaction_id": self.transaction_id,
            "evse_id": self.evse_id,
            "id_token_pk": self.id_token_pk,
            "energy_wh": self.energy_wh,
            "power_w": self.last_power_w,
            "soc": self.last_soc,
            "started_at": self.started_at.isoformat(),
            "stopped_at": None,
            "flags": list(self.flags),
        }


async def load(session: AsyncSession, charger_id: int, transaction_id: str) -> LiveTx | None:
    """The open (ACTIVE) transaction, or None: then the ORM path handles its messages."""
    cs = ChargingSession
    watched = exists().where(Payment.session_id == cs.id) | exists().where(
        and_(IdToken.id == cs.id_token_pk, IdToken.kind == IdTokenKind.SMS.value)
    )
    row = (
        await session.execute(
            select(
                cs.id,
                cs.transaction_id,
                cs.evse_id,
                cs.status,
                cs.started_at,
                cs.meter_start_wh,
                cs.last_energy_wh,
                cs.energy_wh,
                cs.last_power_w,
                cs.last_soc,
                cs.last_sample_at,
                cs.last_seq_no,
                cs.id_token_pk,
                cs.flags,
                watched.label("watched"),
            ).where(cs.charger_id == charger_id, cs.transaction_id == transaction_id)
        )
    ).first()
    if row is None or row.status != SessionStatus.ACTIVE.value:
        return None
    return LiveTx(
        session_id=row.id,
        transaction_id=row.transaction_id,
        evse_id=row.evse_id,
        status=row.status,
        started_at=row.started_at,
        meter_start_wh=row.meter_start_wh,
        last_energy_wh=row.last_energy_wh,
        energy_wh=row.energy_wh or 0,
        last_power_w=row.last_power_w,
        last_soc=row.last_soc,
        last_sample_at=row.last_sample_at,
        last_seq_no=row.last_seq_no,
        id_token_pk=row.id_token_pk,
        flags=tuple(row.flags or ()),
        watched=bool(row.watched),
    )


# --------------------------------------------------------------------------- row kinds


class _Samples(RowKind):
    order = 10
    name = "meter_samples"

    async def write(self, session: AsyncSession, rows: list[Any]) -> None:
        # Unique per (charger, connector, time, context): replays add nothing.
        await session.execute(insert_ignore(session, MeterSample), rows)


class _TxEvents(RowKind):
    order = 20
    name = "transaction_events"

    async def write(self, session: AsyncSession, rows: list[Any]) -> None:
        await session.execute(insert_ignore(session, TransactionEventRecord), rows)


class _Live(RowKind):
    order = 30
    name = "session_live"
    statement: ClassVar[Any] = (
        update(_SESSIONS)
        .where(
            _SESSIONS.c.id == bindparam("b_id"),
            # Not IN (...): an expanding parameter cannot go into an executemany.
            or_(*(_SESSIONS.c.status == status for status in _OPEN)),
        )
        .values(
            status=SessionStatus.ACTIVE.value,
            status_reason=None,
            last_energy_wh=bindparam("b_energy"),
            energy_wh=bindparam("b_session_energy"),
            last_power_w=bindparam("b_power"),
            last_soc=bindparam("b_soc"),
            last_sample_at=bindparam("b_at"),
            last_seq_no=bindparam("b_seq"),
        )
    )

    async def write(self, session: AsyncSession, rows: list[Any]) -> None:
        await session.execute(self.statement, rows)


SAMPLES = _Samples()
TX_EVENTS = _TxEvents()
LIVE = _Live()


# --------------------------------------------------------------------------- planning


@dataclass(frozen=True)
class Plan:
    """The rows to write for one message, the state after it, and what to publish."""

    rows: Rows
    after: LiveTx | None
    events: list[Event]


def _sample_rows(
    charger_id: int,
    evse_id: int,
    session_id: int | None,
    readings: list[MeterReading],
    received_at: datetime,
) -> list[tuple[MeterReading, dict[str, Any]]] | None:
    """Rows for `readings`, or None if any needs a flag (the ORM path raises it)."""
    settings = get_settings()
    out = []
    for r in readings:
        at, flag = plausible_time(r.sampled_at, received_at)
        if flag is not None:
            return None
        if r.power_w is not None and not 0 <= r.power_w <= settings.max_power_w:
            return None
        if r.soc is not None and not 0 <= r.soc <= 100:
            return None
        if r.energy_wh is not None and r.energy_wh < 0:
            return None
        if r.export_wh is not None:
            # V2G: the export register (the session's export start and total, the
            # sample's energy_export_wh that the owner's credit is priced from) is kept
            # by the ORM path only.
            return None
        out.append(
            (
                replace(r, sampled_at=at),
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
                },
            )
        )
    return out


def _advance(tx: LiveTx, readings: list[MeterReading]) -> LiveTx | None:
    """The state after `readings` (core.sessions.service._apply_live), or None when the
    ORM path must decide (a late sample, a regression, implausible energy)."""
    energy, power, soc, last_at = tx.last_energy_wh, tx.last_power_w, tx.last_soc, None
    last_at = tx.last_sample_at
    session_energy = tx.energy_wh
    for r in sorted(readings, key=lambda r: r.sampled_at or tx.started_at):
        assert r.sampled_at is not None  # set by _sample_rows
        if last_at is not None and r.sampled_at < last_at:
            return None
        if r.energy_wh is not None:
            if energy is not None and r.energy_wh < energy:
                return None
            energy = r.energy_wh
            if tx.meter_start_wh is not None:
                session_energy = max(r.energy_wh - tx.meter_start_wh, 0)
        if r.power_w is not None:
            power = r.power_w
        if r.soc is not None:
            soc = r.soc
        last_at = r.sampled_at
    if session_energy > get_settings().max_session_energy_wh:
        return None
    return replace(
        tx,
        last_energy_wh=energy,
        energy_wh=session_energy,
        last_power_w=power,
        last_soc=soc,
        last_sample_at=last_at,
    )


def _live_row(tx: LiveTx) -> dict[str, Any]:
    return {
        "b_id": tx.session_id,
        "b_energy": tx.last_energy_wh,
        "b_session_energy": tx.energy_wh,
        "b_power": tx.last_power_w,
        "b_soc": tx.last_soc,
        "b_at": tx.last_sample_at,
        "b_seq": tx.last_seq_no,
    }


def _events(tx: LiveTx, charge_point_id: str, events: EventBus) -> list[Event]:
    """session_updated, for whoever listens; watched sessions always."""
    session, charger = session_topic(tx.session_id), charger_topic(charge_point_id)
    to_session = tx.watched or events.listening(session)
    to_charger = events.listening(charger)
    if not (to_session or to_charger):
        return []
    data = tx.event()
    out = []
    if to_session:
        out.append(Event(session, "session_updated", data))
    if to_charger:
        out.append(Event(charger, "session_updated", data))
    return out


def plan_meter_values(
    tx: LiveTx | None,
    charger_id: int,
    charge_point_id: str,
    evse_id: int,
    readings: list[MeterReading],
    received_at: datetime,
    events: EventBus,
) -> Plan | None:
    """Meter values for `tx` (None: outside a transaction), or None for the ORM path."""
    samples = _sample_rows(
        charger_id, evse_id, tx.session_id if tx else None, readings, received_at
    )
    if samples is None:
        return None
    rows: Rows = [(SAMPLES, row) for _, row in samples]
    if tx is None:
        return Plan(rows, None, [])
    after = _advance(tx, [r for r, _ in samples])
    if after is None:
        return None
    if after == tx:  # nothing newer: history only
        return Plan(rows, tx, [])
    rows.append((LIVE, _live_row(after)))
    return Plan(rows, after, _events(after, charge_point_id, events))


def plan_transaction_event(
    tx: LiveTx,
    charger_id: int,
    charge_point_id: str,
    event: TransactionEventIn,
    received_at: datetime,
    events: EventBus,
) -> Plan | None:
    """An ordinary 2.x TransactionEvent(Updated) of `tx`, or None for the ORM path."""
    if (
        event.event_type != "Updated"
        or event.id_token
        or event.offline
        or (event.evse_id is not None and event.evse_id != tx.evse_id)
        or (event.remote_start_id is not None)
        or tx.last_seq_no is None
        or event.seq_no <= tx.last_seq_no
        or tx.meter_start_wh is None
    ):
        return None
    at, flag = plausible_time(event.timestamp, received_at)
    if flag is not None or at < tx.started_at:
        return None
    planned = plan_meter_values(
        tx, charger_id, charge_point_id, tx.evse_id or 0, event.readings, received_at, events
    )
    if planned is None or planned.after is None:
        return None
    after = replace(planned.after, last_seq_no=event.seq_no)
    rows: Rows = [(kind, row) for kind, row in planned.rows if kind is not LIVE]
    rows.append(
        (
            TX_EVENTS,
            {
                "session_id": tx.session_id,
                "seq_no": event.seq_no,
                "event_type": event.event_type,
                "trigger_reason": event.trigger_reason[:40],
                "occurred_at": at,
                "offline": event.offline,
                "received_at": received_at,
            },
        )
    )
    rows.append((LIVE, _live_row(after)))
    published = planned.events if planned.after != tx else _events(after, charge_point_id, events)
    # The events carry the state after this message (seqNo included).
    published = [Event(e.topic, e.kind, after.event()) for e in published]
    return Plan(rows, after, published)
