"""One websocket connection of a simulated charger, and what each OCPP version provides.

The charger side is played by the `ocpp` package's ChargePoint classes. Their `@on`
handlers run inside the read loop, so they must not await a CALL of their own; they
decide the answer and hand any follow-up work (a StatusNotification, starting a session,
rebooting) to `later()`, which runs it once the answer has been sent — the order a real
charger keeps.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from abc import ABC, abstractmethod
from typing import Any, ClassVar

from ocpp.exceptions import NotImplementedError as OcppNotImplemented
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from ocpp_gateway.sim_state import ConnectorState, Device, Sample, Session, Variable, Work

# The ocpp package logs every frame at INFO: far too much for hundreds of chargers.
WIRE_LOG = logging.getLogger("ocpp_gateway.simulator.wire")
WIRE_LOG.setLevel(logging.WARNING)


class LinkLost(Exception):
    """The connection closed before the CSMS answered."""


class SimHandlers:
    """Mixed into an `ocpp` ChargePoint: bookkeeping around each incoming CALL."""

    device: Device
    route_map: dict[str, Any]
    _ocpp_version: str
    _deferred: list[Work]

    def later(self, work: Work) -> None:
        """Run `work` after the answer to the CALL being handled has been sent."""
        self._deferred.append(work)

    async def _handle_call(self, msg: Any) -> Any:
        self.device.stats.commands_received[msg.action] += 1
        if msg.action not in self.route_map:
            # The package leaves unknown actions unanswered on 2.1; answer them all.
            raise OcppNotImplemented(details={"cause": f"{msg.action} is not implemented"})
        self._deferred = []
        result = await super()._handle_call(msg)  # type: ignore[misc]
        deferred, self._deferred = self._deferred, []
        for work in deferred:
            outcome = work()
            if inspect.isawaitable(outcome):
                self.device.spawn(outcome)
        return result


class Link:
    """A websocket to the CSMS with a ChargePoint reading from it."""

    def __init__(self, device: Device, ws: ClientConnection, cp_class: type[Any]) -> None:
        self.device = device
        self.ws = ws
        self.cp: Any = cp_class(
            device.cp_id, ws, response_timeout=device.config.call_timeout, logger=WIRE_LOG
        )
        self.cp.device = device
        self.cp._deferred = []
        self._skip_validation = not device.config.validate_messages
        self.reader = asyncio.create_task(self._read(), name=f"sim-read:{device.cp_id}")

    async def _read(self) -> None:
        try:
            while True:
                await self.cp.route_message(await self.ws.recv())
        except ConnectionClosed:
            pass

    async def call(self, payload: Any) -> Any:
        """Send a CALL and return the CALLRESULT; OCPPError on a CALLERROR, TimeoutError."""
        if self.reader.done():
            raise LinkLost
        call = asyncio.ensure_future(
            self.cp.call(payload, suppress=False, skip_schema_validation=self._skip_validation)
        )
        try:
            done, _ = await asyncio.wait((call, self.reader), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:
            call.cancel()
            raise
        if call not in done:
            call.cancel()
            raise LinkLost
        try:
            return call.result()
        except ConnectionClosed:
            raise LinkLost from None

    async def close(self) -> None:
        await self.ws.close()
        await asyncio.wait((self.reader,))


class Dialect(ABC):
    """Everything that differs between OCPP versions: the messages and their answers."""

    version: ClassVar[str]
    cp_class: ClassVar[type[Any]]
    measurands_key: ClassVar[str]  # the variable listing the measurands to sample
    station_status: ClassVar[bool] = False  # 1.6 reports connector 0 (the whole charger)

    @abstractmethod
    def variables(self, device: Device) -> dict[str, Variable]: ...

    @abstractmethod
    def boot(self, device: Device, reason: str) -> Any: ...

    def boot_result(self, result: Any) -> tuple[str, int]:
        return str(result.status), int(result.interval)

    @abstractmethod
    def heartbeat(self) -> Any: ...

    @abstractmethod
    def status_name(self, conn: ConnectorState) -> str: ...

    @abstractmethod
    def status(self, connector_id: int, name: str, timestamp: str) -> Any: ...

    @abstractmethod
    def authorize_remote(self, device: Device) -> bool:
        """Whether a remote start is authorized again at the charger."""

    @abstractmethod
    def authorize(self, id_tag: str) -> Any: ...

    @abstractmethod
    def authorized(self, result: Any) -> bool: ...

    @abstractmethod
    def start(self, device: Device, conn: ConnectorState, session: Session, sample: Sample) -> Any:
        """StartTransaction / TransactionEvent Started."""

    @abstractmethod
    def started(self, session: Session, result: Any) -> bool:
        """Take in the answer to `start`; False if the id tag was not accepted."""

    @abstractmethod
    def meter(
        self,
        device: Device,
        conn: ConnectorState,
        session: Session | None,
        sample: Sample,
        trigger: str,
    ) -> Any:
        """Periodic (or triggered) meter values, in a transaction or not."""

    def charging_state(
        self, device: Device, conn: ConnectorState, session: Session, sample: Sample
    ) -> Any | None:
        """2.x: a TransactionEvent for a change of `session.charging_state`."""
        return None

    @abstractmethod
    def stop(self, device: Device, conn: ConnectorState, session: Session, sample: Sample) -> Any:
        """StopTransaction / TransactionEvent Ended, for `session.stop_reason`."""

    @abstractmethod
    def idle_notification(self, message: str) -> Any | None:
        """Firmware / diagnostics / log status "Idle" for a TriggerMessage; None if unknown."""
