"""What every `ladeflyt` command shares: one database transaction per command, progress."""

from __future__ import annotations

import asyncio
import getpass
import sys
from collections.abc import Awaitable, Callable
from typing import TextIO, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.config import Settings
from core.db import create_engine, session_factory, transaction
from core.orgs.scope import Actor

T = TypeVar("T")


class ExitCode(Exception):
    """A command that did its work and has reported a failure itself (e.g. rejected rows):
    `ladeflyt` exits with `code` and prints nothing more."""

    def __init__(self, code: int = 1) -> None:
        super().__init__(code)
        self.code = code


def cli_actor() -> Actor:
    """The operator at the console, audited as `cli:<login name>`."""
    try:
        who = getpass.getuser()
    except Exception:  # no login name in some containers
        who = "unknown"
    return Actor.cli(f"cli:{who}")


def with_database(
    settings: Settings, work: Callable[[async_sessionmaker[AsyncSession]], Awaitable[T]]
) -> T:
    """Run `work` with sessions on the configured database (it makes its transactions)."""

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            return await work(session_factory(engine))
        finally:
            await engine.dispose()

    return asyncio.run(run())


def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one transaction: committed if it returns, rolled back if it raises."""

    async def run(sessions: async_sessionmaker[AsyncSession]) -> T:
        async with transaction(sessions) as session:
            return await work(session)

    return with_database(settings, run)


class ProgressBar:
    """`[########----------------] 3/8 customers` on stderr: redrawn in place on a terminal;
    elsewhere (a log, a pipe) a plain line at each tenth of the way, without `\\r`."""

    def __init__(self, what: str, out: TextIO | None = None, width: int = 24) -> None:
        self.what, self.out, self.width = what, out or sys.stderr, width
        self.last: tuple[int, int] | None = None
        self._tenth = 0

    def __call__(self, done: int, total: int) -> None:
        if (done, total) == self.last:
            return
        self.last = (done, total)
        filled = self.width if total == 0 else self.width * done // total
        bar = "#" * filled + "-" * (self.width - filled)
        line = f"[{bar}] {done:>{len(str(total))}}/{total} {self.what}"
        if self.out.isatty():
            self.out.write("\r" + line + ("\n" if done >= total else ""))
        else:
            tenth = 10 if total == 0 or done >= total else 10 * done // total
            if tenth <= self._tenth and done < total:
                return
            self._tenth = tenth
            self.out.write(line + "\n")
        self.out.flush()
