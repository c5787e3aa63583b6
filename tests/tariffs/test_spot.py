"""Spot prices from files: quarter hours, hourly rows, Oslo wall time, gaps, re-imports."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from core.models import SpotPrice
from core.tariffs import admin
from core.tariffs.errors import TariffError
from core.tariffs.service import price_session, quote
from core.tariffs.spot import CsvSpotPriceFeed, import_spot_prices, parse_csv
from tests.tariffs.builders import charged, database, oslo, place, transaction

HVAKOSTERSTROMMEN = """NOK_per_kWh,EUR_per_kWh,EXR,time_start,time_end
0.8123,0.0702,11.57,2026-05-06T12:00:00+02:00,2026-05-06T12:15:00+02:00
0.9,0.0778,11.57,2026-05-06T12:15:00+02:00,2026-05-06T12:30:00+02:00
-0.05,-0.0043,11.57,2026-05-06T12:30:00+02:00,2026-05-06T12:45:00+02:00
1.1,0.095,11.57,2026-05-06T12:45:00+02:00,2026-05-06T13:00:00+02:00
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "prices.csv"
    path.write_text(text, encoding="utf-8")
    return path


async def stored(s) -> dict[datetime, Decimal]:
    rows = await s.execute(select(SpotPrice.starts_at, SpotPrice.price_ore_per_kwh))
    return {at: Decimal(price) for at, price in rows}


def test_hvakosterstrommen_csv_gives_ore_per_quarter_hour():
    points = parse_csv(HVAKOSTERSTROMMEN, "NO1")
    assert [(p.starts_at, p.minutes, p.price_ore_per_kwh) for p in points][:1] == [
        (datetime(2026, 5, 6, 10, 0, tzinfo=UTC), 15, Decimal("81.2300"))
    ]
    assert points[2].price_ore_per_kwh == Decimal("-5.00")


def test_semicolon_file_with_decimal_commas_and_naive_oslo_times_across_dst():
    # 25 October 2026: 02:00 appears twice in Oslo wall time.
    text = "start;ore_per_kwh\n2026-10-25 01:00;50,5\n2026-10-25 02:00;40\n2026-10-25 02:00;30\n"
    points = parse_csv(text, "NO1", resolution_minutes=60)
    assert [p.starts_at for p in points] == [
        datetime(2026, 10, 24, 23, tzinfo=UTC),
        datetime(2026, 10, 25, 0, tzinfo=UTC),
        datetime(2026, 10, 25, 1, tzinfo=UTC),
    ]
    assert points[0].price_ore_per_kwh == Decimal("50.5")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("when,price\n2026-05-06T12:00Z,1\n", "needs a start column"),
        ("start,ore_per_kwh\n2026-05-06T12:07:00Z,1\n", "quarter hour"),
        ("start,ore_per_kwh\nyesterday,1\n", "not a timestamp"),
        ("start,ore_per_kwh\n2026-05-06T12:00Z,cheap\n", "not a price"),
        ("start,NOK_per_kWh\n2026-05-06T12:00Z,5000\n", "not a plausible"),
    ],
)
def test_bad_spot_files_are_refused_with_the_line(text, message):
    with pytest.raises(TariffError, match=message):
        parse_csv(text, "NO1")


async def test_import_expands_hours_reports_gaps_and_updates_on_reimport(db_url, tmp_path):
    hourly = "time_start,time_end,ore_per_kwh,area\n" + "\n".join(
        [
            "2026-05-06T10:00Z,2026-05-06T11:00Z,100,NO1",
            "2026-05-06T10:00Z,2026-05-06T11:00Z,999,NO5",
            "2026-05-06T11:00Z,2026-05-06T12:00Z,,NO1",
            "2026-05-06T12:00Z,2026-05-06T13:00Z,120,NO1",
        ]
    )
    async with database(db_url) as db:
        async with transaction(db) as s:
            result = await import_spot_prices(s, CsvSpotPriceFeed(write(tmp_path, hourly)), "no1")
            assert (result.area, result.stored, len(result.missing)) == ("NO1", 8, 4)
            assert result.missing[0] == datetime(2026, 5, 6, 11, tzinfo=UTC)
            prices = await stored(s)
            assert len(prices) == 8 and set(prices.values()) == {Decimal(100), Decimal(120)}
        async with transaction(db) as s:
            again = hourly.replace(",100,NO1", ",90,NO1")
            await import_spot_prices(s, CsvSpotPriceFeed(write(tmp_path, again)), "NO1")
            assert (await stored(s))[datetime(2026, 5, 6, 10, 45, tzinfo=UTC)] == Decimal(90)
        async with transaction(db) as s:
            with pytest.raises(TariffError, match="unknown price area"):
                await import_spot_prices(s, CsvSpotPriceFeed(write(tmp_path, hourly)), "SE3")


async def test_spot_tariff_prices_sessions_from_imported_prices(db_url, tmp_path):
    async with database(db_url) as db, transaction(db) as s:
        where = await place(s)
        await admin.create_tariff(s, "Spot")
        # 10 øre markup excl. VAT; negative spot prices count as 0.
        await admin.add_component(s, "Spot", kind="spot_energy", price_ore=10, spot_area="NO1")
        await admin.attach_tariff(s, "Spot", site=where.site, valid_from=oslo(2026, 1, 1))
        await import_spot_prices(s, CsvSpotPriceFeed(write(tmp_path, HVAKOSTERSTROMMEN)), "NO1")

        q = await quote(s, where.connectors[0], None, oslo(2026, 5, 6, 12, 20))
        assert q.headline_ore_per_kwh == 125  # (90 + 10) * 1.25
        assert q.components[0].spot_area == "NO1"

        # 1 kWh in each quarter hour: 81.23 + 90 + 0 + 110 spot, 4 x 10 markup.
        cs = await charged(s, where, None, oslo(2026, 5, 6, 12, 0), 60, 4)
        breakdown = await price_session(s, cs)
        assert breakdown.net_ore == 321  # 321.23 rounded
        assert breakdown.vat_ore == 80
        assert breakdown.lines[0].unit_price_ore == Decimal("80.3075")


async def test_a_quarter_hour_missing_from_the_feed_is_priced_with_the_fallback(db_url, tmp_path):
    async with database(db_url) as db, transaction(db) as s:
        where = await place(s)
        await admin.create_tariff(s, "Spot")
        await admin.add_component(
            s, "Spot", kind="spot_energy", price_ore=0, spot_area="NO1", spot_fallback_ore=200
        )
        await admin.attach_tariff(s, "Spot", site=where.site, valid_from=oslo(2026, 1, 1))
        await import_spot_prices(s, CsvSpotPriceFeed(write(tmp_path, HVAKOSTERSTROMMEN)), "NO1")
        start = oslo(2026, 5, 6, 12, 45)
        cs = await charged(s, where, None, start, 30, 4)  # 13:00-13:15 has no price
        breakdown = await price_session(s, cs)
        assert breakdown.net_ore == 110 + 200
        assert breakdown.notes == ["spot_fallback:NO1"]
        assert cs.cost_ore == 310 + 78
        assert start + timedelta(minutes=30) == cs.stopped_at
