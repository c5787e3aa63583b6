"""Group commit: many small units of work share one transaction, answered after it commits.

Chargers send many tiny messages (MeterValues every minute, heartbeats, status). One
transaction per message spends most of its time in COMMIT (an fsync). The batcher runs
every unit queued while the previous commit was in flight in one transaction, commits
once, and only then resolves each unit's future: a charger is answered only after its
message is durably stored. Units with the same key (a charger) always go to the same
writer, so one charger's messages are applied in the order they arrived.

If any unit in a batch fails, the batch is rolled back and every unit is re-run in its own
transaction, so one bad message never takes its neighbours down with it.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from core.bus import Event, EventBus

log = logging.getLogger(__name__)

T = TypeVar("T")


class UnitOfWork:
    """What a unit sees: the shared session, and events to publish once committed."""

    __slots__ = ("events", "session")

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.events: list[Event] = []

    def publish(self, event: Event) -> None:
        self.events.append(event)


Work = Callable[[UnitOfWork], Awaitable[T]]


@dataclass(eq=False)
class _Item(Generic[T]):
    work: Work[T]
    future: asyncio.Future[T]
    events: list[Event] = field(default_factory=list)


@dataclass
class BatcherStats:
    batches: int = 0
    units: int = 0
    fallbacks: int = 0


class WriteBatcher:
    def __init__(
        self,
        engine: AsyncEngine,
        events: EventBus,
        *,
        writers: int = 1,
        max_batch: int = 256,
    ) -> None:
        # autoflush: a unit must see what an earlier unit of the same batch wrote.
        self._factory = async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
        self._events = events
        self._max_batch = max_batch
        self._queues: list[asyncio.Queue[_Item[Any] | None]] = [
            asyncio.Queue() for _ in range(max(1, writers))
        ]
        self._tasks: list[asyncio.Task[None]] = []
        self.stats = BatcherStats()

    async def start(self) -> None:
        if not self._tasks:
            self._tasks = [
                asyncio.create_task(self._writer(q), name=f"db-writer-{i}")
                for i, q in enumerate(self._queues)
            ]

    async def stop(self) -> None:
        """Finish what is queued, then stop the writers."""
        for q in self._queues:
            q.put_nowait(None)
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def run(self, key: str, work: Work[T]) -> T:
        """Run `work` in a (shared) transaction; return its result once committed."""
        if not self._tasks:
            raise RuntimeError("WriteBatcher is not started")
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        queue = self._queues[zlib.crc32(key.encode()) % len(self._queues)]
        queue.put_nowait(_Item(work, future))
        return await future

    async def _writer(self, queue: asyncio.Queue[_Item[Any] | None]) -> None:
        stopping = False
        while not stopping:
            first = await queue.get()
            if first is None:
                break
            batch: list[_Item[Any]] = [first]
            while len(batch) < self._max_batch and not queue.empty():
                item = queue.get_nowait()
                if item is None:
                    stopping = True
                    break
                batch.append(item)
            try:
                await self._run_batch(batch)
            except Exception as exc:  # pragma: no cover - defensive: never kill the writer
                log.exception("writer failed on a batch")
                for item in batch:
                    if not item.future.done():
                        item.future.set_exception(exc)

    async def _run_batch(self, batch: list[_Item[Any]]) -> None:
        live = [item for item in batch if not item.future.cancelled()]
        if not live:
            return
        results: list[Any] = []
        try:
            async with self._factory() as session:
                for item in live:
                    uow = UnitOfWork(session)
                    results.append(await item.work(uow))
                    item.events = uow.events
                await session.commit()
        except Exception as exc:
            if len(live) == 1:
                if not live[0].future.done():
                    live[0].future.set_exception(exc)
                return
            self.stats.fallbacks += 1
            for item in live:
                await self._run_alone(item)
            return
        self.stats.batches += 1
        self.stats.units += len(live)
        for item, result in zip(live, results, strict=True):
            self._succeed(item, result)

    async def _run_alone(self, item: _Item[Any]) -> None:
        try:
            async with self._factory() as session:
                uow = UnitOfWork(session)
                result = await item.work(uow)
                await session.commit()
        except Exception as exc:
            if not item.future.done():
                item.future.set_exception(exc)
            return
        item.events = uow.events
        self.stats.batches += 1
        self.stats.units += 1
        self._succeed(item, result)

    def _succeed(self, item: _Item[Any], result: Any) -> None:
        if not item.future.done():
            item.future.set_result(result)
        for event in item.events:
            self._events.publish(event)
