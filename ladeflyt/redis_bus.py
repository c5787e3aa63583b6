"""The buses between processes, on Redis: commands reach the process holding a charger's
websocket, live events reach every process, and each charger has one owner.

Selected by LADEFLYT_REDIS_URL; without it the in-process buses of core.bus serve the
single-process setup. Keys (all under `ladeflyt:`):

- `proc:<id>`: a live process (expires 5 s after its last heartbeat, sent every second).
- `owner:<charge point id>`: the process holding that charger's websocket. A process that
  accepts a charger sets it and tells the previous owner to let go (`takeover`).
- `cmd:<process id>`: a list of requests to that process (commands, takeovers); the answer
  to a command goes to the list `reply:<request id>`, which the sender waits on.
- `events`: a stream of live events (XADD, trimmed); every process reads it from where it
  was, so a short loss of the connection loses nothing, and hands them to its subscribers.
- `listeners`: per process, the topics someone there listens to, so a gateway publishes a
  session's meter updates only when someone, anywhere, listens (core.bus.EventBus).

When Redis cannot be reached, a command fails at once with `BusUnavailable` (nothing was
sent), events are dropped (the database stays the truth: background jobs reconcile from
it), and everything resumes by itself when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson
from opentelemetry import context as otel_context
from opentelemetry import propagate
from redis import asyncio as aioredis
from redis.exceptions import RedisError

from core import bus, observe
from core.bus import Command, CommandResult, CommandTarget, Event, InProcessEventBus

log = logging.getLogger(__name__)

PREFIX = "ladeflyt:"
PROC_TTL_S = 5
HEARTBEAT_S = 1.0
LISTENERS_TTL_S = 15.0
STREAM_MAXLEN = 100_000
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""


def _json(value: Any) -> bytes:
    return orjson.dumps(value, default=str)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


class RedisLink:
    """One process's connection to Redis, its id and its heartbeat."""

    def __init__(self, url: str, name: str = "") -> None:
        self.url = url
        self.proc_id = f"{name or 'p'}:{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        # Short timeouts: a dead Redis must turn into a clear answer, not a hanging request.
        self.redis = aioredis.from_url(
            url, socket_connect_timeout=1.0, socket_timeout=5.0, health_check_interval=10
        )
        # Blocking reads (XREAD BLOCK, BLPOP) on connections of their own.
        self.blocking = aioredis.from_url(url, socket_connect_timeout=1.0, socket_timeout=None)
        self._tasks: list[asyncio.Task[None]] = []
        self.up = True
        # Called when Redis answers again after it did not (e.g. restarted, empty).
        self.on_up: list[Callable[[], None]] = []

    def key(self, *parts: str) -> str:
        return PREFIX + ":".join(parts)

    def spawn(self, coro: Any, name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    async def start(self) -> None:
        self.spawn(self._heartbeat(), "redis-heartbeat")

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(BaseException):
                await task
        self._tasks = []
        with contextlib.suppress(RedisError, OSError):
            await self.redis.delete(self.key("proc", self.proc_id))
        await self.redis.aclose()
        await self.blocking.aclose()

    async def alive(self, proc_id: str) -> bool:
        return bool(await self.redis.exists(self.key("proc", proc_id)))

    async def _heartbeat(self) -> None:
        while True:
            try:
                await self.redis.set(self.key("proc", self.proc_id), "1", ex=PROC_TTL_S)
                if not self.up:
                    log.info("Redis is reachable again")
                    self.up = True
                    for callback in self.on_up:
                        callback()
            except (RedisError, OSError) as error:
                if self.up:
                    log.warning("Redis is unreachable: %s", error)
                self.up = False
            await asyncio.sleep(HEARTBEAT_S)


async def _backoff(attempt: int) -> None:
    await asyncio.sleep(min(0.1 * 2**attempt, 2.0))


# --------------------------------------------------------------------------- events


class RedisEventBus(InProcessEventBus):
    """Events of every process: published locally at once, and through a Redis stream to
    the others (which skip their own)."""

    def __init__(self, link: RedisLink, queue_size: int = 256) -> None:
        super().__init__(queue_size)
        self.link = link
        self._outbox: asyncio.Queue[Event] = asyncio.Queue(10_000)
        self._remote: dict[str, float] = {}  # topic -> until when someone elsewhere listens
        self._listen_changed = asyncio.Event()
        self.dropped = 0
        self.received = 0

    async def start(self) -> None:
        self.link.spawn(self._send(), "redis-events-send")
        self.link.spawn(self._read(), "redis-events-read")
        self.link.spawn(self._share_listeners(), "redis-listeners")

    def publish(self, event: Event) -> None:
        self.deliver(event)
        try:
            self._outbox.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1

    def listening(self, topic: str) -> bool:
        if super().listening(topic):
            return True
        now = time.monotonic()
        return self._remote.get(topic, 0.0) > now or self._remote.get("*", 0.0) > now

    def on_listen(self, topic: str) -> None:
        self._listen_changed.set()

    async def _send(self) -> None:
        stream = self.link.key("events")
        while True:
            batch = [await self._outbox.get()]
            while not self._outbox.empty() and len(batch) < 500:
                batch.append(self._outbox.get_nowait())
            try:
                async with self.link.redis.pipeline(transaction=False) as pipe:
                    for event in batch:
                        pipe.xadd(
                            stream,
                            {
                                "o": self.link.proc_id,
                                "e": _json([event.topic, event.kind, event.data]),
                            },
                            maxlen=STREAM_MAXLEN,
                            approximate=True,
                        )
                    await pipe.execute()
            except (RedisError, OSError) as error:
                # Live updates only: the database keeps the truth, jobs reconcile from it.
                self.dropped += len(batch)
                log.debug("events not sent (%s): %d dropped", error, len(batch))
                await asyncio.sleep(0.5)

    async def _read(self) -> None:
        stream = self.link.key("events")
        last = "$"
        attempt = 0
        while True:
            try:
                if last == "$":
                    # Start from the stream's end, remembered as an id: after a lost
                    # connection we go on from there, not from "now".
                    info = await self.link.redis.xinfo_stream(stream)
                    last = _text(info["last-generated-id"])
                replies: Any = await self.link.blocking.xread(
                    {stream: last}, count=1000, block=1000
                )
                attempt = 0
            except (RedisError, OSError) as error:
                if "no such key" in str(error).lower():
                    last = "0-0"
                    continue
                attempt += 1
                await _backoff(attempt)
                continue
            for _, entries in replies or ():
                for entry_id, fields in entries:
                    last = _text(entry_id)
                    if _text(fields.get(b"o", b"")) == self.link.proc_id:
                        continue
                    topic, kind, data = orjson.loads(fields[b"e"])
                    self.received += 1
                    self.deliver(Event(topic, kind, data))

    async def _share_listeners(self) -> None:
        """Tell the others what is listened to here; learn what is listened to there."""
        key = self.link.key("listeners")
        pushed_at = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._listen_changed.wait(), 1.0)
            try:
                now = time.time()
                if self._listen_changed.is_set() or now - pushed_at > LISTENERS_TTL_S / 3:
                    self._listen_changed.clear()
                    mine = {"at": now, "topics": self.local_topics()}
                    await self.link.redis.hset(key, self.link.proc_id, _json(mine))
                    pushed_at = now
                remote: dict[str, float] = {}
                until = time.monotonic() + LISTENERS_TTL_S
                for proc, raw in (await self.link.redis.hgetall(key)).items():
                    if _text(proc) == self.link.proc_id:
                        continue
                    theirs = orjson.loads(raw)
                    if now - float(theirs["at"]) > LISTENERS_TTL_S:
                        await self.link.redis.hdel(key, proc)
                        continue
                    for topic in theirs["topics"]:
                        remote[topic] = until
                self._remote = remote
            except (RedisError, OSError):
                await asyncio.sleep(0.5)


