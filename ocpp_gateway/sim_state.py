"""State shared by the simulator and its OCPP 1.6 / 2.x adapters (see `simulator`)."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from ocpp_gateway.sim_curve import ChargerKind, Vehicle

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}
ENERGY = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"
VOLTAGE = "Voltage"
SOC = "SoC"
MEASURANDS = (ENERGY, POWER, CURRENT, VOLTAGE, SOC)
# Follow-up work of a handler: a plain function, or one returning an awaitable to spawn.
Work = Callable[[], Awaitable[None] | None]


@dataclass(frozen=True)
class ChargerSpec:
    """Per-charger hardware, overriding the config's defaults for that charge point id."""

    connectors: int | None = None
    max_power_w: float | None = None
    kind: ChargerKind | None = None


@dataclass
class SimulationConfig:
    url: str  # ws://host:port/ocpp (the charge point id is appended as /<id>)
    chargers: int = 1
    protocol: str = "1.6"  # "1.6" | "2.0.1" | "2.1"
    prefix: str = "SIM"  # ids PREFIX-0001 ... unless `ids` is given
    ids: list[str] | None = None
    id_tags: list[str] = field(default_factory=lambda: ["04A2B3C4D5"])
    password: str | None = None  # HTTP Basic auth (username = charge point id)
    duration: float | None = None  # wall seconds; None = run until cancelled (or `stop`)
    meter_interval: float = 60.0  # simulated seconds between MeterValues
    speedup: float = 1.0  # simulated time runs this many times faster than wall time
    connectors: int = 2
    # "AC", "DC" or "auto": DC when the charge point id has a "DC" part (KLOKK-DC-01).
    kind: str = "auto"
    max_power_w: float | None = None  # per connector; None = 22 kW AC / 150 kW DC
    specs: dict[str, ChargerSpec] = field(default_factory=dict)
    seed: int = 1
    # Chance that a car is plugged in on a connector right after the first boot.
    initial_occupancy: float = 0.5
    # Cars arriving per connector and simulated hour (when a connector is free).
    arrivals_per_hour: float = 0.5
    vendor: str = "Ladeflyt"
    model: str = "SimCharger"
    firmware_version: str = "1.0.0-sim"
    # End sessions (StopTransaction / TransactionEvent Ended) when `duration` or `stop`
    # ends the run; cancellation never does, it is like pulling the plug.
    stop_sessions_on_exit: bool = True
    stop: asyncio.Event | None = None  # set it to end the run like `duration` does
    validate_messages: bool = True  # JSON-schema check of every frame (the ocpp package)
    call_timeout: float = 30.0  # wall seconds to wait for the CSMS's answer
    reconnect_min: float = 0.5  # wall seconds; doubled per failed attempt, with jitter
    reconnect_max: float = 30.0
    connect_stagger: float = 0.005  # wall seconds between the first connects of chargers
    min_heartbeat_wall: float = 1.0  # heartbeats never more often than this (wall seconds)


@dataclass
class Stats:
    chargers: int = 0
    messages_sent: int = 0
    by_action: Counter[str] = field(default_factory=Counter)
    commands_received: Counter[str] = field(default_factory=Counter)
    sessions_started: int = 0
    sessions_stopped: int = 0
    auth_rejected: int = 0
    energy_wh: float = 0.0
    errors: int = 0
    connects: int = 0
    connect_failures: int = 0
    reconnects: int = 0
    # Each charger's latest connection attempt: "connected", or why not ("HTTP 404",
    # "Connection refused"...), so a run nobody can join says so instead of retrying quietly.
    outcomes: dict[str, str] = field(default_factory=dict)
    reboots: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "chargers": self.chargers,
            "messages_sent": self.messages_sent,
            "messages_by_action": dict(sorted(self.by_action.items())),
            "commands_received": dict(sorted(self.commands_received.items())),
            "sessions_started": self.sessions_started,
            "sessions_stopped": self.sessions_stopped,
            "auth_rejected": self.auth_rejected,
            "energy_kwh": round(self.energy_wh / 1000, 3),
            "errors": self.errors,
            "connects": self.connects,
            "connect_failures": self.connect_failures,
            "reconnects": self.reconnects,
            "reboots": self.reboots,
        }


@dataclass
class Session:
    """A car on a connector, from plug-in until it leaves."""

    id_tag: str
    vehicle: Vehicle
    departs_at: float  # simulated seconds since the simulation started
    rng: random.Random
    remote: bool = False
    id_token_type: str = "ISO14443"  # 2.x IdTokenEnumType
    remote_start_id: int | None = None
    limit_w: float | None = None  # a TxProfile that came with a remote start
    transaction_id: str | None = None
    started: bool = False  # the CSMS knows about the transaction
    seq_no: int = 0  # 2.x: the next TransactionEvent's seqNo
    charging_state: str = "EVConnected"  # 2.x chargingState last reported
    meter_start_wh: int = 0
    stop_reason: str | None = None  # set to end the session (1.6 Reason vocabulary)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def next_seq(self) -> int:
        seq = self.seq_no
        self.seq_no += 1
        return seq

    def request_stop(self, reason: str) -> None:
        if self.stop_reason is None:
            self.stop_reason = reason
        self.wake.set()


