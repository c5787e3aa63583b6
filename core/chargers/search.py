"""Find chargers near a point: a bounding box on the site index, then exact distances.

One query returns every connector of every charger in the box (sites are indexed on
(latitude, longitude)); distances, filters, sorting and paging happen in memory on that
set, so a page costs one round trip whatever its size.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Charger, Connector, ConnectorStatus, RegistrationStatus, Site

EARTH_RADIUS_KM = 6371.0088


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
    dlat = math.degrees(radius_km / EARTH_RADIUS_KM)
    coslat = max(math.cos(math.radians(latitude)), 1e-6)
    dlon = min(math.degrees(radius_km / (EARTH_RADIUS_KM * coslat)), 180.0)
    query = (
        select(
            Site.id,
            Site.name,
            Site.address,
            Site.city,
            Site.latitude,
            Site.longitude,
            Site.public,
            Site.list_price_ore_per_kwh,
            Charger.id,
            Charger.charge_point_id,
            Charger.online,
            Connector.id,
            Connector.evse_id,
            Connector.connector_id,
            Connector.connector_type,
            Connector.max_power_w,
            Connector.status,
        )
        .join(Charger, Charger.site_id == Site.id)
        .join(Connector, Connector.charger_id == Charger.id)
        .where(
            Site.latitude.between(latitude - dlat, latitude + dlat),
            Site.longitude.between(longitude - dlon, longitude + dlon),
            Charger.registration_status == RegistrationStatus.ACCEPTED.value,
        )
    )
    if search.public_only:
        query = query.where(Site.public.is_(True))
    min_w = int(search.min_power_kw * 1000) if search.min_power_kw else 0
    types = {t.lower() for t in search.connector_types}
    chargers: dict[int, ChargerHit] = {}
    distances: dict[int, float] = {}
    for row in await session.execute(query):
        (
            site_id,
            name,
            address,
            city,
            lat,
            lon,
            public,
            price,
            charger_id,
            cp_id,
            online,
            conn_id,
            evse_id,
            connector_no,
            ctype,
            max_w,
            status,
        ) = row
        hit = chargers.get(charger_id)
        if hit is None:
            if lat is None or lon is None:
                continue  # the BETWEEN filter already excludes these; keeps mypy honest
            distance = distances.get(site_id)
            if distance is None:
                distance = distances[site_id] = haversine_km(latitude, longitude, lat, lon)
            if distance > radius_km:
                continue
            hit = chargers[charger_id] = ChargerHit(
                charger_id,
                cp_id,
                online,
                site_id,
                name,
                address,
                city,
                lat,
                lon,
                public,
                price,
                distance,
            )
        connector = ConnectorHit(conn_id, evse_id, connector_no, ctype, max_w, status)
        if max_w < min_w or (types and ctype.lower() not in types):
            continue
        if search.available_only and not usable(connector, online):
            continue
        hit.connectors.append(connector)
    matches = sorted(
        (h for h in chargers.values() if h.connectors),
        key=lambda h: (h.distance_km, h.charger_id),
    )
    for hit in matches:
        hit.connectors.sort(key=lambda c: (c.evse_id, c.connector_id))
    page = matches[offset : offset + first]
    return Page(page, len(matches), offset, offset + first < len(matches))


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
