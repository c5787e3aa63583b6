"""Engine and session factories, the declarative Base, and portable column types."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar, cast

from sqlalchemy import JSON, DateTime, MetaData, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given; store aware UTC datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


# JSON that is JSONB on PostgreSQL.
JSONType = JSON().with_variant(JSONB(), "postgresql")


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """INSERT with the dialect's ON CONFLICT clauses (`on_conflict_do_nothing`,
    `on_conflict_do_update`); PostgreSQL and SQLite spell them alike."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert(table)
    if dialect == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"no INSERT ... ON CONFLICT for {dialect}")  # pragma: no cover


def insert_ignore(session: AsyncSession, table: Any) -> Any:
    """INSERT ... ON CONFLICT DO NOTHING: replays and races insert nothing new."""
    return dialect_insert(session, table).on_conflict_do_nothing()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """Create an async engine; SQLite gets WAL, a busy timeout and foreign keys."""
    if is_sqlite(url):
        _ensure_sqlite_dir(url)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            # FULL: a commit is on disk before we answer the charger.
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    if "poolclass" not in kwargs:
        kwargs.setdefault("pool_size", 10)
        kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


def _ensure_sqlite_dir(url: str) -> None:
    from pathlib import Path

    path = url.split(":///", 1)[-1].split("?", 1)[0]
    if path and path != ":memory:":
        Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)


_IO = TypeVar("_IO", bound=Callable[..., Awaitable[Any]])


def _one_at_a_time(method: _IO) -> _IO:
    @functools.wraps(method)
    async def serial(self: SerialSession, *args: Any, **kwargs: Any) -> Any:
        async with self.io_lock:
            return await method(self, *args, **kwargs)

    return cast(_IO, serial)


class SerialSession(AsyncSession):
    """An AsyncSession that several tasks may share: its database operations take turns.

    An AsyncSession must not run two operations at once (one connection, one transaction),
    but a GraphQL request resolves its fields concurrently and they all use the request's
    session: `{ me { phone } rfidTags { uid } }` broke the transaction
    (PendingRollbackError). Each operation that reaches the connection waits for the one
    before it; `scalars`/`stream_scalars` go through `execute`/`stream`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.io_lock = asyncio.Lock()

    execute = _one_at_a_time(AsyncSession.execute)
    scalar = _one_at_a_time(AsyncSession.scalar)  # type: ignore[assignment, arg-type]
    get = _one_at_a_time(AsyncSession.get)
    get_one = _one_at_a_time(AsyncSession.get_one)
    stream = _one_at_a_time(AsyncSession.stream)
    refresh = _one_at_a_time(AsyncSession.refresh)
    merge = _one_at_a_time(AsyncSession.merge)
    merge_all = _one_at_a_time(AsyncSession.merge_all)
    delete = _one_at_a_time(AsyncSession.delete)
    delete_all = _one_at_a_time(AsyncSession.delete_all)
    flush = _one_at_a_time(AsyncSession.flush)
    run_sync = _one_at_a_time(AsyncSession.run_sync)
    connection = _one_at_a_time(AsyncSession.connection)
    commit = _one_at_a_time(AsyncSession.commit)
    rollback = _one_at_a_time(AsyncSession.rollback)
    close = _one_at_a_time(AsyncSession.close)
    reset = _one_at_a_time(AsyncSession.reset)
    invalidate = _one_at_a_time(AsyncSession.invalidate)


def serial_sessions(factory: async_sessionmaker[AsyncSession]) -> async_sessionmaker[SerialSession]:
    """A factory like `factory` whose sessions are SerialSessions."""
    return async_sessionmaker(class_=SerialSession, **factory.kw)


@asynccontextmanager
async def transaction(
    factory: async_sessionmaker[AsyncSession],
) -> AsyncIterator[AsyncSession]:
    """One unit of work: commit on success, roll back on any error."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