@dataclass
class ConnectorState:
    id: int  # 1.6 connectorId; 2.x evseId (each EVSE has one connector, id 1)
    register_wh: float  # the meter's energy register: grows across sessions
    operative: bool = True
    pending_operative: bool | None = None  # a ChangeAvailability waiting for the session
    session: Session | None = None
    finishing: bool = False  # 1.6: transaction over, cable still plugged in
    reported: str | None = None  # the status last sent
    last_ms: int = 0  # epoch milliseconds of the last timestamp used (kept increasing)
    power_w: float = 0.0  # what the car draws now


@dataclass(frozen=True)
class Sample:
    """One meter reading to report."""

    timestamp: str
    context: str
    energy_wh: int
    power_w: int
    current_a: float
    voltage_v: float
    phases: int  # 0 for DC
    soc: int | None


@dataclass
class Variable:
    """A configuration key (1.6) or component variable (2.x, "Component.Variable")."""

    value: str = ""
    readonly: bool = False
    kind: Literal["int", "bool", "str", "measurands"] = "str"
    bind: str | None = None  # a Device attribute that holds the live value

    def valid(self, value: str) -> bool:
        if self.kind == "int":
            return value.strip().lstrip("-").isdigit() and int(value) >= 0
        if self.kind == "bool":
            return value.lower() in ("true", "false")
        if self.kind == "measurands":
            return all(m.strip() in MEASURANDS for m in value.split(",") if m.strip())
        return True


class Device(Protocol):
    """What the OCPP adapters may ask of a simulated charger (`simulator.SimCharger`)."""

    cp_id: str
    config: SimulationConfig
    stats: Stats
    kind: ChargerKind
    max_power_w: float
    model_name: str
    serial: str
    connectors: list[ConnectorState]
    variables: dict[str, Variable]
    heartbeat_interval: float  # CSMS seconds
    meter_interval: float  # simulated seconds

    def connector(self, connector_id: int) -> ConnectorState | None: ...

    def by_transaction(self, transaction_id: str) -> ConnectorState | None: ...

    def reserve_remote_start(
        self,
        id_tag: str,
        connector_id: int | None,
        remote_start_id: int | None,
        limit_w: float | None,
    ) -> ConnectorState | None:
        """Put a (remote) session on a free connector; `begin` it after answering."""

    def begin(self, conn: ConnectorState) -> None: ...

    def request_reset(self, reason: str, *, when_idle: bool) -> str:
        """Accepted (then `reboot`), or Scheduled: reboots when the last session ends."""

    async def reboot(self, reason: str) -> None: ...

    def change_availability(self, connector_id: int, operative: bool) -> str: ...

    async def report_all(self) -> None: ...

    def trigger(self, message: str, connector_id: int | None) -> tuple[str, Work | None]: ...

    def set_limit(self, profile_id: int, connector_id: int, limit_w: float) -> None: ...

    def clear_limits(self, profile_id: int | None, connector_id: int | None) -> bool: ...

    def measurands(self) -> set[str]: ...

    def spawn(self, work: Awaitable[None]) -> asyncio.Task[None]: ...


def get_variable(device: Device, name: str) -> str | None:
    var = device.variables.get(name)
    if var is None:
        return None
    if var.bind:
        value = getattr(device, var.bind)
        return str(int(value)) if isinstance(value, float) else str(value)
    return var.value


def set_variable(device: Device, name: str, value: str) -> Literal["Accepted", "Rejected"] | None:
    """Apply a configuration change; None if the key is unknown."""
    var = device.variables.get(name)
    if var is None:
        return None
    if var.readonly or not var.valid(value):
        return "Rejected"
    if var.bind:
        number = float(int(value))
        if number <= 0:
            return "Rejected"
        setattr(device, var.bind, number)
    else:
        var.value = value.lower() if var.kind == "bool" else value
    return "Accepted"


def limit_from_schedule(schedule: dict[str, Any], kind: ChargerKind) -> float | None:
    """The first period's limit of a charging schedule (snake_case keys), in W."""
    periods = schedule.get("charging_schedule_period") or []
    if not periods:
        return None
    first = min(periods, key=lambda p: p.get("start_period", 0))
    limit = float(first.get("limit", 0))
    if str(schedule.get("charging_rate_unit", "W")).upper() == "A":
        phases = int(first.get("number_phases") or 3)
        limit *= 400.0 if kind == "DC" else 230.0 * phases
    return limit
