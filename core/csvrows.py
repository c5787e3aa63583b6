"""Operators' CSV files (member and charger imports): a header row, `,` `;` or tab separated."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence

MAX_ROWS = 100_000

Row = tuple[int, dict[str, str]]  # (line number in the file, column -> value)


class CsvFileError(ValueError):
    """The file as a whole cannot be read (no header, unknown columns, too many rows)."""


def read_rows(text: str, columns: Sequence[str], required: Sequence[str]) -> list[Row]:
    """(line number, row) pairs, values stripped; the header names the columns
    (case-insensitive), blank lines are skipped."""
    text = text.lstrip("\ufeff")
    try:
        dialect: type[csv.Dialect] | csv.Dialect = csv.Sniffer().sniff(
            text.split("\n", 1)[0], delimiters=",;\t"
        )
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text), dialect)
    header = [h.strip().lower() for h in next(reader, [])]
    if any(name not in header for name in required):
        raise CsvFileError(
            f"the CSV needs a header with at least {' and '.join(f'`{r}`' for r in required)}"
        )
    unknown = [h for h in header if h and h not in columns]
    if unknown:
        raise CsvFileError(f"unknown column(s) {', '.join(unknown)}; use {', '.join(columns)}")
    rows = []
    for values in reader:
        if not any(v.strip() for v in values):
            continue
        rows.append((reader.line_num, dict(zip(header, (v.strip() for v in values), strict=False))))
        if len(rows) > MAX_ROWS:
            raise CsvFileError(f"at most {MAX_ROWS} rows per import")
    return rows
