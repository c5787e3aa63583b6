"""Day-ahead spot prices per area (NO1-NO5) and quarter hour: the feed port and importer.

A feed yields price points excl. VAT in øre/kWh; hourly points (the market's resolution
before 1 October 2025) are stored as four equal quarter hours. A point without a price is
reported as missing and stores nothing: pricing then uses the component's fallback or
refuses (core.tariffs.engine). Negative prices are stored as they are.

`CsvSpotPriceFeed` reads a CSV file with a header row. Recognised columns (any case):
- start: time_start | start | starts_at | from | timestamp     (required)
- end:   time_end | end | ends_at | to                          (else `resolution_minutes`)
- price: ore_per_kwh | øre_per_kwh | price_ore (øre/kWh) or NOK_per_kWh (NOK/kWh)
- area:  area | price_area (optional; rows of other areas are skipped)
Times are ISO 8601; without an offset they are Europe/Oslo wall time (a repeated 02:xx in
October is read as the second pass the second time it appears). Semicolon-separated files
may use decimal commas (spreadsheet exports). hvakosterstrommen.no's CSV works as is.
"""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import SpotPrice
from core.tariffs.engine import QUARTER, SPOT_AREAS
from core.tariffs.errors import TariffError
from core.timeutil import OSLO, utcnow

_START = ("time_start", "start", "starts_at", "from", "timestamp")
_END = ("time_end", "end", "ends_at", "to")
_ORE = ("ore_per_kwh", "øre_per_kwh", "price_ore")
_NOK = ("nok_per_kwh",)
_AREA = ("area", "price_area")
_LIMIT = Decimal(100_000)  # øre/kWh: beyond this a number is a unit mistake


@dataclass(frozen=True)
class SpotPricePoint:
    starts_at: datetime  # UTC, on a quarter hour
    minutes: int  # 15 or 60
    price_ore_per_kwh: Decimal | None  # excl. VAT; None: not published


class SpotPriceFeed(Protocol):
    """Where spot prices come from (a file, a market data API...)."""

    source: str

    async def fetch(self, area: str) -> list[SpotPricePoint]: ...


@dataclass
class CsvSpotPriceFeed:
    path: Path
    resolution_minutes: int = 15
    source: str = field(init=False)

    def __post_init__(self) -> None:
        self.source = f"csv:{self.path.name}"[:60]

    async def fetch(self, area: str) -> list[SpotPricePoint]:
        try:
            text = await asyncio.to_thread(self.path.read_text, encoding="utf-8-sig")
        except OSError as exc:
            raise TariffError(f"cannot read {self.path}: {exc.strerror}") from None
        return parse_csv(text, area, self.resolution_minutes)


def _column(header: dict[str, str], names: Iterable[str]) -> str | None:
    return next((header[n] for n in names if n in header), None)


def _parse_time(value: str, seen: set[datetime]) -> datetime:
    text = value.strip().replace("Z", "+00:00")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise TariffError(f"not a timestamp: {value!r}") from None
    if parsed.tzinfo is None:
        fold = 1 if parsed in seen else 0
        seen.add(parsed)
        parsed = parsed.replace(tzinfo=OSLO, fold=fold)
    return parsed.astimezone(UTC)


def _parse_price(value: str, decimal_comma: bool) -> Decimal | None:
    text = value.strip().replace("\u2212", "-")
    if not text:
        return None
    if decimal_comma:
        text = text.replace(".", "").replace(",", ".") if "," in text else text
    try:
        price = Decimal(text)
    except InvalidOperation:
        raise TariffError(f"not a price: {value!r}") from None
    if not price.is_finite():
        raise TariffError(f"not a price: {value!r}")
    return price


