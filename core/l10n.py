"""Numbers, money and dates the way Norwegian (nb) and English (en) readers write them.

Babel (CLDR data) does the work: `kr 1 234,50` and `2,226 kWh` in Norwegian, `NOK 1,234.50`
and `2.226 kWh` in English. Norwegian groups thousands with a no-break space (U+00A0) and
Babel keeps it, so an amount never breaks across lines on a page. SMS bodies are GSM-7:
`core.messaging.templates.gsm7` turns that space into a plain one.

The currency goes before the amount in both languages, after it a plain space (`kr 1 234,50`,
as Norwegian price lists and receipts write it; CLDR's nb default would be `1 234,50 kr`).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from babel import Locale
from babel.dates import format_date, format_time
from babel.numbers import format_currency, format_decimal

from core.timeutil import OSLO

Language = Literal["nb", "en"]
LOCALES: dict[str, Locale] = {"nb": Locale.parse("nb_NO"), "en": Locale.parse("en_GB")}
_MONEY = "¤ #,##0.00"
_UNKNOWN = {"nb": "pris ukjent", "en": "price unknown"}


def locale(language: str) -> Locale:
    return LOCALES.get(language, LOCALES["nb"])


def money(ore: int | None, language: str = "nb") -> str:
    """An amount in øre as `kr 1 234,50` (nb) / `NOK 1,234.50` (en); None: price unknown."""
    if ore is None:
        return _UNKNOWN.get(language, _UNKNOWN["nb"])
    return format_currency(
        Decimal(ore) / 100, "NOK", format=_MONEY, locale=locale(language), currency_digits=False
    )


def unit_price(ore: Decimal | int, language: str = "nb") -> str:
    """A unit price that may carry fractions of an øre: `kr 3,125` / `NOK 3.125`."""
    return format_currency(
        Decimal(ore) / 100,
        "NOK",
        format="¤ #,##0.00##",
        locale=locale(language),
        currency_digits=False,
    )


def amount(ore: int, language: str = "nb") -> str:
    """An amount in øre without the currency, for tables: `1 234,50` / `1,234.50`."""
    return format_decimal(Decimal(ore) / 100, format="#,##0.00", locale=locale(language))


def kwh(energy_wh: int, language: str = "nb") -> str:
    """Energy in kWh to the watt-hour, without the unit: `2,226` / `2.226`."""
    return number(Decimal(energy_wh) / 1000, language, decimals=3)


def number(
    value: Decimal | float | int,
    language: str = "nb",
    *,
    decimals: int = 0,
    max_decimals: int | None = None,
) -> str:
    """`value` with exactly `decimals` decimals (up to `max_decimals` when given)."""
    most = decimals if max_decimals is None else max(max_decimals, decimals)
    pattern = "#,##0" + ("." + "0" * decimals + "#" * (most - decimals) if most else "")
    return format_decimal(Decimal(str(value)), format=pattern, locale=locale(language))


def day(value: date | datetime, language: str = "nb") -> str:
    """A date in words where it helps: `4. mars 2026` / `4 Mar 2026` (Oslo time)."""
    if isinstance(value, datetime):
        value = value.astimezone(OSLO).date()
    return format_date(value, "medium", locale=locale(language))


def clock(value: datetime, language: str = "nb") -> str:
    """The Oslo wall-clock time, `14:05`."""
    return format_time(value.astimezone(OSLO), "HH:mm", locale=locale(language))
