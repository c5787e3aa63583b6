"""OCPP 2.1 bidirectional charging profiles: what the allocator or an operator asks of a V2G
car at one EVSE, per period: charge up to a limit, give back up to a discharge limit, and
follow a setpoint (CentralSetpoint: positive charges, negative discharges).

OCPP 2.1 carries the discharge limit in `dischargeLimit`, a non-positive number (the spec
keeps it negative to match `setpoint`); `limit` stays non-negative. The profile is in the
charger's own shape (camelCase), ready for bus.SetChargingProfile."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from core.timeutil import format_ocpp_datetime


class V2xError(ValueError):
    """A period that contradicts itself (a setpoint outside its own limits)."""


@dataclass(frozen=True)
class V2xPeriod:
    start_s: int  # from the schedule's start
    charge_limit_w: int  # >= 0
    discharge_limit_w: int  # how much the car may give back, >= 0
    setpoint_w: int | None = None  # default: give back all it may, or charge if it may not


def _period(p: V2xPeriod) -> dict[str, Any]:
    if p.start_s < 0 or p.charge_limit_w < 0 or p.discharge_limit_w < 0:
        raise V2xError("start, charge and discharge limits are >= 0 (W)")
    setpoint = p.setpoint_w
    if setpoint is None:
        setpoint = -p.discharge_limit_w if p.discharge_limit_w else p.charge_limit_w
    if not -p.discharge_limit_w <= setpoint <= p.charge_limit_w:
        raise V2xError(
            f"setpoint {setpoint} W outside -{p.discharge_limit_w}..{p.charge_limit_w} W"
        )
    return {
        "startPeriod": p.start_s,
        "limit": p.charge_limit_w,
        "dischargeLimit": -p.discharge_limit_w,
        "setpoint": setpoint,
        "operationMode": "CentralSetpoint",
    }


def bidirectional_profile(
    profile_id: int,
    periods: list[V2xPeriod],
    *,
    transaction_id: str | None = None,
    stack_level: int = 1,
    starts_at: datetime | None = None,
    duration_s: int | None = None,
) -> dict[str, Any]:
    """A 2.1 SetChargingProfile `chargingProfile`: a TxProfile for the transaction when
    one is named, else the EVSE's TxDefaultProfile."""
    if not periods or periods[0].start_s != 0:
        raise V2xError("the first period starts at 0")
    if any(b.start_s <= a.start_s for a, b in itertools.pairwise(periods)):
        raise V2xError("periods start in order")
    schedule: dict[str, Any] = {
        "id": profile_id,
        "chargingRateUnit": "W",
        "chargingSchedulePeriod": [_period(p) for p in periods],
    }
    if starts_at is not None:
        schedule["startSchedule"] = format_ocpp_datetime(starts_at)
    if duration_s is not None:
        schedule["duration"] = duration_s
    profile: dict[str, Any] = {
        "id": profile_id,
        "stackLevel": stack_level,
        "chargingProfilePurpose": "TxProfile" if transaction_id else "TxDefaultProfile",
        "chargingProfileKind": "Absolute" if starts_at is not None else "Relative",
        "chargingSchedule": [schedule],
    }
    if transaction_id:
        profile["transactionId"] = transaction_id
    return profile
