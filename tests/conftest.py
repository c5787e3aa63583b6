"""Shared fixtures: a migrated database per test (SQLite always, PostgreSQL when available),
a running gateway on a free port, and chargers played by the `ocpp` package itself."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shutil
import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest
from sqlalchemy import make_url, text
from sqlalchemy.pool import NullPool

from core.config import Settings
from core.db import create_engine, session_factory, transaction
from core.migrate import upgrade
from ladeflyt.runtime import Runtime

PG_ENV = "LADEFLYT_TEST_POSTGRES_URL"
PG_DEFAULT = "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def _postgres_url() -> str | None:
    """The PostgreSQL to test on: required if the env var names one, else used if up."""
    url = os.environ.get(PG_ENV)
    required = bool(url)
    url = url or PG_DEFAULT
    parsed = urlparse(url.replace("+asyncpg", ""))
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 5432), 1):
            return url
    except OSError:
        if required:
            raise RuntimeError(f"{PG_ENV}={url} is not reachable") from None
        return None


_PG_URL = _postgres_url()
_BACKENDS = ["sqlite"] + (["postgresql"] if _PG_URL else [])


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "ladeflyt.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_migrated() -> Iterator[str]:
    """A fresh database of our own for this test run, so parallel runs never collide."""
    assert _PG_URL is not None
    name = f"ladeflyt_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    url = make_url(_PG_URL).set(database=name).render_as_string(hide_password=False)

    async def admin(statement: str) -> None:
        engine = create_engine(_PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    # A throwaway database need not wait for the disk on every commit: the tests commit
    # thousands of times, and durability across a crash of this run is worth nothing.
    asyncio.run(admin(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
    try:
        upgrade(url)
        yield url
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _log_handlers() -> dict[logging.Logger, list[logging.Handler]]:
    loggers = [logging.getLogger()] + [
        logger
        for logger in logging.Logger.manager.loggerDict.values()
        if isinstance(logger, logging.Logger)
    ]
    return {logger: list(logger.handlers) for logger in loggers}


@pytest.fixture(autouse=True)
def _logging_left_as_found() -> Iterator[None]:
    """A command run in-process may set up logging on the stream pytest captured for it.
    That stream is closed after the test, so such handlers must not outlive it: a later
    test in the same worker would find "--- Logging error ---" in its own stderr."""
    before = _log_handlers()
    yield
    for logger, handlers in _log_handlers().items():
        for handler in handlers:
            if handler not in before.get(logger, []) and not type(handler).__module__.startswith(
                "_pytest"
            ):
                logger.removeHandler(handler)


_EMPTY_ALL_TABLES = """
DO $$
DECLARE r record;
BEGIN
  SET LOCAL session_replication_role = replica;
  FOR r IN SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
           WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relname <> 'alembic_version'
  LOOP
    EXECUTE format('DELETE FROM public.%I', r.relname);
  END LOOP;
  FOR r IN SELECT sequencename FROM pg_sequences WHERE schemaname = 'public' LOOP
    EXECUTE format('ALTER SEQUENCE public.%I RESTART', r.sequencename);
  END LOOP;
END $$;
"""


async def empty_postgres(url: str) -> None:
    """Every table emptied and every identity restarted, for the tests that come next.

    DELETE of tables a test left nearly empty is far cheaper than TRUNCATE (which swaps
    every table's and index's files). Foreign keys are not checked while emptying
    (replica role)."""
    engine = create_engine(url, poolclass=NullPool)
    async with engine.begin() as conn:
        await conn.execute(text(_EMPTY_ALL_TABLES))
    await engine.dispose()


@pytest.fixture(params=_BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "ladeflyt.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_migrated")
    yield url
    asyncio.run(empty_postgres(url))


@pytest.fixture
def settings(db_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=db_url,
        delivery_dir=str(tmp_path / "delivery"),  # invoice files stay out of the work tree
        ocpp_host="127.0.0.1",
        ocpp_port=0,
        ocpp_heartbeat_interval=300,
        ocpp_call_timeout=5.0,
        ocpp_command_timeout=5.0,
    )


@pytest.fixture
async def runtime(settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.build(settings)
    await rt.start(ocpp_port=0)
    try:
        yield rt
    finally:
        await rt.stop()


@pytest.fixture
def ocpp_url(runtime: Runtime) -> str:
    return f"ws://127.0.0.1:{runtime.gateway.port}/ocpp"


@pytest.fixture
async def db(runtime: Runtime) -> AsyncIterator[object]:
    """A session factory on the runtime's engine, for arranging and asserting."""
    yield runtime.gateway_ctx.sessions


@contextlib.asynccontextmanager
async def in_tx(runtime: Runtime) -> AsyncIterator[object]:
    async with transaction(session_factory(runtime.engine)) as session:
        yield session
