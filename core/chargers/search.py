"""Find chargers near a point: one SQL statement for the page, its connectors and the total.

The database does the work, in one round trip whatever the page size:
- `near`: the sites in the bounding box of the circle (index on latitude, longitude) with
  their great-circle distance, computed in SQL by the same haversine as `haversine_km`
  (SQLite's math functions, or PostgreSQL's), kept if within the radius;
- the total: the Accepted chargers of those sites having a connector that passes the
  filters, counted from two covering indexes (migration 0004) without reading rows;
- the page: the `offset + first` nearest sites with a match bound the page, so only their
  chargers are ordered by (distance, charger id) and cut with LIMIT/OFFSET, then joined to
  their sites and matching connectors. One charger more than asked for tells `has_next`.

Everything is live: no cache, the same transaction sees the total and the page. The cost
is index work proportional to the chargers within the radius (the total must look at each
of them), plus the haversine of the sites in the box; Python only builds the page.
"""

from __future__ import annotations

import base64
import functools
import math
import sqlite3
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    Float,
    Integer,
    Select,
    and_,
    bindparam,
    func,
    literal,
    select,
    true,
)
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Charger, Connector, ConnectorStatus, RegistrationStatus, Site

EARTH_RADIUS_KM = 6371.0088
RAD = math.pi / 180
USABLE_STATUSES = (ConnectorStatus.AVAILABLE.value, ConnectorStatus.PREPARING.value)


@dataclass(frozen=True)
class SearchFilter:
    min_power_kw: float | None = None
    connector_types: tuple[str, ...] = ()
    available_only: bool = False
    public_only: bool = True


@dataclass(frozen=True)
class ConnectorHit:
    id: int
    evse_id: int
    connector_id: int
    connector_type: str
    max_power_w: int
    status: str


@dataclass(frozen=True)
class ChargerHit:
    charger_id: int
    charge_point_id: str
    online: bool
    site_id: int
    site_name: str
    address: str
    city: str
    latitude: float
    longitude: float
    public: bool
    list_price_ore_per_kwh: int | None
    distance_km: float
    connectors: list[ConnectorHit] = field(default_factory=list)


@dataclass(frozen=True)
class Page:
    hits: list[ChargerHit]
    total: int
    offset: int
    has_next: bool


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def encode_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode()


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        kind, _, value = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        offset = int(value)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("invalid cursor") from None
    if kind != "o" or offset < 0:
        raise ValueError("invalid cursor")
    return offset


def usable(connector: ConnectorHit, online: bool) -> bool:
    return online and connector.status in (ConnectorStatus.AVAILABLE, ConnectorStatus.PREPARING)


# ---------------------------------------------------------------------- SQL pieces


def _sqlite_has_math() -> bool:
    """SQLite built without SQLITE_ENABLE_MATH_FUNCTIONS lacks sin() & co."""
    try:
        sqlite3.connect(":memory:").execute("SELECT sin(0), asin(0), sqrt(1), cos(0)")
    except sqlite3.OperationalError:
        return False
    return True


_SQLITE_MATH = _sqlite_has_math()
_MATH_FUNCTIONS = {"sin": math.sin, "cos": math.cos, "asin": math.asin, "sqrt": math.sqrt}


async def _ensure_math(session: AsyncSession) -> None:
    """Give this SQLite connection Python's sin/cos/asin/sqrt if SQLite has none."""
    if _SQLITE_MATH or session.get_bind().dialect.name != "sqlite":
        return
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    if raw.info.get("ladeflyt_math"):
        return

    def register(sync: Connection) -> None:
        dbapi: Any = sync.connection.dbapi_connection
        for name, fn in _MATH_FUNCTIONS.items():
            dbapi.create_function(name, 1, fn, deterministic=True)

    await conn.run_sync(register)
    raw.info["ladeflyt_math"] = True


def _p(name: str) -> BindParameter[float]:
    return bindparam(name, type_=Float)


def _distance_km() -> ColumnElement[float]:
    """`haversine_km(lat, lon, site)` in SQL, operation for operation, from the bound
    parameters p1 (radians(lat)), cos_p1, lon. sqrt(a) stays far below 1 inside a 200 km box,
    so the min(1, ...) clamp is left out."""
    rad, half = literal(RAD, Float), literal(0.5, Float)
    # x / 2 == x * 0.5 exactly in binary floating point; "/ 2" would be NUMERIC in PostgreSQL.
    sin_dp = func.sin((Site.latitude * rad - _p("p1")) * half)
    sin_dl = func.sin(((Site.longitude - _p("lon")) * rad) * half)
    cos_cos = _p("cos_p1") * func.cos(Site.latitude * rad)
    a = (sin_dp * sin_dp).self_group() + cos_cos * (sin_dl * sin_dl).self_group()
    return literal(2 * EARTH_RADIUS_KM, Float) * func.asin(func.sqrt(a))


