"""Candidate chargers along a route, from the database, placed on the route.

One query: a bounding box per ~25 km chunk of the route (widened by the corridor) against
the (latitude, longitude) index of sites, OR-ed together, joined to chargers and their
connectors and filtered in SQL (public sites, Accepted chargers that are not out of
order, connectors of the wanted power that are not Faulted/Unavailable). In Python each
charger keeps its best plug for this car (chargers with none the car can take are kept
apart, to explain a gap) and is projected onto its nearest route segment (a grid of
segments keeps that linear): its distance along the route and its detour.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Charger, Connector, ConnectorStatus, RegistrationStatus, Site
from core.routeplan.model import Route, canonical_connector, is_dc
from core.routeplan.planner import Availability

KM_PER_DEG = 111.195  # along a meridian
OUT_OF_ORDER = (ConnectorStatus.FAULTED.value, ConnectorStatus.UNAVAILABLE.value)
FREE = frozenset({ConnectorStatus.AVAILABLE.value, ConnectorStatus.PREPARING.value})
BUSY = frozenset(
    {
        ConnectorStatus.CHARGING.value,
        ConnectorStatus.OCCUPIED.value,
        ConnectorStatus.SUSPENDED_EV.value,
        ConnectorStatus.SUSPENDED_EVSE.value,
        ConnectorStatus.FINISHING.value,
        ConnectorStatus.RESERVED.value,
    }
)


@dataclass(frozen=True)
class CorridorQuery:
    corridor_km: float  # how far from the route a charger may be (straight line)
    connector_types: frozenset[str]  # the car's, canonical names
    min_power_kw: float
    max_ac_kw: float  # the car's limits, to pick each charger's best connector
    max_dc_kw: float
    detour_factor: float = 1.3  # road km per straight-line km between route and charger
    chunk_km: float = 25.0


@dataclass(frozen=True)
class CandidateCharger:
    charger_id: int
    charge_point_id: str
    site_id: int
    site_name: str
    address: str
    city: str
    latitude: float
    longitude: float
    connector_type: str  # canonical name of its best connector for this car
    power_kw: float
    dc: bool
    availability: Availability
    list_price_ore_per_kwh: int | None
    position_km: float  # road km from the origin to its projection
    detour_km: float  # road km each way
    offset_km: float  # straight-line km from the route


@dataclass(frozen=True)
class CorridorChargers:
    usable: list[CandidateCharger]  # with a plug this car takes, in route order
    # Chargers whose only plugs (of the power asked for) the car cannot take: they explain
    # a gap ("connector mismatch"), they are never planned with.
    other_plugs: list[CandidateCharger]


@dataclass
class _Row:
    site: tuple[int, str, str, str, float, float, int | None]
    charger_id: int
    charge_point_id: str
    online: bool
    charger_max_w: int | None
    plugs: list[tuple[str, int, str]] = field(default_factory=list)  # type, W, status


def route_boxes(route: Route, corridor_km: float, chunk_km: float) -> list[tuple[float, ...]]:
    """(lat_min, lat_max, lon_min, lon_max) per chunk of the route, widened by the corridor."""
    boxes: list[tuple[float, ...]] = []
    start = 0
    points, cum = route.points, route.cumulative_km
    for i in range(1, len(points)):
        if cum[i] - cum[start] >= chunk_km or i == len(points) - 1:
            chunk = points[start : i + 1]
            lats, lons = [p[0] for p in chunk], [p[1] for p in chunk]
            dlat = corridor_km / KM_PER_DEG
            coslat = max(math.cos(math.radians(max(abs(x) for x in lats) + dlat)), 0.01)
            dlon = min(corridor_km / (KM_PER_DEG * coslat), 180.0)
            boxes.append(
                (
                    max(min(lats) - dlat, -90.0),
                    min(max(lats) + dlat, 90.0),
                    min(lons) - dlon,
                    max(lons) + dlon,
                )
            )
            start = i
    return boxes


class RouteProjector:
    """Nearest route segment of a point, via a grid of cells each listing nearby segments."""

    def __init__(self, route: Route, corridor_km: float) -> None:
        self.corridor_km = corridor_km
        lats = [p[0] for p in route.points]
        cos_min = max(math.cos(math.radians(max(abs(x) for x in lats) + 1.0)), 0.01)
        # Cells twice the corridor wide: each segment lands in few cells, each cell
        # lists few segments.
        cell_km = max(2 * corridor_km, 4.0)
        self.cell_lat = cell_km / KM_PER_DEG
        self.cell_lon = cell_km / (KM_PER_DEG * cos_min)
        pad_lat, pad_lon = corridor_km / KM_PER_DEG, corridor_km / (KM_PER_DEG * cos_min)
        cum = route.cumulative_km
        # Per segment, in a local plane at its start: start, x scale, vector, 1/|v|², km.
        self.segments: list[tuple[float, float, float, float, float, float, float, float]] = []
        self.cells: dict[tuple[int, int], list[int]] = {}
        for s, ((alat, alon), (blat, blon)) in enumerate(itertools.pairwise(route.points)):
            kx = KM_PER_DEG * math.cos(math.radians((alat + blat) / 2))
            bx, by = (blon - alon) * kx, (blat - alat) * KM_PER_DEG
            length2 = bx * bx + by * by
            inv = 1.0 / length2 if length2 > 0 else 0.0
            self.segments.append((alat, alon, kx, bx, by, inv, cum[s], cum[s + 1] - cum[s]))
            i0 = math.floor((min(alat, blat) - pad_lat) / self.cell_lat)
            i1 = math.floor((max(alat, blat) + pad_lat) / self.cell_lat)
            j0 = math.floor((min(alon, blon) - pad_lon) / self.cell_lon)
            j1 = math.floor((max(alon, blon) + pad_lon) / self.cell_lon)
            for key in itertools.product(range(i0, i1 + 1), range(j0, j1 + 1)):
                self.cells.setdefault(key, []).append(s)

    def project(self, lat: float, lon: float) -> tuple[float, float] | None:
        """(geometric km along the route, km off it) if within the corridor."""
        key = (math.floor(lat / self.cell_lat), math.floor(lon / self.cell_lon))
        best_off, best_along = self.corridor_km, -1.0
        segments = self.segments
        for s in self.cells.get(key, ()):
            alat, alon, kx, bx, by, inv, start_km, seg_km = segments[s]
            px, py = (lon - alon) * kx, (lat - alat) * KM_PER_DEG
            t = (px * bx + py * by) * inv
            t = 0.0 if t < 0.0 else 1.0 if t > 1.0 else t
            off = math.hypot(px - t * bx, py - t * by)
            if off < best_off or (off == best_off and best_along < 0):
                best_off, best_along = off, start_km + t * seg_km
        return None if best_along < 0 else (best_along, best_off)


def _availability(online: bool, statuses: Sequence[str]) -> Availability:
    if not online:
        return Availability.UNKNOWN
    if any(s in FREE for s in statuses):
        return Availability.AVAILABLE
    if any(s in BUSY for s in statuses):
        return Availability.OCCUPIED
    return Availability.UNKNOWN


def _best(
    row: _Row, q: CorridorQuery, plugs: list[tuple[str, int, str]]
) -> tuple[str, float, bool] | None:
    """(type, kW, dc) of the plug that would charge this car fastest, if any."""
    best: tuple[float, float, str, bool] | None = None
    cap_w = row.charger_max_w
    for ctype, watts, _ in plugs:
        kw = min(watts, cap_w if cap_w else watts) / 1000.0
        dc = is_dc(ctype)
        useful = min(kw, q.max_dc_kw if dc else q.max_ac_kw)
        if best is None or (useful, kw) > best[:2]:
            best = (useful, kw, canonical_connector(ctype), dc)
    return None if best is None else (best[2], best[1], best[3])


async def load_candidates(
    session: AsyncSession, route: Route, q: CorridorQuery
) -> CorridorChargers:
    """Chargers within the corridor: those this car can use, and those it cannot plug into."""
    boxes = route_boxes(route, q.corridor_km, q.chunk_km)
    min_w = round(q.min_power_kw * 1000)
    stmt = (
        select(
            Site.id,
            Site.name,
            Site.address,
            Site.city,
            Site.latitude,
            Site.longitude,
            Site.list_price_ore_per_kwh,
            Charger.id,
            Charger.charge_point_id,
            Charger.online,
            Charger.max_power_w,
            Connector.connector_type,
            Connector.max_power_w,
            Connector.status,
        )
        .join(Charger, Charger.site_id == Site.id)
        .join(Connector, Connector.charger_id == Charger.id)
        .where(
            or_(
                *(
                    and_(Site.latitude.between(b[0], b[1]), Site.longitude.between(b[2], b[3]))
                    for b in boxes
                )
            ),
            Site.public.is_(True),
            Charger.registration_status == RegistrationStatus.ACCEPTED.value,
            Charger.status.not_in(OUT_OF_ORDER),
            # A charger's own limit caps its connectors: most chargers in a town are
            # slow AC ones, and this test skips their connectors altogether.
            or_(Charger.max_power_w.is_(None), Charger.max_power_w >= min_w),
            Connector.status.not_in(OUT_OF_ORDER),
            Connector.max_power_w >= min_w,
        )
    )
    rows: dict[int, _Row] = {}
    for r in await session.execute(stmt):
        (
            site_id,
            name,
            address,
            city,
            lat,
            lon,
            price,
            charger_id,
            code,
            online,
            cap_w,
            plug_type,
            plug_w,
            plug_status,
        ) = r
        row = rows.get(charger_id)
        if row is None:
            if lat is None or lon is None:
                continue  # BETWEEN already excludes these; keeps mypy honest
            site = (site_id, name, address, city, lat, lon, price)
            row = rows[charger_id] = _Row(site, charger_id, code, online, cap_w)
        row.plugs.append((plug_type, plug_w, plug_status))
    projector = RouteProjector(route, q.corridor_km)
    placed_sites: dict[int, tuple[float, float] | None] = {}
    usable: list[CandidateCharger] = []
    other: list[CandidateCharger] = []
    for row in rows.values():
        site_id, name, address, city, lat, lon, price = row.site
        if site_id not in placed_sites:
            placed_sites[site_id] = projector.project(lat, lon)
        placed = placed_sites[site_id]
        if placed is None:
            continue
        fits = [p for p in row.plugs if canonical_connector(p[0]) in q.connector_types]
        best = _best(row, q, fits or row.plugs)
        if best is None:
            continue
        along, off = placed
        ctype, kw, dc = best
        statuses = [s for t, _, s in row.plugs if canonical_connector(t) == ctype]
        (usable if fits else other).append(
            CandidateCharger(
                charger_id=row.charger_id,
                charge_point_id=row.charge_point_id,
                site_id=site_id,
                site_name=name,
                address=address,
                city=city,
                latitude=lat,
                longitude=lon,
                connector_type=ctype,
                power_kw=kw,
                dc=dc,
                availability=_availability(row.online, statuses),
                list_price_ore_per_kwh=price,
                position_km=along * route.road_factor,
                detour_km=off * q.detour_factor,
                offset_km=off,
            )
        )
    usable.sort(key=lambda c: (c.position_km, c.charger_id))
    other.sort(key=lambda c: (c.position_km, c.charger_id))
    return CorridorChargers(usable, other)
