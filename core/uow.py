"""Group commit: many small units of work share one transaction, answered after it commits.

Chargers send many tiny messages (MeterValues every minute, heartbeats, status). One
transaction per message spends most of its time in COMMIT (an fsync). The batcher runs
every unit queued while the previous commit was in flight in one transaction, commits
once, and only then resolves each unit's future: a charger is answered only after its
message is durably stored. Units with the same key (a charger) always go to the same
writer, so one charger's messages are applied in the order they arrived.

If any unit in a batch fails, the batch is rolled back and every unit is re-run in its own
transaction, so one bad message never takes its neighbours down with it.

The hot messages (MeterValues, Heartbeat, TransactionEvent updates) are not ORM work but
rows: `write(key, [(kind, row), ...])` queues rows of a `RowKind`, and a batch writes all
rows of one kind with one statement (a multi-row INSERT, an executemany UPDATE) after its
ORM units. Through the ORM these messages cost three statements each; as rows, a batch of
a hundred costs three statements in all.
"""

from __future__ import annotations

import asyncio
import logging
import zlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

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


class RowKind:
    """Rows of one kind, written together: one statement for all rows of a batch.

    Subclasses set `order` (kinds are written in ascending order, after the batch's ORM
    units) and implement `write`."""

    order: ClassVar[int] = 100
    name: ClassVar[str] = "rows"

    async def write(self, session: AsyncSession, rows: list[Any]) -> None:
        raise NotImplementedError  # pragma: no cover - abstract


Rows = list[tuple[RowKind, Any]]


@dataclass(eq=False)
class _Item(Generic[T]):
    work: Work[T] | None
    future: asyncio.Future[T]
    events: list[Event] = field(default_factory=list)
    rows: Rows = field(default_factory=list)


@dataclass
class BatcherStats:
    batches: int = 0
    units: int = 0
    fallbacks: int = 0
    rows: int = 0
    statements: int = 0
    last_batch: int = 0
    # Called with the size of every committed batch (metrics hook it here).
    observers: list[Callable[[int], None]] = field(default_factory=list)


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
        self._queue(key).put_nowait(_Item(work, future))
        return await future

    async def write(self, key: str, rows: Rows, events: list[Event] | None = None) -> None:
        """Write `rows` in a (shared) transaction; return once committed, then publish
        `events`."""
        if not self._tasks:
            raise RuntimeError("WriteBatcher is not started")
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue(key).put_nowait(_Item(None, future, list(events or ()), rows))
        await future

    def _queue(self, key: str) -> asyncio.Queue[_Item[Any] | None]:
        return self._queues[zlib.crc32(key.encode()) % len(self._queues)]

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
                    results.append(await self._apply(session, item))
                await self._write_rows(session, live)
                await session.commit()
        except Exception as exc:
            if len(live) == 1:
                if not live[0].future.done():
                    live[0].future.set_exception(exc)
                return
            self.stats.fallbacks += 1
            log.warning("a batch of %d failed (%r); each unit runs alone", len(live), exc)
            for item in live:
                await self._run_alone(item)
            return
        self._committed(len(live))
        for item, result in zip(live, results, strict=True):
            self._succeed(item, result)

    async def _apply(self, session: AsyncSession, item: _Item[Any]) -> Any:
        if item.work is None:
            return None
        uow = UnitOfWork(session)
        result = await item.work(uow)
        item.events = uow.events
        return result

    async def _write_rows(self, session: AsyncSession, items: list[_Item[Any]]) -> None:
        by_kind: dict[RowKind, list[Any]] = {}
        for item in items:
            for kind, row in item.rows:
                by_kind.setdefault(kind, []).append(row)
        if not by_kind:
            return
        await session.flush()  # the ORM units' changes first: rows may refer to them
        for kind in sorted(by_kind, key=lambda k: k.order):
            await kind.write(session, by_kind[kind])
            self.stats.statements += 1
            self.stats.rows += len(by_kind[kind])

    def _committed(self, units: int) -> None:
        self.stats.batches += 1
        self.stats.units += units
        self.stats.last_batch = units
        for observe in self.stats.observers:
            observe(units)

    async def _run_alone(self, item: _Item[Any]) -> None:
        try:
            async with self._factory() as session:
                result = await self._apply(session, item)
                await self._write_rows(session, [item])
                await session.commit()
        except Exception as exc:
            if not item.future.done():
                item.future.set_exception(exc)
            return
        self._committed(1)
        self._succeed(item, result)

    def _succeed(self, item: _Item[Any], result: Any) -> None:
        if not item.future.done():
            item.future.set_result(result)
        for event in item.events:
            self._events.publish(event)
