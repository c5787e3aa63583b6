"""Before a command runs: is the database there, reachable and migrated? Configuration
mistakes become one line that says what to do, never a traceback from deep in a driver."""

from __future__ import annotations

import asyncio
import errno
import functools
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from core.db import create_engine

# How long to wait for a database server that does not answer at all.
CONNECT_TIMEOUT_S = 10.0


class ConfigProblem(Exception):
    """The settings do not describe a usable setup (database, ports): one line, exit 2."""


@functools.lru_cache(maxsize=1)
def _schema_heads() -> frozenset[str]:
    from alembic.script import ScriptDirectory

    from core.migrate import alembic_config

    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def _where(url: URL) -> str:
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return f"{url.host or 'localhost'}:{url.port or 5432}"


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what caused it, and the driver's own error inside SQLAlchemy's."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [error]
    while todo:
        current = todo.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        todo += [current.__cause__, current.__context__, getattr(current, "orig", None)]


def explain(error: BaseException, url: URL) -> str | None:
    """One line for a failure to connect to or read the database; None if it is not one."""
    shown = url.render_as_string(hide_password=True)
    where = _where(url)
    for e in _chain(error):
        name, message = type(e).__name__, str(e).strip().splitlines()[0] if str(e) else ""
        if name == "InvalidCatalogNameError":
            return (
                f"database {url.database!r} does not exist on {where}: create it "
                f"(createdb {url.database}), then run `ladeflyt db upgrade`"
            )
        if name in ("InvalidPasswordError", "InvalidAuthorizationSpecificationError"):
            return f"the database at {where} refused the login in {shown}: {message}"
        if "no such table" in message or name == "UndefinedTableError":
            return (
                f"the database {shown} has no tables yet: run `ladeflyt db upgrade` "
                "(or point LADEFLYT_DATABASE_URL at your database)"
            )
        if "unable to open database file" in message:
            return f"cannot open the SQLite database {where}: check that its folder is writable"
        if isinstance(e, ConnectionRefusedError) or (
            isinstance(e, OSError) and e.errno == errno.ECONNREFUSED
        ):
            return (
                f"cannot reach the database at {where}: connection refused "
                f"(is PostgreSQL running there? LADEFLYT_DATABASE_URL={shown})"
            )
        if isinstance(e, TimeoutError):
            return f"no answer from the database at {where} within {CONNECT_TIMEOUT_S:g} s"
        if isinstance(e, OSError) and e.strerror:
            return f"cannot reach the database at {where}: {e.strerror} ({shown})"
    return None


async def _probe(url: URL, migrated: bool) -> None:
    options: dict[str, object] = {"poolclass": NullPool}
    if url.get_backend_name() != "sqlite":
        options["connect_args"] = {"timeout": CONNECT_TIMEOUT_S}
    engine = create_engine(url.render_as_string(hide_password=False), **options)
    try:
        async with engine.connect() as conn:
            if not migrated:
                return
            versions = set((await conn.execute(text("SELECT version_num FROM alembic_version")))
                           .scalars())  # fmt: skip
    finally:
        await engine.dispose()
    heads = _schema_heads()
    if versions != heads:
        have = ", ".join(sorted(versions)) or "none"
        raise ConfigProblem(
            f"the database {url.render_as_string(hide_password=True)} is at revision {have}, "
            f"this Ladeflyt needs {', '.join(sorted(heads))}: run `ladeflyt db upgrade`"
        )


def check_database(database_url: str, *, migrated: bool = True) -> None:
    """Connect once (and, if `migrated`, check the schema is the one this code needs);
    ConfigProblem says in one line what is wrong. A missing SQLite file is not created."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        path = Path(url.database).expanduser()
        if migrated and not path.exists():
            raise ConfigProblem(
                f"no database at {url.database}: create it with `ladeflyt db upgrade` "
                "(or point LADEFLYT_DATABASE_URL at your database)"
            )
    try:
        asyncio.run(_probe(url, migrated))
    except ConfigProblem:
        raise
    except Exception as error:
        line = explain(error, url)
        if line is None:
            raise
        raise ConfigProblem(line) from None
