"""Bulk import of memberships from CSV, with a row-by-row report (CLI and dashboard).

Columns (header row, `,` or `;`): phone, group, and optionally site, from, to, reference,
name. A row that cannot be imported (bad phone, unknown group or site, bad dates) is
rejected with its line number and reason; the others are imported in the same transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from core.csvrows import CsvFileError, read_rows
from core.orgs import repository as repo
from core.orgs import service
from core.orgs.errors import Invalid, OrgError
from core.orgs.schemas import MembershipIn
from core.orgs.scope import Access, Actor
from core.timeutil import OSLO

COLUMNS = ("phone", "group", "site", "from", "to", "reference", "name")


@dataclass(frozen=True)
class Rejected:
    line: int
    phone: str
    reason: str


@dataclass
class ImportReport:
    total: int = 0
    imported: int = 0
    rejected: list[Rejected] = field(default_factory=list)


def read_csv(text: str) -> list[tuple[int, dict[str, str]]]:
    """(line number, row) pairs; the header names the columns (case-insensitive)."""
    try:
        return read_rows(text, COLUMNS, ("phone", "group"))
    except CsvFileError as error:
        raise Invalid(str(error)) from None


def parse_when(text: str | None) -> datetime | None:
    """ISO date or time; without an offset it is Oslo local time (a date: its midnight)."""
    if not text:
        return None
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"not a date or time: {text!r} (e.g. 2026-03-01)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=OSLO)
    return parsed.astimezone(UTC)


async def import_members(
    session: AsyncSession,
    actor: Actor,
    organisation_id: int,
    rows: Iterable[tuple[int, dict[str, str]]],
    progress: Callable[[int, int], None] | None = None,
) -> ImportReport:
    org = await repo.get_organisation(session, actor, organisation_id)
    actor.require(Access.WRITE, org.id, "organisation")
    todo = list(rows)
    report = ImportReport(total=len(todo))
    sites: dict[str, int] = {}
    for done, (line, row) in enumerate(todo, start=1):
        phone = row.get("phone", "")
        try:
            site_id = None
            if row.get("site"):
                name = row["site"]
                if name not in sites:
                    site = await repo.find_site(session, actor, name)
                    if site.organisation_id != org.id:
                        raise Invalid(f"no site {name!r} in {org.name}")
                    sites[name] = site.id
                site_id = sites[name]
            data = MembershipIn(
                organisation_id=org.id,
                site_id=site_id,
                group=row.get("group", ""),
                phone=phone,
                name=row.get("name", ""),
                valid_from=parse_when(row.get("from")),
                valid_to=parse_when(row.get("to")),
                reference=row.get("reference", ""),
            )
            async with session.begin_nested():
                await service.add_membership(session, actor, data)
            report.imported += 1
        except OrgError as error:
            report.rejected.append(Rejected(line, phone, error.message))
        except ValueError as error:  # pydantic's ValidationError
            first = error.errors()[0] if hasattr(error, "errors") else {"msg": str(error)}
            where = ".".join(str(p) for p in first.get("loc", ()))
            report.rejected.append(Rejected(line, phone, f"{where}: {first['msg']}".lstrip(": ")))
        if progress is not None:
            progress(done, report.total)
    return report