@dataclass(frozen=True)
class _Shape:
    """What changes the SQL text (everything else is a bound parameter)."""

    public_only: bool
    available_only: bool
    min_power: bool
    types: bool
    dialect: str


@functools.lru_cache(maxsize=64)
def _statement(shape: _Shape) -> Select[Any]:
    box = [
        Site.latitude.between(_p("lat_lo"), _p("lat_hi")),
        Site.longitude.between(_p("lon_lo"), _p("lon_hi")),
    ]
    if shape.public_only:
        box.append(Site.public.is_(True))
    in_box = select(Site.id.label("site_id"), _distance_km().label("d")).where(*box).subquery()
    near = select(in_box).where(in_box.c.d <= _p("radius")).cte("near").prefix_with("MATERIALIZED")

    plug: list[ColumnElement[bool]] = []
    if shape.min_power:
        plug.append(Connector.max_power_w >= bindparam("min_w", type_=Integer))
    if shape.types:
        plug.append(func.lower(Connector.connector_type).in_(bindparam("types", expanding=True)))
    if shape.available_only:
        plug.append(Connector.status.in_(USABLE_STATUSES))
    charger_ok = [Charger.registration_status == RegistrationStatus.ACCEPTED.value]
    if shape.available_only:
        charger_ok.append(Charger.online.is_(True))

    def has_plug() -> ColumnElement[bool]:
        return (
            select(Connector.charger_id).where(Connector.charger_id == Charger.id, *plug).exists()
        )

    def at_site(site_id: ColumnElement[int]) -> list[ColumnElement[bool]]:
        return [Charger.site_id == site_id, *charger_ok, has_plug()]

    def matches(*extra: ColumnElement[bool]) -> Select[Any]:
        return (
            select(Charger.id.label("charger_id"), near.c.d)
            .join_from(near, Charger, Charger.site_id == near.c.site_id)
            .where(*extra, *charger_ok, has_plug())
        )

    # The total walks from the sites of the circle to their chargers. PostgreSQL does that
    # best as one join (a correlated subquery per site costs it ~60 % more); SQLite, not
    # knowing the CTE's size, may turn that join around and scan every charger, so it gets
    # the per-site subquery, which it runs as fast as the join.
    if shape.dialect == "sqlite":
        per_site = select(func.count()).where(*at_site(near.c.site_id)).scalar_subquery()
        total = select(func.coalesce(func.sum(per_site), 0)).select_from(near).scalar_subquery()
    else:
        total = select(func.count()).select_from(matches().subquery()).scalar_subquery()

    # Every site with a match holds at least one matching charger, so the `k` nearest such
    # sites (k = offset + first) bound the page: only the chargers of sites up to the
    # farthest of them (ties included) need ordering. The sites are scanned nearest first
    # and the scan stops after k of them (the LIMIT keeps the ordered subquery from being
    # flattened); were a database to scan in another order, the cut-off would only be
    # larger, never wrong.
    ordered = (
        select(near)
        .order_by(near.c.d)
        .limit(bindparam("all_sites", type_=Integer))
        .subquery("ordered")
    )
    site_has_match = select(Charger.id).where(*at_site(ordered.c.site_id)).exists()
    top_sites = (
        select(ordered.c.d)
        .where(site_has_match)
        .limit(bindparam("k", type_=Integer))
        .subquery("top_sites")
    )
    cutoff = select(func.max(top_sites.c.d)).scalar_subquery()
    page = (
        matches(near.c.d <= cutoff)
        .order_by(near.c.d, Charger.id)
        .limit(bindparam("first", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
        .subquery("page")
    )
    detail = (
        select(
            page.c.d,
            Site.name,
            Site.address,
            Site.city,
            Site.latitude,
            Site.longitude,
            Site.public,
            Site.list_price_ore_per_kwh,
            Charger.id.label("charger_id"),
            Charger.charge_point_id,
            Charger.online,
            Charger.site_id,
            Connector.id.label("connector_pk"),
            Connector.evse_id,
            Connector.connector_id,
            Connector.connector_type,
            Connector.max_power_w,
            Connector.status,
        )
        .join_from(page, Charger, Charger.id == page.c.charger_id)
        .join(Site, Site.id == Charger.site_id)
        .join(Connector, and_(Connector.charger_id == Charger.id, *plug))
        .subquery("detail")
    )
    # One row even when the page is empty, to carry the total.
    one = select(literal(1).label("one")).subquery("one")
    return (
        select(total.label("total"), detail)
        .select_from(one)
        .outerjoin(detail, true())
        .order_by(detail.c.d, detail.c.charger_id, detail.c.evse_id, detail.c.connector_id)
    )


def _parameters(
    dialect: str,
    latitude: float,
    longitude: float,
    radius_km: float,
    search: SearchFilter,
    first: int,
    offset: int,
) -> tuple[_Shape, dict[str, Any]]:
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    coslat = max(math.cos(math.radians(latitude)), 1e-6)
    dlon = min(math.degrees(radius_km / (EARTH_RADIUS_KM * coslat)), 180.0)
    p1 = math.radians(latitude)
    types = sorted({t.lower() for t in search.connector_types})
    shape = _Shape(
        search.public_only,
        search.available_only,
        bool(search.min_power_kw),
        bool(types),
        dialect,
    )
    params: dict[str, Any] = {
        "lat_lo": latitude - dlat,
        "lat_hi": latitude + dlat,
        "lon_lo": longitude - dlon,
        "lon_hi": longitude + dlon,
        "p1": p1,
        "cos_p1": math.cos(p1),
        "lon": float(longitude),
        "radius": float(radius_km),
        "all_sites": 2**31 - 1,
        "k": offset + first,
        "first": first,
        "offset": offset,
    }
    if shape.min_power:
        params["min_w"] = int((search.min_power_kw or 0) * 1000)
    if types:
        params["types"] = types
    return shape, params


# ---------------------------------------------------------------------- the search


async def chargers_near(
    session: AsyncSession,
    latitude: float,
    longitude: float,
    radius_km: float,
    search: SearchFilter,
    *,
    first: int = 20,
    offset: int = 0,
) -> Page:
    """Chargers within `radius_km`, nearest first (ties by charger id), with the
    connectors that pass the filter; `total` counts every match, not just this page."""
    await _ensure_math(session)
    dialect = session.get_bind().dialect.name
    shape, params = _parameters(dialect, latitude, longitude, radius_km, search, first + 1, offset)
    rows = (await session.execute(_statement(shape), params)).all()
    total = int(rows[0].total) if rows else 0
    hits: list[ChargerHit] = []
    for row in rows:
        if row.charger_id is None:  # the outer join's empty side: no page
            continue
        if not hits or hits[-1].charger_id != row.charger_id:
            hits.append(
                ChargerHit(
                    row.charger_id,
                    row.charge_point_id,
                    row.online,
                    row.site_id,
                    row.name,
                    row.address,
                    row.city,
                    row.latitude,
                    row.longitude,
                    row.public,
                    row.list_price_ore_per_kwh,
                    row.d,
                )
            )
        hits[-1].connectors.append(
            ConnectorHit(
                row.connector_pk,
                row.evse_id,
                row.connector_id,
                row.connector_type,
                row.max_power_w,
                row.status,
            )
        )
    # One charger more than asked for tells whether there is a next page.
    has_next = len(hits) > first
    hits = hits[:first]
    return Page(hits, total, offset, has_next)


async def charger_by_code_or_id(
    session: AsyncSession, *, charger_id: int | None = None, code: str | None = None
) -> ChargerHit | None:
    """One charger with its site and connectors, in the same shape as a search hit."""
    query = (
        select(Charger, Site)
        .join(Site, Site.id == Charger.site_id)
        .where(Charger.registration_status == RegistrationStatus.ACCEPTED.value)
    )
    if charger_id is not None:
        query = query.where(Charger.id == charger_id)
    elif code is not None:
        query = query.where(Charger.charge_point_id == code.strip())
    else:
        return None
    row = (await session.execute(query)).first()
    if row is None:
        return None
    charger, site = row
    connectors = (
        await session.execute(
            select(Connector)
            .where(Connector.charger_id == charger.id)
            .order_by(Connector.evse_id, Connector.connector_id)
        )
    ).scalars()
    return ChargerHit(
        charger.id,
        charger.charge_point_id,
        charger.online,
        site.id,
        site.name,
        site.address,
        site.city,
        site.latitude or 0.0,
        site.longitude or 0.0,
        site.public,
        site.list_price_ore_per_kwh,
        0.0,
        [
            ConnectorHit(c.id, c.evse_id, c.connector_id, c.connector_type, c.max_power_w, c.status)
            for c in connectors
        ],
    )
