"""The operator's charger register: add a charger where it stands, change it, remove it
(keeping its history), list it, and import many from CSV. Used by the CLI; every change is
audited with the acting operator.

A charger's location is its site's (`chargersNear` searches sites): `--lat/--lon/--address`
place a new site, fill in what an existing site lacks, or must agree with what it has.

Scoped like the rest of core.orgs: the CLI acts as the operator; an organisation admin (the
dashboard) adds chargers only at sites of their organisation, and new sites go to the
organisation the caller names (`organisation_id`; None is the operator's own).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.chargers import service
from core.chargers.service import ChargerError
from core.csvrows import CsvFileError, Row, read_rows
from core.models import Charger, ChargingSession, RegistrationStatus, Site
from core.models.charging import OPEN_STATUSES
from core.orgs import fleet
from core.orgs import repository as repo
from core.orgs import service as orgs
from core.orgs.audit import record, snapshot
from core.orgs.errors import OrgError
from core.orgs.schemas import ChargerPatch, SiteIn, SitePatch
from core.orgs.scope import Access, Actor
from core.security import hash_password
from core.timeutil import utcnow

# Two places closer than this are the same place (about 1 m).
SAME_PLACE_DEGREES = 1e-5


@dataclass(frozen=True)
class Place:
    """Where a charger stands, as given by the operator (any part may be missing)."""

    latitude: float | None = None
    longitude: float | None = None
    address: str | None = None

    @property
    def given(self) -> bool:
        return self.latitude is not None or self.longitude is not None or bool(self.address)

    def check(self) -> None:
        if (self.latitude is None) != (self.longitude is None):
            raise ChargerError("give both a latitude and a longitude")
        if self.latitude is not None and self.longitude is not None:
            if not (math.isfinite(self.latitude) and -90 <= self.latitude <= 90):
                raise ChargerError(f"latitude {self.latitude} is not between -90 and 90")
            if not (math.isfinite(self.longitude) and -180 <= self.longitude <= 180):
                raise ChargerError(f"longitude {self.longitude} is not between -180 and 180")
        if self.address is not None and len(self.address) > 200:
            raise ChargerError("an address is at most 200 characters")


@dataclass(frozen=True)
class NewCharger:
    charge_point_id: str
    site: str | None = None
    place: Place = field(default_factory=Place)
    connectors: int = 1
    max_power_w: int = 22_000
    connector_type: str = "Type2"
    password: str | None = None
    public_code: str | None = None


@dataclass(frozen=True)
class ChargerChanges:
    site: str | None = None
    place: Place = field(default_factory=Place)
    public_code: str | None = None
    max_power_w: int | None = None
    password: str | None = None
    registration_status: str | None = None


@dataclass(frozen=True)
class ChargerView:
    charger: Charger
    site: Site | None
    sessions: int
    open_session_ids: list[int]


def _site_label(site: Site) -> str:
    where = f"{site.latitude:.5f}, {site.longitude:.5f}" if site.latitude is not None else ""
    if site.address:
        where = f"{where} ({site.address})" if where else site.address
    return f"site {site.name} is at {where}" if where else f"site {site.name}"


async def _site_for(
    session: AsyncSession,
    actor: Actor,
    name: str | None,
    place: Place,
    organisation_id: int | None = None,
) -> Site | None:
    """The site called `name` (one the actor may change), made (in `organisation_id`) or
    completed with `place`; None without either."""
    place.check()
    if name is None:
        if not place.given:
            return None
        # No site named: the place is an operator station of its own, named by its address.
        if not place.address:
            raise ChargerError("name the site (--site) or give its --address")
        name = place.address
    site = (
        await session.execute(repo.sites_query(actor).where(Site.name == name))
    ).scalar_one_or_none()
    if site is None:
        return await orgs.create_site(
            session,
            actor,
            SiteIn(
                name=name,
                organisation_id=organisation_id,
                address=place.address or "",
                latitude=place.latitude,
                longitude=place.longitude,
            ),
        )
    actor.require(Access.WRITE, site.organisation_id, "site")
    fill: dict[str, object] = {}
    if place.latitude is not None and place.longitude is not None:
        if site.latitude is None or site.longitude is None:
            fill |= {"latitude": place.latitude, "longitude": place.longitude}
        elif (
            abs(site.latitude - place.latitude) > SAME_PLACE_DEGREES
            or abs(site.longitude - place.longitude) > SAME_PLACE_DEGREES
        ):
            raise ChargerError(
                f"{_site_label(site)}: a charger stands where its site is; "
                "leave out --lat/--lon, or use another --site"
            )
    if place.address:
        if not site.address:
            fill["address"] = place.address
        elif site.address.strip().casefold() != place.address.strip().casefold():
            raise ChargerError(
                f"{_site_label(site)}: a charger stands where its site is; "
                "leave out --address, or use another --site"
            )
    if fill:
        site = await orgs.update_site(session, actor, site.id, SitePatch.model_validate(fill))
    return site


async def _organisation_of(session: AsyncSession, site_id: int | None) -> int | None:
    if site_id is None:
        return None
    return (
        await session.execute(select(Site.organisation_id).where(Site.id == site_id))
    ).scalar_one_or_none()


async def find_charger(session: AsyncSession, ref: str, *, removed: bool = False) -> Charger:
    """A charger by its charge point id or the code printed on it; removed ones only if
    asked for."""
    query = select(Charger).options(selectinload(Charger.connectors))
    if not removed:
        query = query.where(Charger.removed_at.is_(None))
    found = (
        await session.execute(query.where(Charger.charge_point_id == ref))
    ).scalar_one_or_none()
    if found is None:
        key = service.code_key(ref)
        found = (
            (await session.execute(query.where(Charger.code_key == key).limit(1))).scalar()
            if key
            else None
        )
    if found is None:
        raise ChargerError(f"no charger {ref}")
    return found


async def _require(session: AsyncSession, actor: Actor, charger: Charger) -> int | None:
    """The charger's organisation, if the actor may change the charger (else NotFound for
    one they cannot see, Forbidden for one they only see)."""
    org_id = await _organisation_of(session, charger.site_id)
    try:
        actor.require(Access.WRITE, org_id, "charger")
    except OrgError as error:
        raise ChargerError(_reason(error)) from None
    return org_id


async def add_charger(
    session: AsyncSession, actor: Actor, new: NewCharger, organisation_id: int | None = None
) -> Charger:
    try:
        site = await _site_for(session, actor, new.site, new.place, organisation_id)
    except (OrgError, ValidationError) as error:
        raise ChargerError(_reason(error)) from None
    charger = await service.add_charger(
        session,
        new.charge_point_id,
        site_name=site.name if site is not None else None,
        password=new.password,
        connectors=new.connectors,
        max_power_w=new.max_power_w,
        connector_type=new.connector_type,
        public_code=new.public_code,
    )
    await record(
        session,
        actor,
        "charger.create",
        "charger",
        charger.id,
        site.organisation_id if site is not None else None,
        after=snapshot(charger),
    )
    return charger


async def update_charger(
    session: AsyncSession, actor: Actor, ref: str, changes: ChargerChanges
) -> Charger:
    charger = await find_charger(session, ref)
    await _require(session, actor, charger)
    try:
        site_id: int | None = None
        if changes.site is not None:
            site = await _site_for(session, actor, changes.site, changes.place)
            assert site is not None
            site_id = site.id
        elif changes.place.given:
            if charger.site_id is None:
                raise ChargerError(f"charger {charger.charge_point_id} has no site: give --site")
            current = await session.get_one(Site, charger.site_id)
            await _move_site(session, actor, current, changes.place)
        patch = {
            "site_id": site_id,
            "public_code": changes.public_code,
            "max_power_w": changes.max_power_w,
            "registration_status": changes.registration_status,
        }
        if any(v is not None for v in patch.values()):
            await fleet.update_charger(
                session, actor, charger.id, ChargerPatch.model_validate(patch)
            )
    except (OrgError, ValidationError) as error:
        raise ChargerError(_reason(error)) from None
    if changes.max_power_w is not None:
        # Every plug of a charger added here has the charger's power (see add_charger).
        for connector in charger.connectors:
            connector.max_power_w = changes.max_power_w
    if changes.password is not None:
        if len(changes.password.encode()) < service.MIN_PASSWORD_BYTES:
            raise ChargerError(
                f"a charger password needs at least {service.MIN_PASSWORD_BYTES} bytes"
            )
        charger.password_hash = hash_password(changes.password)
        await record(
            session,
            actor,
            "charger.password",
            "charger",
            charger.id,
            await _organisation_of(session, charger.site_id),
        )
    await session.flush()
    return charger


async def _move_site(session: AsyncSession, actor: Actor, site: Site, place: Place) -> None:
    """Set the site's location to `place` (the parts given)."""
    place.check()
    fields: dict[str, object] = {}
    if place.latitude is not None:
        fields |= {"latitude": place.latitude, "longitude": place.longitude}
    if place.address:
        fields["address"] = place.address
    await orgs.update_site(session, actor, site.id, SitePatch.model_validate(fields))


