"""Version-neutral shapes the gateway hands to the sessions service."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class MeterReading:
    """One meter value (one timestamp) with the measurands we keep, in base units."""

    sampled_at: datetime | None
    context: str = "Sample.Periodic"
    energy_wh: int | None = None
    power_w: int | None = None
    current_a: float | None = None
    voltage_v: float | None = None
    soc: int | None = None
    # V2G: the export register (energy the car delivered back), Wh.
    export_wh: int | None = None


@dataclass(frozen=True)
class TransactionEventIn:
    """An OCPP 2.x TransactionEvent, reduced to what the domain needs."""

    event_type: str  # Started | Updated | Ended
    timestamp: datetime | None
    trigger_reason: str
    seq_no: int
    transaction_id: str
    charging_state: str | None = None
    stopped_reason: str | None = None
    remote_start_id: int | None = None
    offline: bool = False
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    readings: list[MeterReading] = field(default_factory=list)


@dataclass(frozen=True)
class SessionSummary:
    id: int
    charger_id: str
    connector_id: int | None
    transaction_id: str
    id_token: str | None
    started_at: datetime
    stopped_at: datetime | None
    energy_wh: int
    status: str
    stop_reason: str | None
    flags: list[str]
