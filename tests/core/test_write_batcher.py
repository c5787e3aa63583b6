"""Group commit: many units share a transaction; a failing unit never takes others down."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from core.bus import Event, InProcessEventBus
from core.db import create_engine
from core.models import Site
from core.uow import UnitOfWork, WriteBatcher


@pytest.fixture
async def batcher(db_url):
    engine = create_engine(db_url)
    events = InProcessEventBus()
    b = WriteBatcher(engine, events, writers=2, max_batch=64)
    await b.start()
    yield b, engine, events
    await b.stop()
    await engine.dispose()


async def _count(engine) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(select(func.count()).select_from(Site))).scalar_one()


async def test_units_queued_together_commit_together_and_results_come_back(batcher):
    b, engine, _ = batcher

    def add(n: int):
        async def work(uow: UnitOfWork) -> int:
            uow.session.add(Site(name=f"site-{n}"))
            await uow.session.flush()
            return n * 10

        return work

    results = await asyncio.gather(*(b.run(f"key-{n % 3}", add(n)) for n in range(50)))
    assert results == [n * 10 for n in range(50)]
    assert await _count(engine) == 50
    assert b.stats.units == 50 and b.stats.batches < 50


async def test_a_failing_unit_does_not_lose_its_neighbours(batcher):
    b, engine, events = batcher
    published: list[Event] = []

    async def listen():
        async with events.subscribe("*") as stream:
            async for event in stream:
                published.append(event)

    listener = asyncio.create_task(listen())
    await asyncio.sleep(0)

    def ok(n: int):
        async def work(uow: UnitOfWork) -> str:
            uow.session.add(Site(name=f"ok-{n}"))
            uow.publish(Event("t", "added", {"n": n}))
            return "ok"

        return work

    async def duplicate(uow: UnitOfWork) -> str:
        uow.session.add(Site(name="ok-1"))  # violates the unique name
        uow.publish(Event("t", "never", {}))
        await uow.session.flush()
        return "unreachable"

    tasks = [b.run("same", ok(n)) for n in range(5)] + [b.run("same", duplicate)]
    outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    assert outcomes[:5] == ["ok"] * 5
    assert isinstance(outcomes[5], Exception)
    assert await _count(engine) == 5
    await asyncio.sleep(0.05)
    listener.cancel()
    # Events are published once, only for units that committed.
    assert sorted(e.data["n"] for e in published if e.kind == "added") == [0, 1, 2, 3, 4]
    assert not [e for e in published if e.kind == "never"]


async def test_stop_finishes_queued_work(db_url):
    engine = create_engine(db_url)
    b = WriteBatcher(engine, InProcessEventBus())
    await b.start()

    async def work(uow: UnitOfWork) -> None:
        uow.session.add(Site(name="last"))

    pending = asyncio.create_task(b.run("k", work))
    await asyncio.sleep(0)
    await b.stop()
    await pending
    assert await _count(engine) == 1
    await engine.dispose()
