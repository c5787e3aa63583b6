"""What a driver does with charging: the checks before a start, the remote start and stop
commands, and their sessions.

The start flow itself (payment, the STARTING session, outcomes) is core.sessions.flows.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import bus
from core.models import (
    BUSY_STATUSES,
    OPEN_STATUSES,
    Charger,
    ChargingSession,
    Connector,
    ConnectorStatus,
    IdToken,
    IdTokenKind,
    IdTokenStatus,
    SessionStatus,
    User,
    Vehicle,
)

# Nothing was sent: the processes cannot reach each other (Redis down). Said plainly, so
# the driver knows to try again rather than wait for the charger.
_BUS_DOWN = "chargers cannot be reached right now (our message bus is down); try again shortly"
STARTABLE = frozenset(
    {
        ConnectorStatus.AVAILABLE.value,
        ConnectorStatus.PREPARING.value,
        ConnectorStatus.SUSPENDED_EV.value,
    }
)


# ------------------------------------------------------------------ outcomes


class Refusal(StrEnum):
    """Why a start or stop was refused; each transport maps every member to its answer
    (GraphQL result type, SMS text)."""

    CHARGER_OFFLINE = "ChargerOffline"
    CONNECTOR_UNAVAILABLE = "ConnectorUnavailable"
    PAYMENT_METHOD_REQUIRED = "PaymentMethodRequired"
    NOT_ALLOWED = "NotAllowed"
    NOT_YOUR_SESSION = "NotYourSession"
    SESSION_NOT_ACTIVE = "SessionNotActive"


@dataclass(frozen=True)
class Started:
    connector_pk: int
    charge_point_id: str
    evse_id: int
    transaction_id: str | None
    # The STARTING session that follows this start (core.sessions.flows).
    session_id: int | None = None


@dataclass(frozen=True)
class Stopping:
    session_id: int


@dataclass(frozen=True)
class Refused:
    """An expected refusal."""

    kind: Refusal
    message: str
    # No answer (timeout, busy): the charger may still start. A hold must not be released
    # on this; the session stays STARTING until the charger reports it or it times out.
    uncertain: bool = False
    # The session the refused start was recorded as (FAILED, or STARTING if uncertain).
    session_id: int | None = None


# ------------------------------------------------------------------ tokens and sessions


async def driver_token(
    session: AsyncSession, user: User, kind: IdTokenKind = IdTokenKind.APP
) -> str:
    """The driver's app or SMS id token (created on first use); fits 1.6's 20-char idTag.

    Sessions started by SMS carry the SMS token, so their notifications go by SMS.
    """
    rows = await session.execute(
        select(IdToken).where(
            IdToken.user_id == user.id,
            IdToken.kind == kind.value,
            IdToken.status == IdTokenStatus.ACTIVE.value,
        )
    )
    row = rows.scalars().first()
    if row is None:
        row = IdToken(
            token=kind.value.upper() + secrets.token_hex(8).upper(),
            kind=kind.value,
            user_id=user.id,
            label=kind.value,
        )
        session.add(row)
        await session.flush()
    return row.token


async def active_session(
    session: AsyncSession, user_id: int, charger_id: int | None = None
) -> ChargingSession | None:
    """The driver's current session: starting, charging, or suspended (charger silent)."""
    query = select(ChargingSession).where(
        ChargingSession.user_id == user_id, ChargingSession.status.in_(BUSY_STATUSES)
    )
    if charger_id is not None:
        query = query.where(ChargingSession.charger_id == charger_id)
    return (
        await session.execute(query.order_by(ChargingSession.started_at.desc()).limit(1))
    ).scalar_one_or_none()


# ------------------------------------------------------------------ start / stop


@dataclass(frozen=True)
class StartPlan:
    """Checked and ready: what to send once the caller has committed the id token."""

    connector_pk: int
    charge_point_id: str
    evse_id: int
    connector_id: int
    id_token: str
    remote_start_id: int | None = None


async def prepare_start(
    session: AsyncSession,
    commands: bus.CommandBus,
    user: User,
    connector_pk: int,
    *,
    vehicle_id: int | None = None,
    token_kind: IdTokenKind = IdTokenKind.APP,
) -> StartPlan | Refused:
    """Check the driver and the connector; make sure the app/SMS token exists.

    The caller commits before `send_start`: the charger asks about the token at once.
    """
    row = (
        await session.execute(
            select(Connector, Charger)
            .join(Charger, Charger.id == Connector.charger_id)
            .where(Connector.id == connector_pk)
        )
    ).first()
    if row is None:
        return Refused(Refusal.CONNECTOR_UNAVAILABLE, "no such connector")
    connector, charger = row
    if vehicle_id is not None:
        owned = (
            await session.execute(
                select(Vehicle.id).where(Vehicle.id == vehicle_id, Vehicle.user_id == user.id)
            )
        ).first()
        if owned is None:
            return Refused(Refusal.NOT_ALLOWED, "that vehicle is not yours")
    if await active_session(session, user.id) is not None:
        return Refused(Refusal.NOT_ALLOWED, "you already have a session charging")
    if not charger.online or not commands.is_connected(charger.charge_point_id):
        return Refused(Refusal.CHARGER_OFFLINE, f"charger {charger.charge_point_id} is offline")
    if connector.status not in STARTABLE or await _connector_taken(session, connector.id):
        return Refused(Refusal.CONNECTOR_UNAVAILABLE, f"connector is {connector.status}")
    token = await driver_token(session, user, token_kind)
    return StartPlan(
        connector.id, charger.charge_point_id, connector.evse_id, connector.connector_id, token
    )


