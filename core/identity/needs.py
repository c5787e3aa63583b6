"""What the car says it needs (ISO 15118 via NotifyEVChargingNeeds, and SoC in meter
values): kept per charger EVSE for the power allocator, and shown on the live session.

`current_needs()` is the read side for core.power: one row per plugged-in car with its
latest state of charge, the energy it asks for, when it leaves, its limits, and (V2G)
how much it may give back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.bus import Event
from core.chargers.service import charger_topic
from core.db import dialect_insert
from core.models import OPEN_STATUSES, ChargingSession, EvChargingNeeds
from core.sessions.service import session_event, session_topic
from core.uow import UnitOfWork


@dataclass(frozen=True)
class ChargingNeeds:
    requested_energy_transfer: str
    energy_amount_wh: int | None = None
    departure_at: datetime | None = None
    soc: int | None = None
    target_soc: int | None = None
    min_soc: int | None = None
    ev_min_current_a: int | None = None
    ev_max_current_a: int | None = None
    ev_max_voltage_v: int | None = None
    ev_max_power_w: int | None = None
    ev_capacity_wh: int | None = None
    max_discharge_power_w: int | None = None
    v2x_energy_wh: int | None = None
    control_mode: str | None = None
    energy_transfer_modes: tuple[str, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class VehicleNeeds:
    """One plugged-in car, as the allocator sees it."""

    charger_id: int
    evse_id: int
    session_id: int | None
    soc: int | None
    energy_amount_wh: int | None
    departure_at: datetime | None
    ev_min_current_a: int | None
    ev_max_current_a: int | None
    ev_max_power_w: int | None
    target_soc: int | None
    min_soc: int | None
    max_discharge_power_w: int | None
    bidirectional: bool
    updated_at: datetime


_FIELDS = tuple(f for f in ChargingNeeds.__dataclass_fields__ if f != "energy_transfer_modes")


async def record_needs(
    uow: UnitOfWork,
    charger_id: int,
    charge_point_id: str,
    evse_id: int,
    needs: ChargingNeeds,
    at: datetime,
) -> int | None:
    """Store the car's needs at this EVSE (the latest wins), tie them to the session
    charging there, and let the app see the state of charge. Returns the session id."""
    session = uow.session
    cs = (
        await session.execute(
            select(ChargingSession)
            .where(
                ChargingSession.charger_id == charger_id,
                ChargingSession.evse_id == evse_id,
                ChargingSession.status.in_(OPEN_STATUSES),
            )
            .order_by(ChargingSession.id.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    values: dict[str, Any] = {name: getattr(needs, name) for name in _FIELDS}
    values["energy_transfer_modes"] = list(needs.energy_transfer_modes)
    values.update(session_id=cs.id if cs else None, updated_at=at)
    insert = dialect_insert(session, EvChargingNeeds).values(
        charger_id=charger_id, evse_id=evse_id, **values
    )
    await session.execute(
        insert.on_conflict_do_update(index_elements=["charger_id", "evse_id"], set_=values)
    )
    if cs is not None and needs.soc is not None:
        cs.last_soc = needs.soc
        data = session_event(cs, "session_updated")
        uow.publish(Event(session_topic(cs.id), "session_updated", data))
        uow.publish(Event(charger_topic(charge_point_id), "session_updated", data))
    return cs.id if cs else None


async def current_needs(
    session: AsyncSession, charger_ids: list[int] | None = None
) -> list[VehicleNeeds]:
    """The needs of cars charging now (their session open), newest SoC from either the
    car's own report or the meter values."""
    query = (
        select(EvChargingNeeds, ChargingSession.last_soc, ChargingSession.last_sample_at)
        .join(ChargingSession, ChargingSession.id == EvChargingNeeds.session_id)
        .where(ChargingSession.status.in_(OPEN_STATUSES))
        .order_by(EvChargingNeeds.charger_id, EvChargingNeeds.evse_id)
    )
    if charger_ids is not None:
        query = query.where(EvChargingNeeds.charger_id.in_(charger_ids))
    out = []
    for row, meter_soc, sampled_at in (await session.execute(query)).all():
        soc = row.soc
        if meter_soc is not None and (sampled_at is None or sampled_at >= row.updated_at):
            soc = meter_soc
        modes = set(row.energy_transfer_modes or []) | {row.requested_energy_transfer}
        out.append(
            VehicleNeeds(
                charger_id=row.charger_id,
                evse_id=row.evse_id,
                session_id=row.session_id,
                soc=soc,
                energy_amount_wh=row.energy_amount_wh,
                departure_at=row.departure_at,
                ev_min_current_a=row.ev_min_current_a,
                ev_max_current_a=row.ev_max_current_a,
                ev_max_power_w=row.ev_max_power_w,
                target_soc=row.target_soc,
                min_soc=row.min_soc,
                max_discharge_power_w=row.max_discharge_power_w,
                bidirectional=any("BPT" in m for m in modes),
                updated_at=row.updated_at,
            )
        )
    return out


@dataclass(frozen=True)
class V2xModes:
    """What the charger reported it can do with this car (NotifyEVChargingNeeds, 2.1)."""

    control_mode: str | None  # ScheduledControl | DynamicControl
    energy_transfer_modes: tuple[str, ...]  # e.g. DC, DC_BPT (BPT: bidirectional)
    max_discharge_power_w: int | None

    @property
    def bidirectional(self) -> bool:
        return any("BPT" in m for m in self.energy_transfer_modes)


async def v2x_modes_of(session: AsyncSession, session_ids: list[int]) -> dict[int, V2xModes]:
    """The latest reported V2X modes of these sessions' cars, by session id (one query)."""
    if not session_ids:
        return {}
    rows = await session.execute(
        select(EvChargingNeeds).where(EvChargingNeeds.session_id.in_(session_ids))
    )
    out: dict[int, V2xModes] = {}
    for row in rows.scalars():
        if row.session_id is None:
            continue
        modes = tuple(row.energy_transfer_modes or ()) or (row.requested_energy_transfer,)
        out[row.session_id] = V2xModes(row.control_mode, modes, row.max_discharge_power_w)
    return out
