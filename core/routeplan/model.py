"""The physics of a trip: vehicle, charging curve, energy use and the route's geometry.

Everything here is pure and deterministic. SoC is a percentage of the *usable* battery;
energy is kWh, power kW, time hours, distance km. A route is a polyline of (lat, lon)
points; its "road km" are the geometric km times a road factor (1.0 for a map
provider's polyline that follows the roads, > 1 for a great-circle stand-in).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from core.chargers.search import EARTH_RADIUS_KM, haversine_km

LatLon = tuple[float, float]
DENSE_PER_PCT = 20  # charge-time table knots per SoC point

# ---------------------------------------------------------------------- connectors

# Canonical names (as `core.users.account.CONNECTOR_TYPES`) by lower-cased spelling,
# including OCPP 2.x connector enums (cCCS2, sType2, cG105 = CHAdeMO, ...).
_CONNECTOR_ALIASES: dict[str, str] = {
    "type2": "Type2",
    "ctype2": "Type2",
    "stype2": "Type2",
    "mennekes": "Type2",
    "type1": "Type1",
    "ctype1": "Type1",
    "j1772": "Type1",
    "ccs2": "CCS2",
    "cccs2": "CCS2",
    "ccs": "CCS2",
    "ccs1": "CCS1",
    "cccs1": "CCS1",
    "chademo": "CHAdeMO",
    "cg105": "CHAdeMO",
    "schuko": "Schuko",
    "sf": "Schuko",
}
DC_CONNECTORS = frozenset({"CCS2", "CCS1", "CHAdeMO"})


@functools.cache
def canonical_connector(name: str) -> str:
    """The canonical name of a connector type; unknown names are kept as given."""
    cleaned = name.strip()
    return _CONNECTOR_ALIASES.get(cleaned.lower(), cleaned)


def connector_spellings(names: Iterable[str]) -> set[str]:
    """Every lower-cased spelling stored in the database that means one of `names`."""
    wanted = {canonical_connector(n) for n in names}
    out = {alias for alias, canon in _CONNECTOR_ALIASES.items() if canon in wanted}
    out.update(n.lower() for n in wanted)
    return out


def is_dc(connector_type: str) -> bool:
    return canonical_connector(connector_type) in DC_CONNECTORS


# ---------------------------------------------------------------------- charging curve


class CurveShape(StrEnum):
    """Default curve shapes, as fractions of the car's peak power by SoC."""

    TYPICAL = "typical"  # NMC: ramps up, plateau to ~45 %, long taper
    FLAT = "flat"  # peak power to 80 %, then a steep taper
    LFP = "lfp"  # LFP: flat and high to ~60 %, taper late

    def fractions(self) -> tuple[tuple[float, float], ...]:
        return _SHAPES[self]


_SHAPES: dict[CurveShape, tuple[tuple[float, float], ...]] = {
    CurveShape.TYPICAL: (
        (0, 0.55),
        (10, 0.9),
        (20, 1.0),
        (45, 1.0),
        (60, 0.8),
        (80, 0.5),
        (90, 0.3),
        (100, 0.12),
    ),
    CurveShape.FLAT: ((0, 1.0), (80, 1.0), (90, 0.5), (100, 0.2)),
    CurveShape.LFP: ((0, 0.7), (10, 1.0), (60, 1.0), (80, 0.85), (90, 0.5), (100, 0.2)),
}


@dataclass(frozen=True)
class ChargingCurve:
    """Battery-side power (kW) the car accepts by SoC: piecewise linear over 0..100 %."""

    points: tuple[tuple[float, float], ...]

    def __post_init__(self) -> None:
        socs = [s for s, _ in self.points]
        if len(self.points) < 2 or socs[0] != 0 or socs[-1] != 100:
            raise ValueError("a charging curve runs from 0 % to 100 % with at least 2 points")
        if any(b - a < 0.1 - 1e-9 for a, b in itertools.pairwise(socs)):
            raise ValueError("charging curve SoC values must increase by at least 0.1")
        if any(not kw > 0 or not math.isfinite(kw) for _, kw in self.points):
            raise ValueError("charging curve power must be positive")

    @classmethod
    def from_points(cls, points: Iterable[tuple[float, float]]) -> ChargingCurve:
        """A curve from (SoC %, kW) points in any order, held flat beyond the first/last."""
        pts = sorted((float(s), float(kw)) for s, kw in points)
        if not pts:
            raise ValueError("a charging curve needs points")
        if any(not 0 <= s <= 100 for s, _ in pts):
            raise ValueError("charging curve SoC must be within 0..100 %")
        # Held flat to 0 % and 100 % (a point within 0.1 of an end moves onto it).
        if pts[0][0] < 0.1:
            pts[0] = (0.0, pts[0][1])
        else:
            pts.insert(0, (0.0, pts[0][1]))
        if pts[-1][0] > 99.9:
            pts[-1] = (100.0, pts[-1][1])
        else:
            pts.append((100.0, pts[-1][1]))
        return cls(tuple(pts))

    @classmethod
    def from_shape(cls, shape: CurveShape, peak_kw: float) -> ChargingCurve:
        return cls(tuple((float(s), f * peak_kw) for s, f in shape.fractions()))

    @property
    def peak_kw(self) -> float:
        return max(kw for _, kw in self.points)

    def power_kw(self, soc: float) -> float:
        pts = self.points
        if soc <= 0:
            return pts[0][1]
        if soc >= 100:
            return pts[-1][1]
        i = bisect.bisect_right([s for s, _ in pts], soc) - 1
        (s0, p0), (s1, p1) = pts[i], pts[i + 1]
        return p0 + (p1 - p0) * (soc - s0) / (s1 - s0)