@dataclass(frozen=True)
class Removal:
    charger: str
    kept: bool  # False: deleted, it had no sessions
    sessions: int
    open_sessions: list[int]


async def remove_charger(
    session: AsyncSession, actor: Actor, ref: str, *, force: bool = False
) -> Removal:
    """Take a charger out of service. One that ever charged is kept, with its sessions, as
    removed (refused at boot, gone from searches, its printed code free for another); one
    that never did is deleted. A running session blocks this unless `force`: the session
    is kept and ends like any whose charger falls silent (core.sessions.lifecycle)."""
    charger = await find_charger(session, ref)
    await _require(session, actor, charger)
    total, running = await _usage(session, charger.id)
    if running and not force:
        ids = ", ".join(str(i) for i in running)
        raise ChargerError(
            f"charger {charger.charge_point_id} is charging (session {ids}): stop it first, "
            "or --force to remove the charger anyway (the session is kept)"
        )
    org_id = await _organisation_of(session, charger.site_id)
    before = snapshot(charger)
    if total == 0:
        # Its connectors, events and variables go with it (ON DELETE CASCADE).
        session.expunge(charger)
        await session.execute(delete(Charger).where(Charger.id == charger.id))
        await record(session, actor, "charger.delete", "charger", charger.id, org_id, before=before)
        return Removal(charger.charge_point_id, False, 0, [])
    charger.removed_at = utcnow()
    charger.registration_status = RegistrationStatus.REJECTED.value
    charger.public_code = None
    charger.code_key = None
    await session.flush()
    await record(
        session,
        actor,
        "charger.remove",
        "charger",
        charger.id,
        org_id,
        before=before,
        after=snapshot(charger),
    )
    return Removal(charger.charge_point_id, True, total, running)


