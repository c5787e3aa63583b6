"""A fresh, migrated database for one benchmark run: a SQLite file in a temporary directory,
or a PostgreSQL database of its own; removed afterwards."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from sqlalchemy import make_url, text
from sqlalchemy.pool import NullPool

from core.db import create_engine
from core.migrate import upgrade


async def _admin(url: str, statement: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


class FreshDatabase:
    def __init__(self, db: str, pg_url: str, name: str) -> None:
        self.pg_url = pg_url
        self.tmp: Path | None = None
        self.pg_name: str | None = None
        if db == "postgresql":
            self.pg_name = f"ladeflyt_bench_{name}_{os.getpid()}_{uuid.uuid4().hex[:6]}"
            self.url = make_url(pg_url).set(database=self.pg_name).render_as_string(False)
        else:
            self.tmp = Path(tempfile.mkdtemp(prefix=f"ladeflyt-bench-{name}-"))
            self.url = f"sqlite+aiosqlite:///{self.tmp / f'{name}.db'}"

    async def create(self) -> None:
        """Create it and migrate it to the head revision."""
        if self.pg_name is not None:
            await _admin(self.pg_url, f'CREATE DATABASE "{self.pg_name}"')
        await asyncio.to_thread(upgrade, self.url)

    async def drop(self) -> None:
        if self.pg_name is not None:
            await _admin(self.pg_url, f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)')
        if self.tmp is not None:
            shutil.rmtree(self.tmp, ignore_errors=True)