class ChargeTimeTable:
    """Hours to charge between two SoCs with power min(curve(SoC), cap_kw).

    The integral of dSoC / power over a piecewise-linear power is exact (a logarithm per
    piece), so times add up: hours(a, b) + hours(b, c) == hours(a, c).
    """

    def __init__(self, curve: ChargingCurve, battery_kwh: float, cap_kw: float) -> None:
        if cap_kw <= 0:
            raise ValueError("a charging power cap must be positive")
        self.cap_kw = cap_kw
        self.kwh_per_pct = battery_kwh / 100.0
        pieces: list[tuple[float, float, float, float]] = []  # s0, p0, s1, p1
        for (s0, p0), (s1, p1) in itertools.pairwise(curve.points):
            if p0 <= cap_kw and p1 <= cap_kw:
                pieces.append((s0, p0, s1, p1))
            elif p0 >= cap_kw and p1 >= cap_kw:
                pieces.append((s0, cap_kw, s1, cap_kw))
            else:  # the curve crosses the cap inside this segment
                sx = s0 + (cap_kw - p0) * (s1 - s0) / (p1 - p0)
                pieces.append((s0, min(p0, cap_kw), sx, cap_kw))
                pieces.append((sx, cap_kw, s1, min(p1, cap_kw)))
        self._starts = [p[0] for p in pieces]
        self._pieces = pieces
        self._cumulative = [0.0]
        for s0, p0, s1, p1 in pieces:
            self._cumulative.append(self._cumulative[-1] + self._integral(s0, p0, s1, p1, s1))
        # The search asks for thousands of times per plan: a dense table of the exact
        # integral, linearly interpolated, is exact at the knots and very close between.
        self._dense = self._knots()

    def _knots(self) -> list[float]:
        """Exact hours to every knot, piece by piece (no search per knot)."""
        out: list[float] = []
        k, last = 0, 100 * DENSE_PER_PCT
        for i, (s0, p0, s1, p1) in enumerate(self._pieces):
            done = self._cumulative[i]
            while k <= last and (k / DENSE_PER_PCT <= s1 or i == len(self._pieces) - 1):
                soc = k / DENSE_PER_PCT
                out.append((done + self._integral(s0, p0, s1, p1, soc)) * self.kwh_per_pct)
                k += 1
        return out

    @staticmethod
    def _integral(s0: float, p0: float, s1: float, p1: float, s: float) -> float:
        """∫ dSoC / power from s0 to s within one linear piece, in %·h/kW."""
        if s <= s0:
            return 0.0
        slope = (p1 - p0) / (s1 - s0)
        if abs(slope) < 1e-12:
            return (s - s0) / p0
        return math.log((p0 + slope * (s - s0)) / p0) / slope

    def exact_hours_to(self, soc: float) -> float:
        """Hours from 0 % to `soc`, from the integral itself."""
        soc = min(max(soc, 0.0), 100.0)
        i = max(bisect.bisect_right(self._starts, soc) - 1, 0)
        s0, p0, s1, p1 = self._pieces[i]
        return (self._cumulative[i] + self._integral(s0, p0, s1, p1, soc)) * self.kwh_per_pct

    def hours_to(self, soc: float) -> float:
        """Hours from 0 % to `soc`."""
        x = soc * DENSE_PER_PCT
        if x <= 0.0:
            return 0.0
        k = int(x)
        dense = self._dense
        if k >= 100 * DENSE_PER_PCT:
            return dense[-1]
        lo = dense[k]
        return lo + (dense[k + 1] - lo) * (x - k)

    def hours(self, from_soc: float, to_soc: float) -> float:
        return max(self.hours_to(to_soc) - self.hours_to(from_soc), 0.0)


@functools.lru_cache(maxsize=256)
def charge_time_table(curve: ChargingCurve, battery_kwh: float, cap_kw: float) -> ChargeTimeTable:
    """A shared table per (curve, battery, cap): planning the same car again reuses it."""
    return ChargeTimeTable(curve, battery_kwh, cap_kw)


# ---------------------------------------------------------------------- the vehicle


