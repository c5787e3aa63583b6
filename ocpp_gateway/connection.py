"""One connected charger: frames in, handlers, answers out, and commands to it.

Subclasses per OCPP version register their handlers with `@handles("Action")`. A handler
gets the request payload (camelCase, validated against the version's schema) and returns
the response payload. The class builds on `ocpp.ChargePoint` for CSMS-initiated CALLs
(one in flight at a time, response matching, timeouts) and replaces its routing of
incoming frames, whose defaults do not follow the specs (see `framing`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from datetime import datetime
from typing import Any, ClassVar, TypeVar

import orjson
from ocpp.charge_point import ChargePoint, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError, UnknownCallErrorCodeError
from ocpp.messages import CallError, CallResult

from core import observe
from core.bus import (
    ChargerBusy,
    Command,
    CommandError,
    CommandInvalid,
    CommandNotSupported,
    CommandRejectedByCharger,
    CommandResult,
    CommandTimeout,
)
from core.chargers import service as chargers
from core.chargers.service import ChargerIdentity
from core.models import RegistrationStatus
from core.sessions import meter_rows
from core.sessions.meter_rows import LiveTx, Plan
from core.timeutil import parse_ocpp_datetime, utcnow
from core.uow import UnitOfWork
from ocpp_gateway.context import GatewayContext
from ocpp_gateway.framing import CALL, CALLERROR, CALLRESULT, Codes, RpcError, parse_frame, validate

log = logging.getLogger(__name__)

Handler = Callable[[Any, dict[str, Any]], Awaitable[dict[str, Any]]]
T = TypeVar("T")
# Messages a charger may send before the CSMS has accepted its registration.
_BEFORE_ACCEPTED = frozenset({"BootNotification", "Heartbeat"})


def handles(action: str) -> Callable[[Handler], Handler]:
    def mark(func: Handler) -> Handler:
        func._ocpp_action = action  # type: ignore[attr-defined]
        return func

    return mark


class Connection(ChargePoint):
    version: ClassVar[str]
    known_actions: ClassVar[frozenset[str]]
    _handlers: ClassVar[dict[str, Handler]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        handlers: dict[str, Handler] = {}
        for klass in reversed(cls.__mro__):
            for value in vars(klass).values():
                action = getattr(value, "_ocpp_action", None)
                if action:
                    handlers[action] = value
        cls._handlers = handlers

    def __init__(self, identity: ChargerIdentity, ws: Any, ctx: GatewayContext) -> None:
        super().__init__(
            identity.charge_point_id, ws, response_timeout=ctx.settings.ocpp_call_timeout
        )
        self._ocpp_version = self.version
        self.identity = identity
        self.ctx = ctx
        self.codes = Codes(self.version)
        self.registration_status = identity.registration_status
        self._command_lock = asyncio.Lock()
        self.last_seen = utcnow()
        # Work a handler leaves for after its answer is sent (e.g. CertificateSigned after
        # SignCertificate): the charger must see the answer first.
        self._after_answer: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._background: set[asyncio.Task[None]] = set()
        # The open transactions of this charger, by transaction id (core.sessions.meter_rows);
        # None remembers "not open: the ORM path".
        self.live: dict[str, LiveTx | None] = {}

    # ----------------------------------------------------------------- helpers for handlers

    @property
    def charger_id(self) -> int:
        return self.identity.id

    @property
    def cp_id(self) -> str:
        return self.identity.charge_point_id

    async def unit(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """Run `work` in the group-committed transaction queue of this charger."""
        return await self.ctx.batcher.run(self.cp_id, work)

    async def record_boot(self, info: chargers.BootInfo, at: datetime) -> str:
        """Store a boot; return the registration status to answer. An accepted charger's
        boot is rows (no ORM work per connect); any other asks the database, where an
        operator may have just accepted it."""
        if self.registration_status != RegistrationStatus.ACCEPTED:
            return await self.unit(lambda uow: chargers.record_boot(uow, self.charger_id, info, at))
        rows, events = chargers.boot_rows(self.identity, info, at)
        await self.ctx.batcher.write(self.cp_id, rows, events)
        return self.registration_status

    async def session_unit(self, work: Callable[[UnitOfWork], Awaitable[T]]) -> T:
        """ORM work that may change this charger's sessions: the cached state is dropped."""
        self.live.clear()
        try:
            return await self.unit(work)
        finally:
            self.live.clear()

    async def live_tx(self, transaction_id: str) -> LiveTx | None:
        """The open transaction, from memory or loaded once."""
        if transaction_id in self.live:
            return self.live[transaction_id]
        async with self.ctx.sessions() as session:
            tx = await meter_rows.load(session, self.charger_id, transaction_id)
        if len(self.live) > 64:  # a charger has a few open transactions, not hundreds
            self.live.clear()
        self.live[transaction_id] = tx
        return tx

    async def write_plan(self, plan: Plan, transaction_id: str | None) -> None:
        """Write a planned message; remember the state once it is committed."""
        try:
            await self.ctx.batcher.write(self.cp_id, plan.rows, plan.events)
        except BaseException:
            self.live.clear()
            raise
        if transaction_id is not None and plan.after is not None:
            self.live[transaction_id] = plan.after

    # ----------------------------------------------------------------- incoming frames

    async def route_message(self, raw_msg: str | bytes) -> None:
        self.last_seen = utcnow()
        try:
            frame = parse_frame(raw_msg, self.codes, self.ctx.settings.ocpp_max_frame_bytes)
        except RpcError as error:
            log.warning("%s: bad frame: %s", self.cp_id, error.description)
            await self._send(error.frame())
            return
        if frame.message_type == CALL:
            started = time.perf_counter()
            action = frame.action or ""
            answered = await self._answer(frame.message_id, action, frame.payload)
            # Actions a charger made up are counted together: labels stay few.
            label = action if action in self.known_actions else "other"
            outcome = "result" if answered else "error"
            observe.OCPP_MESSAGES.labels(label, self.version, outcome).inc()
            observe.OCPP_LATENCY.labels(label, self.version).observe(time.perf_counter() - started)
        elif frame.message_type == CALLRESULT:
            self._response_queue.put_nowait(CallResult(frame.message_id, frame.payload))
        elif frame.message_type == CALLERROR:
            self._response_queue.put_nowait(
                CallError(
                    frame.message_id, frame.error_code, frame.error_description, frame.payload
                )
            )

    async def _answer(self, message_id: str, action: str, payload: dict[str, Any]) -> bool:
        self._after_answer.clear()
        try:
            response = await self._handle(message_id, action, payload)
        except RpcError as error:
            await self._send(error.frame())
            return False
        except OCPPError as error:
            rpc = RpcError(
                message_id, self.codes.translate(error.code), error.description, error.details
            )
            await self._send(rpc.frame())
            return False
        except Exception:
            # Not answered with a result: the charger keeps the message and retries it.
            log.exception("%s: %s failed", self.cp_id, action)
            await self._send(
                RpcError(
                    message_id, "InternalError", f"{action} could not be processed", {}
                ).frame()
            )
            return False
        await self._send(orjson.dumps([CALLRESULT, message_id, response]).decode())
        while self._after_answer:
            task = asyncio.create_task(self._after_answer.pop(0)())
            self._background.add(task)
            task.add_done_callback(self._background.discard)
        return True

    def after_answer(self, work: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `work` once the answer to the current message has been sent."""
        self._after_answer.append(work)

    async def _handle(
        self, message_id: str, action: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        handler = self._handlers.get(action)
        if handler is None:
            if action in self.known_actions:
                raise RpcError(
                    message_id, "NotSupported", f"{action} is not supported by this CSMS", {}
                )
            raise RpcError(message_id, "NotImplemented", f"Unknown action {action}", {})
        validate(CALL, action, payload, self.version, self.codes, message_id)
        if (
            self.registration_status != RegistrationStatus.ACCEPTED
            and action not in _BEFORE_ACCEPTED
        ):
            raise RpcError(
                message_id,
                "SecurityError",
                f"registration is {self.registration_status}: only BootNotification allowed",
                {},
            )
        response = await handler(self, payload)
        if self.ctx.settings.ocpp_validate_responses:
            try:
                validate(CALLRESULT, action, response, self.version, self.codes, message_id)
            except RpcError as error:  # our bug, never the charger's
                log.error("%s: invalid %s response %s: %s", self.cp_id, action, response, error)
                raise RpcError(message_id, "InternalError", "invalid response", {}) from None
        return response

    # ----------------------------------------------------------------- shared by all versions
    # Same action names and payload keys in 1.6 (with its security extension) and 2.x.

    @handles("DataTransfer")
    async def on_data_transfer(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._event("DataTransfer", p.get("messageId") or p["vendorId"], p)
        # Stored for the operator; no vendor extension is acted upon.
        return {"status": "UnknownVendorId"}

    @handles("FirmwareStatusNotification")
    async def on_firmware_status(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._event("FirmwareStatusNotification", p["status"], p)
        return {}

    @handles("LogStatusNotification")
    async def on_log_status(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._event("LogStatusNotification", p["status"], p)
        return {}

    @handles("SecurityEventNotification")
    async def on_security_event(self, p: dict[str, Any]) -> dict[str, Any]:
        await self._event("SecurityEventNotification", p["type"], p, p.get("timestamp"))
        return {}

    async def _event(
        self, kind: str, summary: str, payload: dict[str, Any], timestamp: str | None = None
    ) -> None:
        """Store something the charger reported about itself (ChargerEvent)."""
        at = (parse_ocpp_datetime(timestamp) if timestamp else None) or utcnow()

        async def work(uow: UnitOfWork) -> None:
            await chargers.record_event(
                uow, self.charger_id, kind, occurred_at=at, summary=summary, payload=payload
            )

        await self.unit(work)

    async def _send(self, message: str) -> None:
        await self._connection.send(message)

    # ----------------------------------------------------------------- commands to the charger

    async def execute(self, command: Command, timeout: float) -> CommandResult:
        """Send a command (one in flight per charger, as OCPP-J requires)."""
        name = type(command).__name__
        with observe.tracer.start_as_current_span(
            f"ocpp {name}",
            attributes={"ocpp.charge_point_id": self.cp_id, "ocpp.version": self.version},
        ) as span:
            try:
                result = await self._execute(command, timeout)
            except CommandError as error:
                observe.command_outcome(command, error.code)
                span.set_attribute("ocpp.outcome", error.code)
                raise
            observe.command_outcome(command, result.status)
            span.set_attribute("ocpp.outcome", result.status)
            return result

    async def _execute(self, command: Command, timeout: float) -> CommandResult:
        payload = self.build_call(command)
        if payload is None:
            raise CommandNotSupported(
                f"{type(command).__name__} is not available in {self.version}"
            )
        action = type(payload).__name__
        body = remove_nones(snake_to_camel_case(serialize_as_dict(payload)))
        try:
            validate(CALL, action, body, self.version, self.codes, "-")
        except RpcError as error:
            raise CommandInvalid(f"{action}: {error.description}") from None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        try:
            await asyncio.wait_for(self._command_lock.acquire(), timeout)
        except TimeoutError:
            raise ChargerBusy(f"{self.cp_id} is busy with another command") from None
        try:
            remaining = max(deadline - loop.time(), 0.001)
            self._response_timeout = remaining
            try:
                result = await self.call(payload, suppress=False)
            except TimeoutError:
                raise CommandTimeout(f"{self.cp_id} did not answer within {timeout:.0f}s") from None
            except OCPPError as error:
                raise CommandRejectedByCharger(f"{error.code}: {error.description}") from None
            except UnknownCallErrorCodeError as error:
                raise CommandRejectedByCharger(str(error)) from None
        finally:
            self._command_lock.release()
        return self.parse_result(command, result)

    def build_call(self, command: Command) -> Any:  # pragma: no cover - abstract
        raise NotImplementedError

    def parse_result(self, command: Command, result: Any) -> CommandResult:
        from dataclasses import asdict

        data = asdict(result) if result is not None else {}
        status = data.pop("status", None) or "Accepted"
        return CommandResult(str(status), {k: v for k, v in data.items() if v is not None})
