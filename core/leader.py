"""Background jobs run by exactly one process: the holder of a PostgreSQL advisory lock.

With several processes (gateways, APIs) on one database, the payment worker, reminders,
invoice schedule, SMS and delivery outboxes and load balancing must run once, not once per
process. Every process competes for one session-level advisory lock on a connection it
keeps open; the holder starts the jobs. If it dies, PostgreSQL drops its connection and the
lock with it, and another process takes over within `retry_s`. If the holder loses its
connection while alive, it stops its jobs at once (its lock is gone too). The jobs
themselves stay idempotent (claims, unique keys), so the short overlap a lost connection
may leave is harmless. On SQLite there is one process: it always leads.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

# pg_try_advisory_lock key: "ladeflyt jobs" (any fixed 64-bit number shared by all).
JOBS_LOCK = 0x4C414445_4A4F4253


class Leadership:
    def __init__(
        self,
        engine: AsyncEngine,
        start_jobs: Callable[[], Awaitable[None]],
        stop_jobs: Callable[[], Awaitable[None]],
        *,
        retry_s: float = 5.0,
        key: int = JOBS_LOCK,
    ) -> None:
        self._engine = engine
        self._start_jobs = start_jobs
        self._stop_jobs = stop_jobs
        self._retry_s = retry_s
        self._key = key
        self._task: asyncio.Task[None] | None = None
        self.leading = False
        self.changed = asyncio.Event()

    async def start(self) -> None:
        if self._engine.dialect.name != "postgresql":
            await self._lead()
            return
        self._task = asyncio.create_task(self._run(), name="jobs-leadership")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(BaseException):
                await self._task
            self._task = None
        await self._step_down()

    async def _lead(self) -> None:
        if not self.leading:
            self.leading = True
            log.info("this process runs the background jobs")
            await self._start_jobs()
            self.changed.set()

    async def _step_down(self) -> None:
        if self.leading:
            self.leading = False
            await self._stop_jobs()
            self.changed.set()

    async def _run(self) -> None:
        while True:
            try:
                async with self._engine.connect() as conn:
                    await self._hold(conn)
            except asyncio.CancelledError:
                raise
            except Exception as error:
                log.warning("job leadership: %s", error)
            await self._step_down()
            await asyncio.sleep(self._retry_s)

    async def _hold(self, conn: AsyncConnection) -> None:
        """Try for the lock until we have it; then keep checking the connection."""
        while True:
            got = (
                await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
            ).scalar_one()
            await conn.commit()
            if got:
                break
            await asyncio.sleep(self._retry_s)
        try:
            await self._lead()
            while True:
                await asyncio.sleep(self._retry_s)
                await conn.execute(text("SELECT 1"))
                await conn.commit()
        finally:
            await self._step_down()
            with contextlib.suppress(Exception):
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                await conn.commit()
