"""Opaque cursors for keyset paging: a page ends at an id, the next starts after it.

A cursor is the last id of the page in hex. Clients treat it as opaque; every string of
the documented form is a valid cursor (one beyond the end gives an empty page)."""

from __future__ import annotations

import re

from core.orgs.errors import Invalid

MAX_LIMIT = 500
CURSOR_PATTERN = r"^[0-9a-f]{1,12}$"
_INT32 = 2**31 - 1


def encode_cursor(last_id: int) -> str:
    return format(last_id, "x")


def decode_cursor(cursor: str | None) -> int | None:
    if not cursor:
        return None
    if not re.fullmatch(CURSOR_PATTERN, cursor):
        raise Invalid("not a cursor from this API")
    return min(int(cursor, 16), _INT32)


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise Invalid(f"limit is 1-{MAX_LIMIT}")
    return limit