# --------------------------------------------------------------------------- commands


class RedisCommandBus:
    """Commands to chargers held by any process; one owner per charger."""

    def __init__(self, link: RedisLink, default_timeout: float = 35.0) -> None:
        self.link = link
        self.default_timeout = default_timeout
        self._targets: dict[str, CommandTarget] = {}
        self._claims: asyncio.Queue[tuple[str, bool]] = asyncio.Queue()
        self._running: set[asyncio.Task[None]] = set()
        # The gateway closes its socket to a charger another process took over.
        self.on_takeover: Callable[[str], None] = lambda charge_point_id: None
        self._reassert_now = asyncio.Event()

    async def start(self) -> None:
        self.link.spawn(self._serve(), "redis-commands")
        self.link.spawn(self._claim(), "redis-owners")
        self.link.spawn(self._reassert(), "redis-owners-reassert")
        self.link.on_up.append(self._reassert_now.set)

    async def _reassert(self) -> None:
        """Ownership survives a Redis restart: the chargers we hold are claimed again
        (only where nobody else claimed them meanwhile), at once when Redis is back and
        every 30 s."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._reassert_now.wait(), 30.0)
            self._reassert_now.clear()
            held = list(self._targets)
            try:
                for start in range(0, len(held), 1000):
                    async with self.link.redis.pipeline(transaction=False) as pipe:
                        for cp_id in held[start : start + 1000]:
                            pipe.set(self.link.key("owner", cp_id), self.link.proc_id, nx=True)
                        await pipe.execute()
            except (RedisError, OSError):
                await asyncio.sleep(1.0)

    # ------------------------------------------------------------- the gateway's side

    def register(self, charge_point_id: str, target: CommandTarget) -> None:
        self._targets[charge_point_id] = target
        self._claims.put_nowait((charge_point_id, True))

    def unregister(self, charge_point_id: str, target: CommandTarget) -> None:
        if self._targets.get(charge_point_id) is target:
            del self._targets[charge_point_id]
            self._claims.put_nowait((charge_point_id, False))

    def connected_ids(self) -> list[str]:
        return list(self._targets)

    def is_connected(self, charge_point_id: str) -> bool:
        # Held here, or perhaps elsewhere: the caller also reads the database's `online`,
        # which the owning gateway keeps, and `send` says ChargerOffline if nobody holds it.
        return True

    async def _claim(self) -> None:
        """Ownership changes, in order: claim (and take over), or release if still ours."""
        release = self.link.redis.register_script(_RELEASE)
        while True:
            cp_id, claim = await self._claims.get()
            owner = self.link.key("owner", cp_id)
            for attempt in range(50):
                try:
                    if not claim:
                        if cp_id not in self._targets:
                            await release(keys=[owner], args=[self.link.proc_id])
                        break
                    if cp_id not in self._targets:
                        break  # gone again before we claimed it
                    previous = await self.link.redis.set(owner, self.link.proc_id, get=True)
                    old = _text(previous) if previous else None
                    if old and old != self.link.proc_id:
                        await self.link.redis.rpush(
                            self.link.key("cmd", old), _json({"takeover": cp_id})
                        )
                        await self.link.redis.expire(self.link.key("cmd", old), 60)
                    break
                except (RedisError, OSError):
                    await _backoff(attempt)

    async def _serve(self) -> None:
        """Requests to this process: commands for our chargers, and takeovers."""
        queue = self.link.key("cmd", self.link.proc_id)
        attempt = 0
        while True:
            try:
                popped = await self.link.blocking.blpop([queue], timeout=1)
                attempt = 0
            except (RedisError, OSError):
                attempt += 1
                await _backoff(attempt)
                continue
            if popped is None:
                continue
            request = orjson.loads(popped[1])
            if "takeover" in request:
                cp_id = request["takeover"]
                if cp_id in self._targets:
                    log.info("%s: taken over by another process", cp_id)
                    self.on_takeover(cp_id)
                continue
            task = asyncio.create_task(self._execute(request), name="redis-command")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _execute(self, request: dict[str, Any]) -> None:
        reply: dict[str, Any]
        # The sender's trace goes on here: the OCPP call is a child of its mutation.
        token = otel_context.attach(propagate.extract(request.get("trace") or {}))
        try:
            target = self._targets.get(request["cp"])
            if target is None:
                raise bus.ChargerOffline(f"charger {request['cp']} is not connected")
            command = bus.command_from_dict(request["command"])
            result = await target.execute(command, float(request["timeout"]))
            reply = {"status": result.status, "payload": result.payload}
        except bus.CommandError as error:
            reply = {"error": error.code, "message": str(error)}
        except Exception as error:  # never leave the sender waiting for nothing
            log.exception("command %s failed", request.get("command"))
            reply = {"error": "command_failed", "message": str(error)}
        finally:
            otel_context.detach(token)
        key = self.link.key("reply", request["id"])
        with contextlib.suppress(RedisError, OSError):
            async with self.link.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(key, _json(reply))
                pipe.expire(key, 60)
                await pipe.execute()

    # ------------------------------------------------------------- any process's side

    async def send(
        self, charge_point_id: str, command: Command, timeout: float | None = None
    ) -> CommandResult:
        timeout = timeout or self.default_timeout
        try:
            return await self._send(charge_point_id, command, timeout)
        except (bus.BusUnavailable, bus.ChargerOffline) as error:
            # Decided here, not by a gateway (which counts the commands it sends).
            observe.command_outcome(command, error.code)
            raise

    async def _send(self, charge_point_id: str, command: Command, timeout: float) -> CommandResult:
        target = self._targets.get(charge_point_id)
        if target is not None:
            return await target.execute(command, timeout)
        try:
            owner = await self.link.redis.get(self.link.key("owner", charge_point_id))
            if owner is None or not await self.link.alive(_text(owner)):
                raise bus.ChargerOffline(f"charger {charge_point_id} is not connected")
            request_id = uuid.uuid4().hex
            queue = self.link.key("cmd", _text(owner))
            request = {
                "id": request_id,
                "cp": charge_point_id,
                "command": bus.command_to_dict(command),
                "timeout": timeout,
                "trace": {},
            }
            propagate.inject(request["trace"])
            async with self.link.redis.pipeline(transaction=True) as pipe:
                pipe.rpush(queue, _json(request))
                pipe.expire(queue, 60)
                await pipe.execute()
        except (RedisError, OSError) as error:
            raise bus.BusUnavailable(f"the command bus is unreachable: {error}") from None
        try:
            popped = await self.link.blocking.blpop(
                [self.link.key("reply", request_id)], timeout=max(1, int(timeout + 1.5))
            )
        except (RedisError, OSError) as error:
            raise bus.BusUnavailable(f"lost the command bus while waiting: {error}") from None
        if popped is None:
            raise bus.CommandTimeout(f"{charge_point_id} did not answer within {timeout:.0f}s")
        reply = orjson.loads(popped[1])
        if "error" in reply:
            cls = bus.COMMAND_ERRORS.get(reply["error"], bus.CommandError)
            raise cls(reply["message"])
        return CommandResult(reply["status"], reply["payload"])