@dataclass(frozen=True)
class Vehicle:
    battery_kwh: float  # usable
    consumption_wh_per_km: float
    max_ac_kw: float
    max_dc_kw: float
    curve: ChargingCurve
    connector_types: frozenset[str]
    # Speed/temperature multiplier on consumption (1.15 motorway, 1.3 winter...).
    consumption_factor: float = 1.0
    # Battery energy per kWh metered at the charger (losses in cables, inverter, heat).
    charging_efficiency: float = 0.92

    def __post_init__(self) -> None:
        if self.battery_kwh <= 0 or self.consumption_wh_per_km <= 0:
            raise ValueError("battery and consumption must be positive")
        if self.consumption_factor <= 0 or not 0 < self.charging_efficiency <= 1:
            raise ValueError("consumption factor must be positive, efficiency in (0, 1]")

    @property
    def soc_per_km(self) -> float:
        """SoC percentage points used per road km."""
        wh_per_km = self.consumption_wh_per_km * self.consumption_factor
        return wh_per_km / (self.battery_kwh * 10.0)

    def power_limit_kw(self, dc: bool) -> float:
        return self.max_dc_kw if dc else self.max_ac_kw

    def accepts(self, connector_type: str) -> bool:
        return canonical_connector(connector_type) in self.connector_types


# ---------------------------------------------------------------------- polylines


class PolylineError(ValueError):
    pass


def _encode_value(value: int) -> str:
    value = ~(value << 1) if value < 0 else value << 1
    out = []
    while value >= 0x20:
        out.append(chr((0x20 | (value & 0x1F)) + 63))
        value >>= 5
    out.append(chr(value + 63))
    return "".join(out)


def encode_polyline(points: Iterable[LatLon], precision: int = 5) -> str:
    """Google's encoded polyline format (precision 5; 6 for OSRM/Valhalla's polyline6)."""
    factor = 10**precision
    out: list[str] = []
    prev_lat = prev_lon = 0
    for lat, lon in points:
        ilat, ilon = math.floor(lat * factor + 0.5), math.floor(lon * factor + 0.5)
        out.append(_encode_value(ilat - prev_lat))
        out.append(_encode_value(ilon - prev_lon))
        prev_lat, prev_lon = ilat, ilon
    return "".join(out)


def decode_polyline(encoded: str, precision: int = 5) -> list[LatLon]:
    """Points of an encoded polyline; PolylineError if it is malformed or off the globe."""
    factor = float(10**precision)
    values: list[int] = []
    result = shift = 0
    for ch in encoded:
        b = ord(ch) - 63
        if not 0 <= b < 64:
            raise PolylineError(f"invalid character {ch!r} in polyline")
        result |= (b & 0x1F) << shift
        shift += 5
        if b < 0x20:
            values.append(~(result >> 1) if result & 1 else result >> 1)
            result = shift = 0
        elif shift > 60:
            raise PolylineError("polyline value too long")
    if shift or len(values) % 2:
        raise PolylineError("polyline ends in the middle of a point")
    points: list[LatLon] = []
    lat = lon = 0
    for dlat, dlon in zip(values[::2], values[1::2], strict=True):
        lat, lon = lat + dlat, lon + dlon
        point = (lat / factor, lon / factor)
        if not (-90 <= point[0] <= 90 and -180 <= point[1] <= 180):
            raise PolylineError("polyline point off the globe")
        points.append(point)
    return points


# ---------------------------------------------------------------------- route geometry


def great_circle_path(waypoints: Sequence[LatLon], step_km: float = 10.0) -> list[LatLon]:
    """The great-circle path through the waypoints, with a point at least every step_km."""
    if not waypoints:
        return []
    out: list[LatLon] = [waypoints[0]]
    for a, b in itertools.pairwise(waypoints):
        d = haversine_km(a[0], a[1], b[0], b[1])
        steps = max(1, math.ceil(d / step_km))
        out.extend(_slerp(a, b, i / steps, d / EARTH_RADIUS_KM) for i in range(1, steps + 1))
    return out


def _slerp(a: LatLon, b: LatLon, f: float, angle: float) -> LatLon:
    if f >= 1.0:
        return b
    if angle < 1e-12:
        return a
    p1, l1, p2, l2 = (math.radians(v) for v in (*a, *b))
    wa, wb = math.sin((1 - f) * angle) / math.sin(angle), math.sin(f * angle) / math.sin(angle)
    x = wa * math.cos(p1) * math.cos(l1) + wb * math.cos(p2) * math.cos(l2)
    y = wa * math.cos(p1) * math.sin(l1) + wb * math.cos(p2) * math.sin(l2)
    z = wa * math.sin(p1) + wb * math.sin(p2)
    return math.degrees(math.atan2(z, math.hypot(x, y))), math.degrees(math.atan2(y, x))


@dataclass(frozen=True)
class Route:
    """The path driven: points, geometric km from the start at each point, road factor."""

    points: tuple[LatLon, ...]
    cumulative_km: tuple[float, ...]
    road_factor: float = 1.0

    @classmethod
    def through(cls, points: Sequence[LatLon], road_factor: float = 1.0) -> Route:
        if len(points) < 2:
            raise ValueError("a route needs at least two points")
        cumulative = [0.0]
        for a, b in itertools.pairwise(points):
            cumulative.append(cumulative[-1] + haversine_km(a[0], a[1], b[0], b[1]))
        return cls(tuple(points), tuple(cumulative), road_factor)

    @property
    def geometric_km(self) -> float:
        return self.cumulative_km[-1]

    @property
    def length_km(self) -> float:
        """Road km."""
        return self.cumulative_km[-1] * self.road_factor