async def _usage(session: AsyncSession, charger_id: int) -> tuple[int, list[int]]:
    """How many sessions the charger has had, and the ones running now."""
    total = (
        await session.execute(
            select(func.count(ChargingSession.id)).where(ChargingSession.charger_id == charger_id)
        )
    ).scalar_one()
    running = list(
        (
            await session.execute(
                select(ChargingSession.id)
                .where(
                    ChargingSession.charger_id == charger_id,
                    ChargingSession.status.in_(OPEN_STATUSES),
                )
                .order_by(ChargingSession.id)
            )
        ).scalars()
    )
    return int(total), running


async def list_chargers(
    session: AsyncSession, *, site: str | None = None, removed: bool = False
) -> list[tuple[Charger, Site | None]]:
    query = (
        select(Charger, Site)
        .outerjoin(Site, Site.id == Charger.site_id)
        .options(selectinload(Charger.connectors))
        .order_by(Charger.charge_point_id)
    )
    if not removed:
        query = query.where(Charger.removed_at.is_(None))
    if site is not None:
        query = query.where(Site.name == site)
    return [(c, s) for c, s in await session.execute(query)]


async def show_charger(session: AsyncSession, ref: str) -> ChargerView:
    charger = await find_charger(session, ref, removed=True)
    site = await session.get(Site, charger.site_id) if charger.site_id is not None else None
    total, running = await _usage(session, charger.id)
    return ChargerView(charger, site, total, running)


# --------------------------------------------------------------------------- import

COLUMNS = (
    "charge_point_id",
    "site",
    "lat",
    "lon",
    "address",
    "connectors",
    "max_kw",
    "type",
    "password",
    "public_code",
)


@dataclass(frozen=True)
class Rejected:
    line: int
    charge_point_id: str
    reason: str


def read_csv(text: str) -> list[Row]:
    try:
        return read_rows(text, COLUMNS, ("charge_point_id",))
    except CsvFileError as error:
        raise ChargerError(str(error)) from None


def _number(row: dict[str, str], column: str, kind: type[float] | type[int]) -> float | None:
    text = row.get(column, "").replace(",", ".") if kind is float else row.get(column, "")
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        raise ChargerError(f"{column}: not a number: {row[column]!r}") from None


def new_charger_from(row: dict[str, str]) -> NewCharger:
    """One CSV row as a charger to add; ChargerError says what is wrong with it."""
    connectors = _number(row, "connectors", int)
    max_kw = _number(row, "max_kw", float)
    if max_kw is not None and not 1 <= max_kw <= 1000:
        raise ChargerError(f"max_kw: {max_kw:g} is not between 1 and 1000")
    return NewCharger(
        charge_point_id=row.get("charge_point_id", ""),
        site=row.get("site") or None,
        place=Place(_number(row, "lat", float), _number(row, "lon", float), row.get("address")),
        connectors=int(connectors) if connectors is not None else 1,
        max_power_w=round(max_kw * 1000) if max_kw is not None else 22_000,
        connector_type=row.get("type") or "Type2",
        password=row.get("password") or None,
        public_code=row.get("public_code") or None,
    )


async def import_batch(
    session: AsyncSession,
    actor: Actor,
    rows: Sequence[Row],
    progress: Callable[[], None] | None = None,
    organisation_id: int | None = None,
) -> list[Rejected]:
    """Add the chargers of `rows` in the caller's transaction; a row that cannot be added
    is rolled back alone (a savepoint) and reported with its line and reason. Sites the
    rows name that do not exist are made in `organisation_id`."""
    rejected = []
    for line, row in rows:
        cp_id = row.get("charge_point_id", "")
        try:
            new = new_charger_from(row)
            async with session.begin_nested():
                await add_charger(session, actor, new, organisation_id)
        except ChargerError as error:
            rejected.append(Rejected(line, cp_id, str(error)))
        if progress is not None:
            progress()
    return rejected


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        return f"{where}: {first['msg']}".lstrip(": ")
    if isinstance(error, OrgError):
        return error.message
    return str(error)


__all__ = [
    "COLUMNS",
    "ChargerChanges",
    "ChargerError",
    "ChargerView",
    "NewCharger",
    "Place",
    "Rejected",
    "Removal",
    "add_charger",
    "find_charger",
    "import_batch",
    "list_chargers",
    "new_charger_from",
    "read_csv",
    "remove_charger",
    "show_charger",
    "update_charger",
]