async def _connector_taken(session: AsyncSession, connector_pk: int) -> bool:
    """Another driver's start on this connector is under way."""
    return (
        await session.execute(
            select(ChargingSession.id)
            .where(
                ChargingSession.connector_pk == connector_pk,
                ChargingSession.status.in_(BUSY_STATUSES),
            )
            .limit(1)
        )
    ).first() is not None


async def send_start(
    commands: bus.CommandBus, plan: StartPlan, *, timeout: float = 10.0
) -> Started | Refused:
    """Ask the charger to start, waiting at most `timeout` for its answer."""
    try:
        result = await commands.send(
            plan.charge_point_id,
            bus.RemoteStart(
                id_token=plan.id_token,
                evse_id=plan.evse_id,
                connector_id=plan.connector_id,
                remote_start_id=plan.remote_start_id or secrets.randbelow(2**31 - 1) + 1,
            ),
            timeout=timeout,
        )
    except bus.ChargerOffline:
        return Refused(Refusal.CHARGER_OFFLINE, f"charger {plan.charge_point_id} is offline")
    except bus.ChargerBusy:
        return Refused(
            Refusal.CHARGER_OFFLINE, "the charger is busy; try again in a moment", uncertain=True
        )
    except bus.CommandTimeout:
        return Refused(
            Refusal.CHARGER_OFFLINE, "the charger did not answer in time", uncertain=True
        )
    except bus.BusUnavailable:
        return Refused(Refusal.CHARGER_OFFLINE, _BUS_DOWN)
    except bus.CommandError as error:
        return Refused(Refusal.NOT_ALLOWED, f"the charger refused: {error}")
    if not result.accepted:
        return Refused(Refusal.NOT_ALLOWED, f"the charger answered {result.status}")
    tx = result.payload.get("transaction_id")
    return Started(
        plan.connector_pk, plan.charge_point_id, plan.evse_id, str(tx) if tx is not None else None
    )


async def stop_charging(
    session: AsyncSession,
    commands: bus.CommandBus,
    user: User,
    session_id: int,
    *,
    timeout: float = 10.0,
) -> Stopping | Refused:
    row = (
        await session.execute(
            select(ChargingSession, Charger.charge_point_id)
            .join(Charger, Charger.id == ChargingSession.charger_id)
            .where(ChargingSession.id == session_id)
        )
    ).first()
    if row is None or row[0].user_id != user.id:
        return Refused(Refusal.NOT_YOUR_SESSION, "no such session of yours")
    cs, cp_id = row
    if cs.status == SessionStatus.STARTING.value:
        return Refused(Refusal.SESSION_NOT_ACTIVE, "the charger has not started the session yet")
    if cs.status not in OPEN_STATUSES:
        return Refused(Refusal.SESSION_NOT_ACTIVE, "the session has ended")
    try:
        result = await commands.send(
            cp_id, bus.RemoteStop(transaction_id=cs.transaction_id), timeout=timeout
        )
    except bus.ChargerOffline:
        return Refused(Refusal.CHARGER_OFFLINE, f"charger {cp_id} is offline")
    except bus.BusUnavailable:
        return Refused(Refusal.CHARGER_OFFLINE, _BUS_DOWN)
    except bus.CommandError as error:
        return Refused(Refusal.CHARGER_OFFLINE, f"the charger did not confirm: {error}")
    if not result.accepted:
        return Refused(Refusal.SESSION_NOT_ACTIVE, f"the charger answered {result.status}")
    return Stopping(cs.id)


# ------------------------------------------------------------------ history


async def session_for_user(
    session: AsyncSession, user_id: int, session_id: int
) -> ChargingSession | None:
    cs = await session.get(ChargingSession, session_id)
    return cs if cs is not None and cs.user_id == user_id else None


async def sessions_for_user(
    session: AsyncSession,
    user_id: int,
    *,
    first: int,
    offset: int,
    since: datetime | None = None,
    until: datetime | None = None,
) -> tuple[list[ChargingSession], bool]:
    query = select(ChargingSession).where(ChargingSession.user_id == user_id)
    if since is not None:
        query = query.where(ChargingSession.started_at >= since)
    if until is not None:
        query = query.where(ChargingSession.started_at < until)
    rows = list(
        (
            await session.execute(
                query.order_by(ChargingSession.started_at.desc(), ChargingSession.id.desc())
                .offset(offset)
                .limit(first + 1)
            )
        ).scalars()
    )
    return rows[:first], len(rows) > first
