"""Ports between the domain and the chargers: CommandBus (to a charger), EventBus (live updates).

The in-process implementations serve the embedded single-process setup; a Redis-backed pair
replaces them when API and gateway processes run side by side.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import typing
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- commands
# Version-neutral commands. The gateway translates each into the charger's OCPP version.


@dataclass(frozen=True)
class RemoteStart:
    id_token: str
    evse_id: int | None = None
    connector_id: int | None = None
    remote_start_id: int | None = None
    charging_profile: dict[str, Any] | None = None


@dataclass(frozen=True)
class RemoteStop:
    transaction_id: str


@dataclass(frozen=True)
class Reset:
    kind: Literal["soft", "hard"] = "soft"


@dataclass(frozen=True)
class UnlockConnector:
    connector_id: int
    evse_id: int | None = None


@dataclass(frozen=True)
class ChangeAvailability:
    operative: bool
    connector_id: int = 0
    evse_id: int | None = None


@dataclass(frozen=True)
class TriggerMessage:
    # 1.6 names: BootNotification, Heartbeat, MeterValues, StatusNotification, ...
    message: str
    connector_id: int | None = None
    evse_id: int | None = None


@dataclass(frozen=True)
class GetConfiguration:
    """1.6 GetConfiguration; in 2.x GetVariables on the given component."""

    keys: tuple[str, ...] = ()
    component: str = "OCPPCommCtrlr"


@dataclass(frozen=True)
class SetConfiguration:
    """1.6 ChangeConfiguration; in 2.x SetVariables on the given component."""

    key: str
    value: str
    component: str = "OCPPCommCtrlr"


@dataclass(frozen=True)
class SetChargingProfile:
    evse_id: int
    # The profile in the charger's own OCPP shape (camelCase), validated by its schema.
    profile: dict[str, Any]


@dataclass(frozen=True)
class ClearChargingProfile:
    profile_id: int | None = None
    evse_id: int | None = None
    purpose: str | None = None
    stack_level: int | None = None


@dataclass(frozen=True)
class GetTransactionStatus:
    """2.x only: is the transaction still going, and are its messages queued?"""

    transaction_id: str


@dataclass(frozen=True)
class InstallCertificate:
    """2.x: install a root (V2GRootCertificate, MORootCertificate, CSMSRootCertificate,
    ManufacturerRootCertificate) in the charger."""

    certificate_type: str
    certificate: str


@dataclass(frozen=True)
class GetInstalledCertificateIds:
    certificate_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class DeleteCertificate:
    hash_data: dict[str, str]  # CertificateHashDataType, camelCase


@dataclass(frozen=True)
class CertificateSigned:
    """The certificate the operator's sub-CA signed for the charger's CSR."""

    certificate_chain: str
    certificate_type: str | None = None


Command = (
    RemoteStart
    | RemoteStop
    | Reset
    | UnlockConnector
    | ChangeAvailability
    | TriggerMessage
    | GetConfiguration
    | SetConfiguration
    | SetChargingProfile
    | ClearChargingProfile
    | GetTransactionStatus
    | InstallCertificate
    | GetInstalledCertificateIds
    | DeleteCertificate
    | CertificateSigned
)


def command_to_dict(command: Command) -> dict[str, Any]:
    """A command as JSON-able data, for a bus between processes."""
    from dataclasses import asdict

    return {"type": type(command).__name__, "args": asdict(command)}


def command_from_dict(data: dict[str, Any]) -> Command:
    if not COMMANDS:
        COMMANDS.update({cls.__name__: cls for cls in typing.get_args(Command)})
    cls = COMMANDS[data["type"]]
    args = {k: tuple(v) if k == "keys" else v for k, v in data["args"].items()}
    command: Command = cls(**args)
    return command


@dataclass(frozen=True)
class CommandResult:
    """The charger's answer: its status word and the rest of the payload (camelCase)."""

    status: str
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def accepted(self) -> bool:
        return self.status in ("Accepted", "Unlocked", "RebootRequired", "Scheduled")


class CommandError(Exception):
    """A command could not be delivered or answered."""

    code = "command_failed"


class ChargerOffline(CommandError):
    code = "charger_offline"


class ChargerBusy(CommandError):
    code = "charger_busy"


class CommandTimeout(CommandError):
    code = "timeout"


class CommandRejectedByCharger(CommandError):
    """The charger answered with a CALLERROR."""

    code = "call_error"


class CommandNotSupported(CommandError):
    code = "not_supported"


class CommandInvalid(CommandError):
    """The command does not fit the charger's OCPP schema (e.g. a malformed profile)."""

    code = "invalid"


class BusUnavailable(CommandError):
    """The bus between processes (Redis) cannot be reached: nothing was sent."""

    code = "bus_unavailable"


COMMAND_ERRORS: dict[str, type[CommandError]] = {
    cls.code: cls
    for cls in (
        CommandError,
        ChargerOffline,
        ChargerBusy,
        CommandTimeout,
        CommandRejectedByCharger,
        CommandNotSupported,
        CommandInvalid,
        BusUnavailable,
    )
}
COMMANDS: dict[str, type[Any]] = {}  # filled below: command class by name


