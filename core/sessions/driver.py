"""What a driver does with charging: start and stop from the app, see their sessions.

Starting checks the driver, the connector and payment readiness, then asks the charger
through the CommandBus with a bounded wait. The session itself appears when the charger
reports the transaction (StartTransaction / TransactionEvent), as with any other start.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import bus
from core.models import (
    Charger,
    ChargingSession,
    Connector,
    ConnectorStatus,
    IdToken,
    IdTokenKind,
    IdTokenStatus,
    PaymentMethod,
    SessionStatus,
    User,
    Vehicle,
)

STARTABLE = frozenset(
    {
        ConnectorStatus.AVAILABLE.value,
        ConnectorStatus.PREPARING.value,
        ConnectorStatus.SUSPENDED_EV.value,
    }
)


# ------------------------------------------------------------------ outcomes


@dataclass(frozen=True)
class Started:
    connector_pk: int
    charge_point_id: str
    evse_id: int
    transaction_id: str | None


@dataclass(frozen=True)
class Stopping:
    session_id: int


@dataclass(frozen=True)
class Refused:
    """An expected refusal: `kind` names the GraphQL result type."""

    kind: str  # ChargerOffline | ConnectorUnavailable | PaymentMethodRequired | NotAllowed |
    #            NotYourSession | SessionNotActive
    message: str
    # No answer (timeout, busy): the charger may still start. A hold must not be released
    # on this; reconciliation releases it if no session shows up.
    uncertain: bool = False


# ------------------------------------------------------------------ readiness


async def payment_ready(session: AsyncSession, user: User) -> bool:
    """Invoice customers are always ready; others need a saved payment method."""
    if user.invoice_billing:
        return True
    return bool(
        (await session.execute(select(exists().where(PaymentMethod.user_id == user.id)))).scalar()
    )


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
    query = select(ChargingSession).where(
        ChargingSession.user_id == user_id, ChargingSession.status == SessionStatus.ACTIVE.value
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


async def prepare_start(
    session: AsyncSession,
    commands: bus.CommandBus,
    user: User,
    connector_pk: int,
    *,
    vehicle_id: int | None = None,
    token_kind: IdTokenKind = IdTokenKind.APP,
) -> StartPlan | Refused:
    """Check driver, connector and payment readiness; make sure the app token exists.

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
        return Refused("ConnectorUnavailable", "no such connector")
    connector, charger = row
    if vehicle_id is not None:
        owned = (
            await session.execute(
                select(Vehicle.id).where(Vehicle.id == vehicle_id, Vehicle.user_id == user.id)
            )
        ).first()
        if owned is None:
            return Refused("NotAllowed", "that vehicle is not yours")
    if await active_session(session, user.id) is not None:
        return Refused("NotAllowed", "you already have a session charging")
    if not charger.online or not commands.is_connected(charger.charge_point_id):
        return Refused("ChargerOffline", f"charger {charger.charge_point_id} is offline")
    if connector.status not in STARTABLE:
        return Refused("ConnectorUnavailable", f"connector is {connector.status}")
    if not await payment_ready(session, user):
        return Refused("PaymentMethodRequired", "add a payment method before charging")
    token = await driver_token(session, user, token_kind)
    return StartPlan(
        connector.id, charger.charge_point_id, connector.evse_id, connector.connector_id, token
    )


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
                remote_start_id=secrets.randbelow(2**31 - 1) + 1,
            ),
            timeout=timeout,
        )
    except bus.ChargerOffline:
        return Refused("ChargerOffline", f"charger {plan.charge_point_id} is offline")
    except bus.ChargerBusy:
        return Refused(
            "ChargerOffline", "the charger is busy; try again in a moment", uncertain=True
        )
    except bus.CommandTimeout:
        return Refused("ChargerOffline", "the charger did not answer in time", uncertain=True)
    except bus.CommandError as error:
        return Refused("NotAllowed", f"the charger refused: {error}")
    if not result.accepted:
        return Refused("NotAllowed", f"the charger answered {result.status}")
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
        return Refused("NotYourSession", "no such session of yours")
    cs, cp_id = row
    if cs.status != SessionStatus.ACTIVE.value:
        return Refused("SessionNotActive", "the session has ended")
    try:
        result = await commands.send(
            cp_id, bus.RemoteStop(transaction_id=cs.transaction_id), timeout=timeout
        )
    except bus.ChargerOffline:
        return Refused("ChargerOffline", f"charger {cp_id} is offline")
    except bus.CommandError as error:
        return Refused("ChargerOffline", f"the charger did not confirm: {error}")
    if not result.accepted:
        return Refused("SessionNotActive", f"the charger answered {result.status}")
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
