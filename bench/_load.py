"""The load side: simulated chargers on raw websockets, sending pre-built OCPP-J frames.

One process runs a share of the chargers. Each charger connects, boots, starts a
transaction and then, when told to go, sends MeterValues with an increasing energy
register: closed loop (next CALL as soon as the CALLRESULT is in; OCPP-J allows one CALL
in flight per charger) or open loop (at a fixed per-charger rate). Frames are %-templates
filled with a counter, so building one costs a few hundred nanoseconds and the load side
stays far below the gateway in CPU per message.

Every loop is bounded in count and in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from array import array
from collections.abc import Coroutine
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from time import perf_counter
from typing import Any

import orjson
import psutil
from websockets.asyncio.client import ClientConnection, connect
from websockets.typing import Subprotocol

from bench._servers import pin, raise_nofile

SUBPROTOCOL = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1"}
# A charger never sends more than this many meter messages in one run (the clock of the
# samples moves one second per message, starting 30 days back: they stay plausible).
MAX_MESSAGES_PER_CHARGER = 2_000_000
HISTORY_SECONDS = 30 * 86_400
ENERGY_STEP_WH = 6  # 22 kW for one second

_BOOT16 = (
    '[2,"%s","BootNotification",{"chargePointVendor":"Ladeflyt","chargePointModel":"Bench",'
    '"chargePointSerialNumber":"%s","firmwareVersion":"1.0.0"}]'
)
_START16 = (
    '[2,"%s","StartTransaction",{"connectorId":1,"idTag":"%s","meterStart":%d,"timestamp":"%s"}]'
)
_METER16 = (
    '[2,"%s","MeterValues",{"connectorId":1,"transactionId":%d,"meterValue":[{"timestamp":'
    '"%s","sampledValue":[{"value":"%d","context":"Sample.Periodic","measurand":'
    '"Energy.Active.Import.Register","location":"Outlet","unit":"Wh"}]}]}]'
)
_BOOT2 = (
    '[2,"%s","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"Bench",'
    '"vendorName":"Ladeflyt","serialNumber":"%s","firmwareVersion":"1.0.0"}}]'
)
_START2 = (
    '[2,"%s","TransactionEvent",{"eventType":"Started","timestamp":"%s","triggerReason":'
    '"Authorized","seqNo":0,"transactionInfo":{"transactionId":"%s","chargingState":'
    '"Charging"},"idToken":{"idToken":"%s","type":"ISO14443"},"evse":{"id":1,'
    '"connectorId":1}}]'
)
_METER2 = (
    '[2,"%s","MeterValues",{"evseId":1,"meterValue":[{"timestamp":"%s","sampledValue":'
    '[{"value":%d,"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",'
    '"location":"Outlet","unitOfMeasure":{"unit":"Wh"}}]}]}]'
)
_TXEVENT2 = (
    '[2,"%s","TransactionEvent",{"eventType":"Updated","timestamp":"%s","triggerReason":'
    '"MeterValuePeriodic","seqNo":%d,"transactionInfo":{"transactionId":"%s",'
    '"chargingState":"Charging"},"meterValue":[{"timestamp":"%s","sampledValue":[{"value":'
    '%d,"context":"Sample.Periodic","measurand":"Energy.Active.Import.Register",'
    '"location":"Outlet","unitOfMeasure":{"unit":"Wh"}}]}]}]'
)


@dataclass(frozen=True)
class LoadConfig:
    url: str  # ws://127.0.0.1:PORT/ocpp
    ids: tuple[str, ...]
    version: str  # "1.6" | "2.0.1"
    mode: str  # "closed" | "open" | "connect"
    duration: float
    rate: float  # open loop: messages/s for this process's chargers together
    phase: float  # 0 <= phase < 1: where this process's chargers sit in the schedule
    id_tag: str
    v2_message: str = "MeterValues"  # or "TransactionEvent" (Updated)
    connect_concurrency: int = 100
    warmup: int = 1  # meter messages per charger before the measured phase
    reply_timeout: float = 30.0
    cpus: tuple[int, ...] = ()  # CPU affinity of this load process (empty: any)
    base_epoch: float = field(default_factory=lambda: time.time() - HISTORY_SECONDS)


@dataclass
class LoadResult:
    connected: int = 0
    connect_failures: int = 0
    connect_seconds: float = 0.0
    sent: int = 0
    replies: int = 0
    errors: int = 0
    timeouts: int = 0
    late: int = 0
    elapsed: float = 0.0
    latencies: bytes = b""  # array('d'): send -> CALLRESULT, seconds
    corrected: bytes = b""  # array('d'): scheduled send -> CALLRESULT (open loop)
    cpu_seconds: float = 0.0
    rss: int = 0
    first_error: str = ""


class _Clock:
    """OCPP timestamps one second apart, formatted once and shared by every charger."""

    def __init__(self, base_epoch: float) -> None:
        self.base = int(base_epoch)
        self._cache: list[str] = []

    def at(self, k: int) -> str:
        cache = self._cache
        while len(cache) <= k:
            cache.append(time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.base + len(cache))))
        return cache[k]


class _Charger:
    __slots__ = ("cp_id", "energy", "k", "seq", "tx", "tx_text", "ws")

    def __init__(self, cp_id: str, ws: ClientConnection) -> None:
        self.cp_id = cp_id
        self.ws = ws
        self.tx = 0
        self.tx_text = f"tx-{cp_id}"
        self.energy = 1000
        self.k = 1  # sample k is stamped base + k seconds; the start is at base
        self.seq = 0


class _Failure(Exception):
    pass


async def _rpc(ws: ClientConnection, frame: str, message_id: str, timeout: float) -> Any:
    """Send one CALL and wait for its answer (setup only; the hot loop inlines this)."""
    await ws.send(frame)
    async with asyncio.timeout(timeout):
        reply = orjson.loads(await ws.recv())
    if reply[0] != 3 or reply[1] != message_id:
        raise _Failure(f"unexpected answer to {message_id}: {str(reply)[:200]}")
    return reply[2]


class LoadGenerator:
    def __init__(self, cfg: LoadConfig) -> None:
        self.cfg = cfg
        self.clock = _Clock(cfg.base_epoch)
        self.chargers: list[_Charger] = []
        self.result = LoadResult()
        self.lat = array("d")
        self.corr = array("d")
        self.v16 = cfg.version == "1.6"

    # ------------------------------------------------------------------ setup

    async def connect_all(self) -> None:
        cfg = self.cfg
        started = time.monotonic()
        pending = iter(cfg.ids)
        # Bounded: the whole connect phase may take at most this long.
        budget = 120.0 + len(cfg.ids) / 20

        async def worker() -> None:
            for cp_id in pending:
                try:
                    self.chargers.append(await self._connect_one(cp_id))
                except Exception as exc:
                    self.result.connect_failures += 1
                    if not self.result.first_error:
                        self.result.first_error = f"{cp_id}: {type(exc).__name__}: {exc}"[:300]

        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(budget):
                await asyncio.gather(*(worker() for _ in range(cfg.connect_concurrency)))
        self.result.connected = len(self.chargers)
        self.result.connect_seconds = time.monotonic() - started

    async def _connect_one(self, cp_id: str) -> _Charger:
        cfg = self.cfg
        ws = await connect(
            f"{cfg.url}/{cp_id}",
            subprotocols=[Subprotocol(SUBPROTOCOL[cfg.version])],
            compression=None,
            ping_interval=None,
            open_timeout=60,
            close_timeout=5,
        )
        try:
            ch = _Charger(cp_id, ws)
            boot = _BOOT16 if self.v16 else _BOOT2
            answer = await _rpc(ws, boot % ("b", cp_id), "b", cfg.reply_timeout)
            if answer.get("status") != "Accepted":
                raise _Failure(f"boot answered {answer}")
            if cfg.mode == "connect":
                return ch
            start_ts = self.clock.at(0)
            if self.v16:
                frame = _START16 % ("s", cfg.id_tag, ch.energy, start_ts)
                answer = await _rpc(ws, frame, "s", cfg.reply_timeout)
                ch.tx = int(answer["transactionId"])
            else:
                frame = _START2 % ("s", start_ts, ch.tx_text, cfg.id_tag)
                await _rpc(ws, frame, "s", cfg.reply_timeout)
            for _ in range(cfg.warmup):
                message_id = f"w{ch.k}"
                await _rpc(ws, self._meter(ch, message_id), message_id, cfg.reply_timeout)
            return ch
        except BaseException:
            await ws.close()
            raise

    def _meter(self, ch: _Charger, message_id: str) -> str:
        """The next meter frame of this charger."""
        ts = self.clock.at(ch.k)
        ch.k += 1
        ch.energy += ENERGY_STEP_WH
        if self.v16:
            return _METER16 % (message_id, ch.tx, ts, ch.energy)
        if self.cfg.v2_message == "TransactionEvent":
            ch.seq += 1
            return _TXEVENT2 % (message_id, ts, ch.seq, ch.tx_text, ts, ch.energy)
        return _METER2 % (message_id, ts, ch.energy)

    # ------------------------------------------------------------------ measured phase

    async def run(self) -> None:
        cfg = self.cfg
        # perf_counter throughout: uvloop's loop.time() ticks in whole milliseconds.
        start = perf_counter()
        deadline = start + cfg.duration
        n = len(self.chargers)
        if n:
            if cfg.mode == "closed":
                jobs = [self._closed(ch, deadline) for ch in self.chargers]
            else:
                interval = n / cfg.rate
                jobs = [
                    self._open(ch, start + (i + cfg.phase) * interval / n, interval, deadline)
                    for i, ch in enumerate(self.chargers)
                ]
            # Hard stop: a charger still waiting this long after the deadline has timed out.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(cfg.duration + cfg.reply_timeout + 5):
                    await asyncio.gather(*jobs)
        self.result.elapsed = perf_counter() - start

    async def _closed(self, ch: _Charger, deadline: float) -> None:
        ws, lat = ch.ws, self.lat
        timeout = self.cfg.reply_timeout
        for _ in range(MAX_MESSAGES_PER_CHARGER):
            t0 = perf_counter()
            if t0 >= deadline:
                return
            message_id = str(ch.k)
            if not await self._exchange(ws, self._meter(ch, message_id), message_id, timeout):
                return
            lat.append(perf_counter() - t0)

    async def _open(self, ch: _Charger, first: float, interval: float, deadline: float) -> None:
        ws, res, lat, corr = ch.ws, self.result, self.lat, self.corr
        timeout = self.cfg.reply_timeout
        for n in range(MAX_MESSAGES_PER_CHARGER):
            scheduled = first + n * interval
            if scheduled >= deadline:
                return
            wait = scheduled - perf_counter()
            if wait > 0:
                await asyncio.sleep(wait)
            elif wait < -0.002:
                res.late += 1  # the previous answer came in after this send was due
            message_id = str(ch.k)
            t0 = perf_counter()
            if not await self._exchange(ws, self._meter(ch, message_id), message_id, timeout):
                return
            t1 = perf_counter()
            lat.append(t1 - t0)
            # From when the send was due: includes waiting for the previous answer.
            corr.append(max(t1 - scheduled, t1 - t0))

    async def _exchange(
        self, ws: ClientConnection, frame: str, message_id: str, timeout: float
    ) -> bool:
        res = self.result
        res.sent += 1
        try:
            await ws.send(frame)
            async with asyncio.timeout(timeout):
                reply = orjson.loads(await ws.recv())
        except TimeoutError:
            res.timeouts += 1
            return False
        except Exception as exc:
            res.errors += 1
            res.first_error = res.first_error or f"{type(exc).__name__}: {exc}"[:300]
            return False
        if reply[0] == 3 and reply[1] == message_id:
            res.replies += 1
            return True
        res.errors += 1
        res.first_error = res.first_error or f"answer to {message_id}: {str(reply)[:300]}"
        return reply[0] == 4  # a CALLERROR: the charger carries on with the next message

    async def close_all(self) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(30 + len(self.chargers) / 200):
                await asyncio.gather(
                    *(ch.ws.close() for ch in self.chargers), return_exceptions=True
                )

    def finish(self) -> LoadResult:
        me = psutil.Process()
        cpu = me.cpu_times()
        self.result.cpu_seconds = cpu.user + cpu.system
        self.result.rss = me.memory_info().rss
        self.result.latencies = self.lat.tobytes()
        self.result.corrected = self.corr.tobytes()
        return self.result


# ---------------------------------------------------------------------- process entry


async def _main(conn: Connection, cfg: LoadConfig) -> None:
    gen = LoadGenerator(cfg)
    await gen.connect_all()
    res = gen.result
    conn.send(
        ("connected", res.connected, res.connect_failures, res.connect_seconds, res.first_error)
    )
    # The orchestrator measures, then says "go" (run the measured phase) or "stop".
    order = await asyncio.to_thread(_recv_or_stop, conn, 3600.0)
    if order == "go":
        cpu_before = sum(psutil.Process().cpu_times()[:2])
        await gen.run()
        result = gen.finish()
        result.cpu_seconds -= cpu_before
        conn.send(("done", result))
        # Connections stay open until the orchestrator has read the gateway's figures.
        await asyncio.to_thread(_recv_or_stop, conn, 600.0)
        await gen.close_all()
    else:
        await gen.close_all()
        conn.send(("done", gen.finish()))


def _recv_or_stop(conn: Connection, timeout: float) -> Any:
    if not conn.poll(timeout):
        return "stop"
    try:
        return conn.recv()
    except EOFError:
        return "stop"


def load_main(conn: Connection, cfg: LoadConfig) -> None:
    """Entry point of a load process (multiprocessing, spawn)."""
    raise_nofile()
    pin(cfg.cpus)
    try:
        _run(_main(conn, cfg))
    except BaseException as exc:
        with contextlib.suppress(Exception):
            conn.send(("failed", f"{type(exc).__name__}: {exc}"))
        raise
    finally:
        conn.close()


def _run(main: Coroutine[Any, Any, None]) -> None:
    """uvloop for the load side if it is installed (the gateways run plain asyncio)."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)