class CommandTarget(Protocol):
    """What the gateway registers for each connected charger."""

    async def execute(self, command: Command, timeout: float) -> CommandResult: ...


class CommandBus(Protocol):
    async def send(
        self, charge_point_id: str, command: Command, timeout: float | None = None
    ) -> CommandResult: ...

    def is_connected(self, charge_point_id: str) -> bool: ...


class CommandRegistry(CommandBus, Protocol):
    """The gateway's side of a command bus: it registers the chargers it holds."""

    def register(self, charge_point_id: str, target: CommandTarget) -> None: ...

    def unregister(self, charge_point_id: str, target: CommandTarget) -> None: ...

    def connected_ids(self) -> list[str]: ...


class InProcessCommandBus:
    """Routes commands to chargers connected to this process."""

    def __init__(self, default_timeout: float = 35.0) -> None:
        self._targets: dict[str, CommandTarget] = {}
        self.default_timeout = default_timeout

    def register(self, charge_point_id: str, target: CommandTarget) -> None:
        self._targets[charge_point_id] = target

    def unregister(self, charge_point_id: str, target: CommandTarget) -> None:
        # A reconnect may already have registered a newer connection: leave that one.
        if self._targets.get(charge_point_id) is target:
            del self._targets[charge_point_id]

    def is_connected(self, charge_point_id: str) -> bool:
        return charge_point_id in self._targets

    def connected_ids(self) -> list[str]:
        return list(self._targets)

    async def send(
        self, charge_point_id: str, command: Command, timeout: float | None = None
    ) -> CommandResult:
        target = self._targets.get(charge_point_id)
        if target is None:
            raise ChargerOffline(f"charger {charge_point_id} is not connected")
        return await target.execute(command, timeout or self.default_timeout)


# --------------------------------------------------------------------------- events


@dataclass(frozen=True)
class Event:
    """A live update. `topic` names what it is about, e.g. `charger:CP-1` or `session:42`."""

    topic: str
    kind: str
    data: dict[str, Any]


class EventBus(Protocol):
    """Live updates. `subscribe(topic)` gets the events of one topic, `subscribe("*")` all
    of them; `kinds` narrows a subscription to those event kinds.

    Publishers of frequent events (a session's meter values) ask `listening(topic)` first
    and skip the event when nobody would receive it. A subscription to "*" with `kinds`
    (the background listeners: payments, SMS) does not count there: those act only on
    watched sessions (with a payment hold or an SMS driver), whose updates are always
    published (core.sessions.meter_rows)."""

    def publish(self, event: Event) -> None: ...

    def subscribe(
        self, topic: str, kinds: frozenset[str] | None = None
    ) -> contextlib.AbstractAsyncContextManager[AsyncIterator[Event]]: ...

    def listening(self, topic: str) -> bool: ...


class _Subscription:
    __slots__ = ("kinds", "queue")

    def __init__(self, queue: asyncio.Queue[Event], kinds: frozenset[str] | None) -> None:
        self.queue = queue
        self.kinds = kinds


class InProcessEventBus:
    """Fan-out to in-process subscribers; a slow subscriber loses old events, never blocks."""

    def __init__(self, queue_size: int = 256) -> None:
        self._subscribers: dict[str, set[_Subscription]] = defaultdict(set)
        self._queue_size = queue_size
        # Subscriptions that count for `listening`: per topic, and to "*" without kinds.
        self._listeners: dict[str, int] = defaultdict(int)

    def publish(self, event: Event) -> None:
        self.deliver(event)

    def deliver(self, event: Event) -> None:
        """Hand `event` to this process's subscribers."""
        for topic in (event.topic, "*"):
            for sub in self._subscribers.get(topic, ()):
                if sub.kinds is not None and event.kind not in sub.kinds:
                    continue
                queue = sub.queue
                if queue.full():
                    with contextlib.suppress(asyncio.QueueEmpty):
                        queue.get_nowait()
                queue.put_nowait(event)

    def listening(self, topic: str) -> bool:
        return self._listeners.get(topic, 0) > 0 or self._listeners.get("*", 0) > 0

    def local_topics(self) -> list[str]:
        """Topics with a subscriber here that counts for `listening`."""
        return [topic for topic, n in self._listeners.items() if n > 0]

    @contextlib.asynccontextmanager
    async def subscribe(
        self, topic: str, kinds: frozenset[str] | None = None
    ) -> AsyncIterator[AsyncIterator[Event]]:
        queue: asyncio.Queue[Event] = asyncio.Queue(self._queue_size)
        sub = _Subscription(queue, kinds)
        self._subscribers[topic].add(sub)
        counts = topic != "*" or kinds is None
        if counts:
            self._listeners[topic] += 1
            self.on_listen(topic)

        async def events() -> AsyncIterator[Event]:
            while True:
                yield await queue.get()

        try:
            yield events()
        finally:
            subscribers = self._subscribers.get(topic)
            if subscribers is not None:
                subscribers.discard(sub)
                if not subscribers:
                    del self._subscribers[topic]
            if counts:
                self._listeners[topic] -= 1
                if self._listeners[topic] <= 0:
                    del self._listeners[topic]

    def on_listen(self, topic: str) -> None:
        """A new subscription that counts for `listening` (the Redis bus tells others)."""
