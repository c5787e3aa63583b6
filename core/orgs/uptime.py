"""Uptime and fault history of chargers as staff see them (dashboard page 10), read from the
status changes core.chargers.service records (charger_status_changes), scoped by core.orgs.

Uptime is the share of the observed time a charger was connected: each Online/Offline row
lasts until the charger's next one (the last until the end of the period or now), clipped
to the period; time before a charger's first row is not observed. Faulted time is the same
sum over its connectors' Faulted statuses. Both are one SQL statement with window functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import UTCDateTime
from core.models import Charger, ChargerStatusChange
from core.orgs import repository as repo
from core.orgs.scope import Actor
from core.orgs.sqltime import earlier, later, seconds_between
from core.timeutil import utcnow

FAULTS = ("Faulted",)


@dataclass(frozen=True)
class Uptime:
    observed_s: float  # time with a known connection state in the period
    online_s: float
    faulted_s: float  # summed over connectors

    @property
    def share(self) -> float | None:
        return self.online_s / self.observed_s if self.observed_s > 0 else None


@dataclass(frozen=True)
class Fault:
    charger_id: int
    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    at: datetime
    until: datetime | None  # the connector's next status (None: still so)


def _visible_chargers(actor: Actor, charger_ids: list[int] | None) -> Any:
    query = repo.chargers_query(actor).with_only_columns(Charger.id).order_by(None)
    if charger_ids is not None:
        query = query.where(Charger.id.in_(charger_ids))
    return query


async def uptime(
    session: AsyncSession,
    actor: Actor,
    start: datetime,
    end: datetime,
    charger_ids: list[int] | None = None,
) -> dict[int, Uptime]:
    """Per charger the actor may see (or of `charger_ids`): observed, online and faulted
    seconds in [start, min(end, now))."""
    end = min(end, utcnow())
    if end <= start:
        return {}
    dialect = session.get_bind().dialect.name
    c = ChargerStatusChange
    changes = (
        select(
            c.charger_id,
            c.kind,
            c.status,
            c.at,
            func.lead(c.at, type_=UTCDateTime)
            .over(
                partition_by=(c.charger_id, c.kind, c.evse_id, c.connector_id),
                order_by=(c.at, c.id),
            )
            .label("next_at"),
        )
        .where(c.charger_id.in_(_visible_chargers(actor, charger_ids)), c.at < end)
        .subquery()
    )
    lo = later(dialect, changes.c.at, _dt(start))
    hi = earlier(dialect, func.coalesce(changes.c.next_at, _dt(end)), _dt(end))
    seconds = seconds_between(dialect, lo, hi)
    connection = changes.c.kind == "connection"
    query = (
        select(
            changes.c.charger_id,
            func.sum(case((connection, seconds), else_=0)),
            func.sum(case((and_(connection, changes.c.status == "Online"), seconds), else_=0)),
            func.sum(
                case(
                    (and_(changes.c.kind == "status", changes.c.status.in_(FAULTS)), seconds),
                    else_=0,
                )
            ),
        )
        .where(func.coalesce(changes.c.next_at, _dt(end)) > _dt(start))
        .group_by(changes.c.charger_id)
    )
    return {
        int(cid): Uptime(float(obs or 0), float(on or 0), float(bad or 0))
        for cid, obs, on, bad in await session.execute(query)
    }


def _dt(value: datetime) -> Any:
    return literal(value, UTCDateTime)


async def faults(
    session: AsyncSession,
    actor: Actor,
    start: datetime,
    end: datetime,
    charger_ids: list[int] | None = None,
    limit: int = 100,
) -> list[Fault]:
    """Faulted statuses and statuses with an error code that began in [start, end), newest
    first, each with when the connector next reported (its end)."""
    c = ChargerStatusChange
    statuses = (
        select(
            c.id,
            c.charger_id,
            c.evse_id,
            c.connector_id,
            c.status,
            c.error_code,
            c.at,
            func.lead(c.at, type_=UTCDateTime)
            .over(partition_by=(c.charger_id, c.evse_id, c.connector_id), order_by=(c.at, c.id))
            .label("until"),
        )
        .where(
            c.kind == "status",
            c.charger_id.in_(_visible_chargers(actor, charger_ids)),
        )
        .subquery()
    )
    rows = await session.execute(
        select(statuses)
        .where(
            (statuses.c.status.in_(FAULTS)) | statuses.c.error_code.is_not(None),
            statuses.c.at >= _dt(start),
            statuses.c.at < _dt(end),
        )
        .order_by(statuses.c.at.desc(), statuses.c.id.desc())
        .limit(limit)
    )
    return [
        Fault(cid, evse, conn, status, code, at, until)
        for _, cid, evse, conn, status, code, at, until in rows
    ]


async def fault_counts(
    session: AsyncSession,
    actor: Actor,
    start: datetime,
    end: datetime,
    charger_ids: list[int] | None = None,
) -> dict[int, int]:
    """How many faults (as `faults` lists them) began in [start, end), per charger."""
    c = ChargerStatusChange
    rows = await session.execute(
        select(c.charger_id, func.count(c.id))
        .where(
            c.kind == "status",
            (c.status.in_(FAULTS)) | c.error_code.is_not(None),
            c.at >= _dt(start),
            c.at < _dt(end),
            c.charger_id.in_(_visible_chargers(actor, charger_ids)),
        )
        .group_by(c.charger_id)
    )
    return {int(cid): int(n) for cid, n in rows}
