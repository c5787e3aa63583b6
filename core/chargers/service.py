"""Chargers: registration, boot, connector status, and what they report about themselves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Boolean,
    Table,
    bindparam,
    case,
    func,
    insert,
    literal,
    literal_column,
    null,
    select,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from core.bus import Event
from core.db import UTCDateTime
from core.models import (
    Charger,
    ChargerEvent,
    ChargerStatusChange,
    ChargerVariable,
    Connector,
    RegistrationStatus,
    Site,
)
from core.security import MIN_PASSWORD_BYTES, hash_password
from core.timeutil import utcnow
from core.uow import RowKind, UnitOfWork


class ChargerError(Exception):
    """An operator request that cannot be done (unknown site, duplicate id...)."""


@dataclass(frozen=True)
class ChargerIdentity:
    """What the gateway keeps in memory for a connected charger."""

    id: int
    charge_point_id: str
    password_hash: str | None
    registration_status: str
    password_check: str | None = None


@dataclass(frozen=True)
class BootInfo:
    vendor: str
    model: str
    serial_number: str | None = None
    firmware_version: str | None = None
    iccid: str | None = None
    imsi: str | None = None
    meter_type: str | None = None
    meter_serial_number: str | None = None
    reason: str | None = None


def code_key(code: str) -> str:
    """Normalise a printed charger code: 'klokk ac o1' and 'KLOKK-AC-01' are the same."""
    return "".join(ch for ch in code.upper() if ch.isalnum()).replace("O", "0").replace("I", "1")


def charger_topic(charge_point_id: str) -> str:
    return f"charger:{charge_point_id}"


async def get_identity(session: AsyncSession, charge_point_id: str) -> ChargerIdentity | None:
    row = (
        await session.execute(
            select(
                Charger.id,
                Charger.charge_point_id,
                Charger.password_hash,
                Charger.registration_status,
                Charger.password_check,
            ).where(Charger.charge_point_id == charge_point_id)
        )
    ).first()
    return ChargerIdentity(*row) if row else None


async def get_identities(
    session: AsyncSession, charge_point_ids: list[str]
) -> dict[str, ChargerIdentity]:
    """Many chargers' identities in one statement (a reconnect storm's handshakes)."""
    found: dict[str, ChargerIdentity] = {}
    for start in range(0, len(charge_point_ids), 1000):
        rows = await session.execute(
            select(
                Charger.id,
                Charger.charge_point_id,
                Charger.password_hash,
                Charger.registration_status,
                Charger.password_check,
            ).where(Charger.charge_point_id.in_(charge_point_ids[start : start + 1000]))
        )
        for row in rows:
            found[row.charge_point_id] = ChargerIdentity(*row)
    return found


async def register_unknown(session: AsyncSession, charge_point_id: str) -> ChargerIdentity:
    """A charger we have never seen, accepted as Pending until an operator approves it."""
    charger = Charger(
        charge_point_id=charge_point_id,
        registration_status=RegistrationStatus.PENDING.value,
        code_key=code_key(charge_point_id),
    )
    session.add(charger)
    await session.flush()
    return ChargerIdentity(charger.id, charge_point_id, None, charger.registration_status)


async def add_charger(
    session: AsyncSession,
    charge_point_id: str,
    *,
    site_name: str | None = None,
    password: str | None = None,
    connectors: int = 1,
    max_power_w: int = 22_000,
    connector_type: str = "Type2",
    public_code: str | None = None,
) -> Charger:
    if not 1 <= len(charge_point_id) <= 48 or "/" in charge_point_id:
        raise ChargerError("a charge point id is 1-48 characters without '/'")
    if not 1 <= connectors <= 32:
        raise ChargerError("a charger has 1-32 connectors")
    if password is not None and len(password.encode()) < MIN_PASSWORD_BYTES:
        raise ChargerError(f"a charger password needs at least {MIN_PASSWORD_BYTES} bytes")
    existing = (
        await session.execute(
            select(Charger.removed_at).where(Charger.charge_point_id == charge_point_id)
        )
    ).first()
    if existing is not None and existing.removed_at is not None:
        raise ChargerError(
            f"charger {charge_point_id} was removed on {existing.removed_at:%Y-%m-%d}; "
            "its sessions keep the id: give the new charger another one"
        )
    if existing is not None:
        raise ChargerError(f"charger {charge_point_id} exists already")
    if public_code is not None:
        taken = (
            await session.execute(select(Charger.id).where(Charger.public_code == public_code))
        ).first()
        if taken:
            raise ChargerError(f"public code {public_code} is taken")
    site_id = None
    if site_name:
        site = (
            await session.execute(select(Site).where(Site.name == site_name))
        ).scalar_one_or_none()
        if site is None:
            site = Site(name=site_name)
            session.add(site)
            await session.flush()
        site_id = site.id
    charger = Charger(
        charge_point_id=charge_point_id,
        public_code=public_code or charge_point_id,
        code_key=code_key(public_code or charge_point_id),
        site_id=site_id,
        password_hash=hash_password(password) if password else None,
        max_power_w=max_power_w,
        registration_status=RegistrationStatus.ACCEPTED.value,
    )
    session.add(charger)
    await session.flush()
    # Each plug is its own EVSE with connector 1: OCPP 1.6 connector n == 2.x EVSE n.
    for n in range(1, connectors + 1):
        session.add(
            Connector(
                charger_id=charger.id,
                evse_id=n,
                connector_id=1,
                connector_type=connector_type,
                max_power_w=max_power_w,
            )
        )
    await session.flush()
    return charger


async def record_boot(uow: UnitOfWork, charger_id: int, info: BootInfo, at: datetime) -> str:
    """Store what the charger says about itself; return its registration status."""
    charger = await uow.session.get_one(Charger, charger_id)
    charger.vendor = info.vendor[:50]
    charger.model = info.model[:50]
    for attr in (
        "serial_number",
        "firmware_version",
        "iccid",
        "imsi",
        "meter_type",
        "meter_serial_number",
    ):
        value = getattr(info, attr)
        if value is not None:
            setattr(charger, attr, value[:50])
    charger.last_boot_at = at
    charger.last_seen_at = at
    charger.online = True
    uow.session.add(
        ChargerEvent(
            charger_id=charger_id,
            kind="BootNotification",
            occurred_at=at,
            summary=info.reason or "",
            payload={"vendor": info.vendor, "model": info.model},
        )
    )
    uow.publish(
        Event(
            charger_topic(charger.charge_point_id),
            "boot",
            {"registration_status": charger.registration_status},
        )
    )
    return charger.registration_status


_CHANGE_COLUMNS = ("charger_id", "kind", "evse_id", "connector_id", "status", "error_code", "at")


def _record_connection_change(online: Any, at: Any, *where: Any) -> Any:
    """INSERT ... SELECT: an Online/Offline row for each charger matching `where` whose last
    recorded connection is another (or none). Set-based: one statement for many chargers,
    or executed for many rows at once (each run sees the rows the runs before it wrote)."""
    c = ChargerStatusChange
    last = (
        select(c.status)
        .where(c.charger_id == Charger.id, c.kind == "connection")
        .order_by(c.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    status = case((online, literal_column("'Online'")), else_=literal_column("'Offline'"))
    # The table, not the entity: executed with many rows, an ORM insert would be a bulk
    # insert of those rows instead.
    table: Table = c.__table__  # type: ignore[assignment]
    return insert(table).from_select(
        _CHANGE_COLUMNS,
        select(
            Charger.id,
            literal_column("'connection'"),
            literal_column("0"),
            literal_column("0"),
            status,
            null(),
            at,
        ).where(func.coalesce(last, literal_column("''")) != status, *where),
    )


# A batch of connects and disconnects (executemany with the rows' b_id, b_online, b_at).
_RECORD_CONNECTIONS = _record_connection_change(
    bindparam("b_online", type_=Boolean),
    bindparam("b_at", type_=UTCDateTime),
    Charger.id == bindparam("b_id"),
)


async def set_connection(
    uow: UnitOfWork, charger_id: int, online: bool, at: datetime, ocpp_version: str | None = None
) -> None:
    await uow.session.execute(
        _RECORD_CONNECTIONS, {"b_id": charger_id, "b_online": online, "b_at": at}
    )
    values: dict[str, Any] = {"online": online, "last_seen_at": at}
    if online:
        values["connected_at"] = at
    if ocpp_version:
        values["ocpp_version"] = ocpp_version
    await uow.session.execute(update(Charger).where(Charger.id == charger_id).values(**values))
    cp_id = (
        await uow.session.execute(select(Charger.charge_point_id).where(Charger.id == charger_id))
    ).scalar_one()
    uow.publish(Event(charger_topic(cp_id), "online" if online else "offline", {"online": online}))


_CHARGERS: Table = Charger.__table__  # type: ignore[assignment]


class _Seen(RowKind):
    """Heartbeats: the charger is there (one executemany UPDATE per batch)."""

    order = 40
    name = "charger_seen"
    statement = (
        update(_CHARGERS)
        .where(_CHARGERS.c.id == bindparam("b_id"))
        .values(last_seen_at=bindparam("b_at"), online=True)
    )

    async def write(self, session: AsyncSession, rows: list[Any]) -> None:
        await session.execute(self.statement, rows)


class _Connected(RowKind):
    """Connects and disconnects, without an ORM object per handshake."""

    order = 41
    name = "charger_connection"
    _c = _CHARGERS.c
    statement = (
        update(_CHARGERS)
        .where(_c.id == bindparam("b_id"))
        .values(
            online=bindparam("b_online"),
            last_seen_at=bindparam("b_at"),
            connected_at=func.coalesce(
                bindparam("b_connected_at", type_=_c.connected_at.type), _c.connected_at
            ),
            ocpp_version=func.coalesce(
                bindparam("b_version", type_=_c.ocpp_version.type), _c.ocpp_version
            ),
        )
    )

    async def write(self, session: AsyncSession, rows: list[Any]) -> None:
        await session.execute(
            _RECORD_CONNECTIONS,
            [{"b_id": r["b_id"], "b_online": r["b_online"], "b_at": r["b_at"]} for r in rows],
        )
        await session.execute(self.statement, rows)


class _Booted(RowKind):
    """BootNotifications: what the charger says about itself (record_boot, as rows)."""

    order = 42
    name = "charger_boot"
    _c = _CHARGERS.c
    _kept = ("serial_number", "firmware_version", "iccid", "imsi", "meter_type")
    statement = (
        update(_CHARGERS)
        .where(_c.id == bindparam("b_id"))
        .values(
            vendor=bindparam("b_vendor"),
            model=bindparam("b_model"),
            last_boot_at=bindparam("b_at"),
            last_seen_at=bindparam("b_at"),
            online=True,
            **{
                name: func.coalesce(
                    bindparam(f"b_{name}", type_=_CHARGERS.c[name].type), _CHARGERS.c[name]
                )
                for name in (*_kept, "meter_serial_number")
            },
        )
    )

    async def write(self, session: AsyncSession, rows: list[Any]) -> None:
        await session.execute(self.statement, rows)


class _Events(RowKind):
    """ChargerEvents, one multi-row INSERT per batch."""

    order = 43
    name = "charger_events"

    async def write(self, session: AsyncSession, rows: list[Any]) -> None:
        await session.execute(insert(ChargerEvent), rows)


class _PasswordChecked(RowKind):
    """A password verified the slow way: remember its check (only for the same hash)."""

    order = 44
    name = "charger_password_check"
    statement = (
        update(_CHARGERS)
        .where(
            _CHARGERS.c.id == bindparam("b_id"),
            _CHARGERS.c.password_hash == bindparam("b_hash"),
        )
        .values(password_check=bindparam("b_check"))
    )

    async def write(self, session: AsyncSession, rows: list[Any]) -> None:
        await session.execute(self.statement, rows)


PASSWORD_CHECKED = _PasswordChecked()
SEEN = _Seen()
CONNECTED = _Connected()
BOOTED = _Booted()
EVENTS = _Events()
_LIMITS = {"iccid": 20, "imsi": 20}


def boot_rows(
    identity: ChargerIdentity, info: BootInfo, at: datetime
) -> tuple[list[tuple[RowKind, Any]], list[Event]]:
    """record_boot as rows: the charger's details, its boot event, and the live event.
    The registration status is the one read at the handshake, moments ago."""
    row: dict[str, Any] = {
        "b_id": identity.id,
        "b_vendor": info.vendor[:50],
        "b_model": info.model[:50],
        "b_at": at,
    }
    for name in (*_Booted._kept, "meter_serial_number"):
        value = getattr(info, name)
        row[f"b_{name}"] = value[: _LIMITS.get(name, 50)] if value is not None else None
    event = {
        "charger_id": identity.id,
        "kind": "BootNotification",
        "occurred_at": at,
        "received_at": at,
        "summary": info.reason or "",
        "payload": {"vendor": info.vendor, "model": info.model},
    }
    live = Event(
        charger_topic(identity.charge_point_id),
        "boot",
        {"registration_status": identity.registration_status},
    )
    return [(BOOTED, row), (EVENTS, event)], [live]


def seen_row(charger_id: int, at: datetime) -> tuple[RowKind, dict[str, Any]]:
    return (SEEN, {"b_id": charger_id, "b_at": at})


def connection_rows(
    charger_id: int,
    charge_point_id: str,
    online: bool,
    at: datetime,
    ocpp_version: str | None = None,
) -> tuple[list[tuple[RowKind, Any]], list[Event]]:
    """The rows and the event of a charger connecting or going away (set_connection)."""
    row = {
        "b_id": charger_id,
        "b_online": online,
        "b_at": at,
        "b_connected_at": at if online else None,
        "b_version": ocpp_version,
    }
    event = Event(
        charger_topic(charge_point_id), "online" if online else "offline", {"online": online}
    )
    return [(CONNECTED, row)], [event]


async def touch(uow: UnitOfWork, charger_id: int, at: datetime) -> None:
    await uow.session.execute(
        update(Charger).where(Charger.id == charger_id).values(last_seen_at=at, online=True)
    )


async def mark_all_offline(session: AsyncSession, at: datetime | None = None) -> int:
    """At start-up no charger is connected to this process yet."""
    # Offline for every charger left online (one statement).
    await session.execute(
        _record_connection_change(
            literal(False), literal(at or utcnow(), UTCDateTime), Charger.online.is_(True)
        )
    )
    result = await session.execute(
        update(Charger).where(Charger.online.is_(True)).values(online=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def set_connector_status(
    uow: UnitOfWork,
    charger_id: int,
    charge_point_id: str,
    *,
    evse_id: int,
    connector_id: int,
    status: str,
    error_code: str | None,
    info: str | None,
    vendor_error_code: str | None,
    at: datetime,
) -> None:
    """Apply a status report; an older report than the one stored changes nothing."""
    session = uow.session
    if evse_id == 0:
        charger = await session.get_one(Charger, charger_id)
        changed = (charger.status, charger.error_code) != (status, error_code)
        charger.status = status
        charger.error_code = error_code
    else:
        connector = (
            await session.execute(
                select(Connector).where(
                    Connector.charger_id == charger_id,
                    Connector.evse_id == evse_id,
                    Connector.connector_id == connector_id,
                )
            )
        ).scalar_one_or_none()
        if connector is None:
            # A connector the operator did not register: the charger knows best.
            connector = Connector(charger_id=charger_id, evse_id=evse_id, connector_id=connector_id)
            session.add(connector)
        elif connector.status_at is not None and connector.status_at > at:
            return
        changed = (connector.status, connector.error_code) != (status, error_code)
        connector.status = status
        connector.error_code = error_code
        connector.status_info = info[:50] if info else None
        connector.vendor_error_code = vendor_error_code[:50] if vendor_error_code else None
        connector.status_at = at
    if changed:
        session.add(
            ChargerStatusChange(
                charger_id=charger_id,
                kind="status",
                evse_id=evse_id,
                connector_id=connector_id,
                status=status,
                error_code=error_code,
                at=at,
            )
        )
    uow.publish(
        Event(
            charger_topic(charge_point_id),
            "connector_status",
            {
                "evse_id": evse_id,
                "connector_id": connector_id,
                "status": status,
                "error_code": error_code,
            },
        )
    )


async def record_event(
    uow: UnitOfWork,
    charger_id: int,
    kind: str,
    *,
    occurred_at: datetime | None,
    summary: str = "",
    payload: dict[str, Any] | None = None,
) -> None:
    uow.session.add(
        ChargerEvent(
            charger_id=charger_id,
            kind=kind,
            occurred_at=occurred_at,
            received_at=utcnow(),
            summary=summary[:500],
            payload=payload or {},
        )
    )
    if kind == "FirmwareStatusNotification":
        await uow.session.execute(
            update(Charger).where(Charger.id == charger_id).values(firmware_status=summary[:40])
        )
    elif kind == "DiagnosticsStatusNotification":
        await uow.session.execute(
            update(Charger).where(Charger.id == charger_id).values(diagnostics_status=summary[:40])
        )


@dataclass(frozen=True)
class VariableReport:
    component: str
    variable: str
    value: str | None
    attribute_type: str = "Actual"
    component_instance: str = ""
    variable_instance: str = ""
    evse_id: int = 0
    connector_id: int = 0
    readonly: bool = False


async def upsert_variables(uow: UnitOfWork, charger_id: int, reports: list[VariableReport]) -> None:
    """Store reported configuration; the last report of a variable wins."""
    session = uow.session
    existing = {
        (
            v.component,
            v.component_instance,
            v.evse_id,
            v.connector_id,
            v.variable,
            v.variable_instance,
            v.attribute_type,
        ): v
        for v in (
            await session.execute(
                select(ChargerVariable).where(ChargerVariable.charger_id == charger_id)
            )
        ).scalars()
    }
    now = utcnow()
    for r in reports:
        key = (
            r.component,
            r.component_instance,
            r.evse_id,
            r.connector_id,
            r.variable,
            r.variable_instance,
            r.attribute_type,
        )
        row = existing.get(key)
        if row is None:
            row = ChargerVariable(
                charger_id=charger_id,
                component=r.component,
                component_instance=r.component_instance,
                evse_id=r.evse_id,
                connector_id=r.connector_id,
                variable=r.variable,
                variable_instance=r.variable_instance,
                attribute_type=r.attribute_type,
            )
            session.add(row)
            existing[key] = row
        row.value = r.value[:2500] if r.value is not None else None
        row.readonly = r.readonly
        row.updated_at = now


# --------------------------------------------------------------------------- queries


async def list_chargers(session: AsyncSession, *, limit: int = 500) -> list[Charger]:
    return list(
        (
            await session.execute(
                select(Charger)
                .options(selectinload(Charger.connectors), selectinload(Charger.site))
                .order_by(Charger.charge_point_id)
                .limit(limit)
            )
        ).scalars()
    )


async def get_charger(session: AsyncSession, charge_point_id: str) -> Charger | None:
    return (
        await session.execute(
            select(Charger)
            .options(selectinload(Charger.connectors), selectinload(Charger.site))
            .where(Charger.charge_point_id == charge_point_id)
        )
    ).scalar_one_or_none()


async def find_by_code(session: AsyncSession, typed: str) -> Charger | None:
    """A charger by the code printed on it, as a person typed it (case, spaces, O/0...)."""
    key = code_key(typed)
    if not key:
        return None
    return (
        await session.execute(
            select(Charger)
            .options(selectinload(Charger.connectors))
            .where(Charger.code_key == key)
            .limit(1)
        )
    ).scalar_one_or_none()
