"""Small helpers for the CLI tests."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.tariffs.builders import database, transaction


def ok(result: tuple[int, str, str]) -> str:
    """The output of a command that must succeed."""
    code, out, err = result
    assert code == 0, err
    return out


async def _query(db_url: str, statement: Any) -> list[Any]:
    async with database(db_url) as db, transaction(db) as s:
        return list((await s.execute(statement)).all())


def query(db_url: str, statement: Any) -> list[Any]:
    """Rows of `statement` on the test database, from synchronous test code."""
    return asyncio.run(_query(db_url, statement))
