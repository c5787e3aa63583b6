"""eFaktura consents, as the bank network reports them.

The distributor passes on what the consent lookup of eFaktura 2.0 answers for our customers
(or a consent file it collects for us). Ladeflyt reads it as a CSV file, one payer a line,
with a header; separator `;` or `,`:

    efaktura_identifier;phone;email;status
    9f1c0c2e-...;+4791000001;;always
    ...;;kari@example.no;issuer
    ...;+4791000005;;blocked

`status`: `always` (general consent, "Alltid eFaktura"), `issuer` (consent to our
eFaktura only), `blocked` (reserved against our eFaktura), `none` (no consent, withdrawn).
The Norwegian words `alltid`, `utsteder`, `reservert`/`sperret` and `ingen` are read too.
A line names the customer by phone (preferred) or e-mail. With `full=True` the file is the
whole picture: a customer with a consent that the file does not name has it withdrawn.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import ConsentStatus, EfakturaConsent, User
from core.timeutil import utcnow
from core.users.service import UserError, normalize_phone

_WORDS = {
    "always": ConsentStatus.ALWAYS,
    "alltid": ConsentStatus.ALWAYS,
    "alltid_efaktura": ConsentStatus.ALWAYS,
    "issuer": ConsentStatus.ISSUER,
    "utsteder": ConsentStatus.ISSUER,
    "blocked": ConsentStatus.BLOCKED,
    "reserved": ConsentStatus.BLOCKED,
    "reservert": ConsentStatus.BLOCKED,
    "sperret": ConsentStatus.BLOCKED,
    "none": ConsentStatus.NONE,
    "ingen": ConsentStatus.NONE,
    "withdrawn": ConsentStatus.NONE,
    "": ConsentStatus.NONE,
}


class ConsentFileError(ValueError):
    pass


@dataclass
class ConsentImport:
    updated: int = 0
    unchanged: int = 0
    withdrawn: int = 0
    unknown: list[str] = field(default_factory=list)  # lines naming no customer of ours


def parse_consents(text: str) -> list[dict[str, str]]:
    sample = text[:2048]
    delimiter = ";" if sample.count(";") >= sample.count(",") else ","
    reader = csv.DictReader(io.StringIO(text), delimiter=delimiter)
    if reader.fieldnames is None:
        return []
    names = [n.strip().lower() for n in reader.fieldnames]
    if "status" not in names or not ({"phone", "email"} & set(names)):
        raise ConsentFileError("a consent file has the columns status and phone and/or email")
    reader.fieldnames = names
    return [{k: (v or "").strip() for k, v in row.items() if k} for row in reader]


async def import_consents(
    session: AsyncSession, text: str, *, source: str = "", full: bool = False
) -> ConsentImport:
    result = ConsentImport()
    seen: set[int] = set()
    for number, row in enumerate(parse_consents(text), start=2):
        word = row.get("status", "").lower().replace(" ", "_")
        if word not in _WORDS:
            raise ConsentFileError(f"line {number}: unknown status {row.get('status')!r}")
        status = _WORDS[word]
        user = await _find(session, row.get("phone", ""), row.get("email", ""))
        if user is None:
            result.unknown.append(row.get("phone") or row.get("email") or f"line {number}")
            continue
        seen.add(user.id)
        identifier = row.get("efaktura_identifier", "")
        if status in (ConsentStatus.ALWAYS, ConsentStatus.ISSUER) and not identifier:
            raise ConsentFileError(f"line {number}: consent without an eFaktura identifier")
        if await _set(session, user.id, status.value, identifier, source):
            result.updated += 1
        else:
            result.unchanged += 1
    if full:
        rows = await session.execute(
            select(EfakturaConsent).where(EfakturaConsent.status != ConsentStatus.NONE.value)
        )
        for consent in rows.scalars():
            if consent.user_id not in seen:
                consent.status = ConsentStatus.NONE.value
                consent.source = source[:200]
                consent.updated_at = utcnow()
                result.withdrawn += 1
    await session.flush()
    return result


async def _find(session: AsyncSession, phone: str, email: str) -> User | None:
    if phone:
        try:
            normalized = normalize_phone(phone)
        except UserError:
            normalized = phone
        user = (await session.execute(select(User).where(User.phone == normalized))).scalar()
        if user is not None:
            return user
    if email:
        return (
            await session.execute(
                select(User).where(func.lower(User.email) == email.lower()).limit(1)
            )
        ).scalar()
    return None


async def _set(
    session: AsyncSession, user_id: int, status: str, identifier: str, source: str
) -> bool:
    consent = (
        await session.execute(select(EfakturaConsent).where(EfakturaConsent.user_id == user_id))
    ).scalar_one_or_none()
    if consent is None:
        consent = EfakturaConsent(user_id=user_id, status=ConsentStatus.NONE.value)
        session.add(consent)
    identifier = identifier or consent.efaktura_identifier or ""
    if consent.status == status and consent.efaktura_identifier == identifier:
        return False
    consent.status = status
    consent.efaktura_identifier = identifier[:100]
    consent.source = source[:200]
    consent.updated_at = utcnow()
    return True


async def set_consent(
    session: AsyncSession, user_id: int, status: str, identifier: str = "", source: str = "manual"
) -> None:
    """Record one customer's consent (operator, or a lookup answer)."""
    if status not in {s.value for s in ConsentStatus}:
        raise ConsentFileError(f"status is one of {', '.join(s.value for s in ConsentStatus)}")
    await _set(session, user_id, status, identifier, source)
    await session.flush()
