"""Time helpers: everything is stored in UTC; OCPP timestamps are parsed leniently."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

OSLO = ZoneInfo("Europe/Oslo")
# Anything before this is a charger clock that was never set (1970, 2000, ...).
EARLIEST_PLAUSIBLE = datetime(2015, 1, 1, tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def parse_ocpp_datetime(value: str) -> datetime | None:
    """Parse an OCPP (RFC 3339) timestamp to an aware UTC datetime; None if unparseable."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        # OCPP requires UTC; a naive timestamp is read as UTC rather than rejected.
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def format_ocpp_datetime(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