def parse_csv(text: str, area: str, resolution_minutes: int = 15) -> list[SpotPricePoint]:
    area = area.upper()
    first_line = text.split("\n", 1)[0]
    delimiter = ";" if first_line.count(";") > first_line.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    header = {name.strip().lower(): name for name in reader.fieldnames or []}
    start_col, end_col = _column(header, _START), _column(header, _END)
    ore_col, nok_col = _column(header, _ORE), _column(header, _NOK)
    area_col = _column(header, _AREA)
    if start_col is None or (ore_col is None and nok_col is None):
        raise TariffError(
            "a spot price CSV needs a start column (time_start) and a price column "
            "(ore_per_kwh or NOK_per_kWh)"
        )
    seen_start: set[datetime] = set()
    seen_end: set[datetime] = set()
    points = []
    for line, row in enumerate(reader, start=2):
        if area_col and (row.get(area_col) or "").strip().upper() not in ("", area):
            continue
        starts_at = _parse_time(row[start_col] or "", seen_start)
        if end_col and (row.get(end_col) or "").strip():
            minutes = int((_parse_time(row[end_col] or "", seen_end) - starts_at).total_seconds())
            minutes //= 60
        else:
            minutes = resolution_minutes
        if minutes <= 0 or minutes % 15 or minutes > 60:
            raise TariffError(f"line {line}: a price covers 15 to 60 whole quarter hours")
        if starts_at.minute % 15 or starts_at.second or starts_at.microsecond:
            raise TariffError(f"line {line}: {starts_at.isoformat()} is not on a quarter hour")
        if ore_col is not None:
            price = _parse_price(row.get(ore_col) or "", delimiter == ";")
        else:
            assert nok_col is not None
            nok = _parse_price(row.get(nok_col) or "", delimiter == ";")
            price = None if nok is None else nok * 100
        if price is not None and abs(price) > _LIMIT:
            raise TariffError(f"line {line}: {price} øre/kWh is not a plausible spot price")
        points.append(SpotPricePoint(starts_at, minutes, price))
    return points


@dataclass(frozen=True)
class SpotImportResult:
    area: str
    stored: int  # quarter hours written (new or updated)
    missing: list[datetime]  # quarter hours in the covered range without a price
    first: datetime | None
    last: datetime | None


def _upsert(session: AsyncSession) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        stmt: Any = postgresql.insert(SpotPrice)
    else:
        stmt = sqlite.insert(SpotPrice)
    return stmt.on_conflict_do_update(
        index_elements=["area", "starts_at"],
        set_={
            "price_ore_per_kwh": stmt.excluded.price_ore_per_kwh,
            "source": stmt.excluded.source,
            "imported_at": stmt.excluded.imported_at,
        },
    )


async def import_spot_prices(
    session: AsyncSession, feed: SpotPriceFeed, area: str
) -> SpotImportResult:
    """Store a feed's prices for an area (re-importing updates them)."""
    area = area.strip().upper()
    if area not in SPOT_AREAS:
        raise TariffError(f"unknown price area {area!r}; use {', '.join(SPOT_AREAS)}")
    points = await feed.fetch(area)
    now = utcnow()
    quarters: dict[datetime, Decimal | None] = {}
    for p in points:
        for i in range(p.minutes // 15):
            slot = p.starts_at + i * QUARTER
            if p.price_ore_per_kwh is not None or slot not in quarters:
                quarters[slot] = p.price_ore_per_kwh
    rows = [
        {
            "area": area,
            "starts_at": slot,
            "price_ore_per_kwh": price,
            "source": feed.source,
            "imported_at": now,
        }
        for slot, price in sorted(quarters.items())
        if price is not None
    ]
    if rows:
        for i in range(0, len(rows), 1000):
            await session.execute(_upsert(session), rows[i : i + 1000])
    if not quarters:
        return SpotImportResult(area, 0, [], None, None)
    first, last = min(quarters), max(quarters)
    missing = []
    slot = first
    while slot <= last:
        if quarters.get(slot) is None:
            missing.append(slot)
        slot += timedelta(minutes=15)
    return SpotImportResult(area, len(rows), missing, first, last + QUARTER)
