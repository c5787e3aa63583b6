"""A deterministic Norway-like charger fleet, bulk-inserted into a migrated database.

    .venv/bin/python -m bench.fleet --url sqlite+aiosqlite:///var/fleet.db --chargers 100000

Sites cluster in the towns of `norway_corridors.json` (bigger towns weigh more and spread
wider) and along the corridors between consecutive waypoints (polylines densified to
~1 km). A site has 1-10 chargers, a charger 1-2 connectors. `fast` of the chargers are DC
(50-350 kW CCS2, a few with a CHAdeMO plug) in hubs mostly along the corridors; the rest
are AC (7.4-22 kW Type2). Statuses, online flags, registration and list prices follow
plausible shares. Same seed, same fleet: the rows are built in Python first (`build_fleet`)
and then written with Core `executemany` inserts (`write_fleet`), ~100k chargers in seconds.

`query_points` picks search points (town centres, weighted like the fleet, and points along
the corridors) for benchmarks: chargersNear now, route planning later.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import math
import os
import random
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, text

from core.db import create_engine
from core.models import Charger, Connector, Site

CORRIDORS_ENV = "LADEFLYT_CORRIDORS_JSON"
DEFAULT_CORRIDORS = Path("/work/shared/data/norway_corridors.json")
EARTH_RADIUS_KM = 6371.0088
KM_PER_DEG_LAT = math.pi * EARTH_RADIUS_KM / 180

# Town weight (share of town sites) and spread (sigma of the site scatter, km). Towns not
# named here weigh 1 and spread 1.5 km.
TOWN_WEIGHT: dict[str, tuple[float, float]] = {
    "Oslo": (24.0, 6.0),
    "Bergen": (9.0, 4.5),
    "Trondheim": (7.0, 4.0),
    "Stavanger": (5.0, 3.5),
    "Kristiansand": (4.0, 3.5),
    "Drammen": (3.5, 3.0),
    "Sandnes": (3.0, 3.0),
    "Sandvika": (3.0, 2.5),
    "Tønsberg": (2.0, 2.5),
    "Hamar": (2.0, 2.5),
    "Lillehammer": (2.0, 2.0),
    "Larvik": (1.8, 2.0),
    "Porsgrunn": (1.8, 2.0),
    "Arendal": (1.8, 2.0),
    "Gardermoen": (1.5, 2.0),
    "Hønefoss": (1.5, 2.0),
    "Grimstad": (1.3, 2.0),
}
AC_POWER_W = ((7_400, 25), (11_000, 35), (22_000, 40))
DC_POWER_W = (
    (50_000, 15),
    (100_000, 10),
    (150_000, 25),
    (175_000, 10),
    (250_000, 15),
    (300_000, 15),
    (350_000, 10),
)
ONLINE_STATUS = (
    ("Available", 72),
    ("Charging", 14),
    ("Occupied", 4),
    ("Preparing", 2),
    ("SuspendedEV", 2),
    ("Finishing", 1),
    ("Faulted", 3),
    ("Unavailable", 2),
)
OFFLINE_STATUS = (("Unavailable", 60), ("Unknown", 20), ("Available", 20))
REGISTRATION = (("Accepted", 985), ("Pending", 10), ("Rejected", 5))
AC_SITE_SIZE = (10, 14, 12, 10, 10, 8, 8, 8, 10, 10)  # weights of 1..10 chargers per site
DC_SITE_SIZE = (0, 12, 10, 16, 12, 14, 10, 10, 8, 8)
ONLINE_SHARE, AC_PUBLIC_SHARE, NO_PRICE_SHARE = 0.94, 0.85, 0.02
AC_IN_TOWN_SHARE, DC_IN_TOWN_SHARE = 0.85, 0.45
DC_TWO_PLUGS, DC_CHADEMO = 0.40, 0.08
AC_TWO_PLUGS = 0.65
STREETS = ("Storgata", "Kirkegata", "Strandveien", "Parkveien", "Industriveien", "Skolegata")
VENDORS = (("Zaptec", "Go"), ("Easee", "Charge"), ("Alfen", "Eve Double"), ("Kempower", "S"))
FAST_VENDORS = (("Kempower", "C500"), ("Alpitronic", "HYC300"), ("ABB", "Terra 184"))


@dataclass(frozen=True)
class Waypoint:
    name: str
    lat: float
    lon: float


@dataclass(frozen=True)
class Town:
    name: str
    lat: float
    lon: float
    weight: float
    spread_km: float


@dataclass(frozen=True)
class RoadPoint:
    """A point of a densified corridor; `near` is the closer waypoint's name."""

    corridor: str
    lat: float
    lon: float
    km: float
    near: str


@dataclass(frozen=True)
class QueryPoint:
    label: str
    kind: str  # "town" | "corridor"
    lat: float
    lon: float


@dataclass
class FleetRows:
    sites: list[dict[str, Any]] = field(default_factory=list)
    chargers: list[dict[str, Any]] = field(default_factory=list)
    connectors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class FleetSummary:
    url: str
    seed: int
    sites: int
    town_sites: int
    corridor_sites: int
    public_sites: int
    chargers: int
    fast_chargers: int
    online_chargers: int
    accepted_chargers: int
    connectors: int
    connector_status: dict[str, int]
    connector_types: dict[str, int]
    build_seconds: float
    insert_seconds: float

    def lines(self) -> list[str]:
        return [
            f"fleet seed {self.seed}: {self.sites} sites ({self.town_sites} in towns, "
            f"{self.corridor_sites} along corridors, {self.public_sites} public)",
            f"  {self.chargers} chargers ({self.fast_chargers} DC, {self.online_chargers} "
            f"online, {self.accepted_chargers} accepted), {self.connectors} connectors",
            f"  connector types {self.connector_types}",
            f"  connector status {self.connector_status}",
            f"  built in {self.build_seconds:.1f} s, inserted in {self.insert_seconds:.1f} s",
        ]


# ---------------------------------------------------------------------- geography


def load_corridors(path: Path | str | None = None) -> dict[str, list[Waypoint]]:
    """Corridors by name: waypoints in order (default: $LADEFLYT_CORRIDORS_JSON or shared)."""
    source = Path(path or os.environ.get(CORRIDORS_ENV) or DEFAULT_CORRIDORS)
    data = json.loads(source.read_text(encoding="utf-8"))
    return {
        name: [Waypoint(str(n), float(lat), float(lon)) for n, lat, lon in points]
        for name, points in data["corridors"].items()
    }


def towns(corridors: dict[str, list[Waypoint]]) -> list[Town]:
    """Every waypoint once, in first-seen order, with its weight and spread."""
    seen: dict[str, Town] = {}
    for points in corridors.values():
        for p in points:
            if p.name not in seen:
                weight, spread = TOWN_WEIGHT.get(p.name, (1.0, 1.5))
                seen[p.name] = Town(p.name, p.lat, p.lon, weight, spread)
    return list(seen.values())


def km_between(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance (haversine), km."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(a)))


def densify(name: str, points: Sequence[Waypoint], step_km: float = 1.0) -> list[RoadPoint]:
    """Points every ~step_km along the straight segments between consecutive waypoints."""
    out: list[RoadPoint] = []
    km = 0.0
    for a, b in itertools.pairwise(points):
        length = km_between(a.lat, a.lon, b.lat, b.lon)
        steps = max(1, math.ceil(length / step_km))
        for i in range(steps):
            t = i / steps
            near = a.name if t < 0.5 else b.name
            lat, lon = a.lat + (b.lat - a.lat) * t, a.lon + (b.lon - a.lon) * t
            out.append(RoadPoint(name, lat, lon, km + length * t, near))
        km += length
    last = points[-1]
    out.append(RoadPoint(name, last.lat, last.lon, km, last.name))
    return out


def road_points(corridors: dict[str, list[Waypoint]], step_km: float = 1.0) -> list[RoadPoint]:
    return [p for name, pts in corridors.items() for p in densify(name, pts, step_km)]


def offset_km(lat: float, lon: float, north_km: float, east_km: float) -> tuple[float, float]:
    lat2 = lat + north_km / KM_PER_DEG_LAT
    lon2 = lon + east_km / (KM_PER_DEG_LAT * max(math.cos(math.radians(lat)), 1e-6))
    return round(lat2, 6), round(lon2, 6)


def query_points(
    count: int,
    *,
    seed: int = 7,
    corridors: dict[str, list[Waypoint]] | None = None,
    town_share: float = 0.6,
    jitter_km: float = 1.0,
) -> list[QueryPoint]:
    """Search points: town centres (weighted like the fleet, jittered) and corridor points."""
    corridors = corridors or load_corridors()
    rng = random.Random(seed)
    all_towns = towns(corridors)
    weights = [t.weight for t in all_towns]
    road = road_points(corridors)
    out: list[QueryPoint] = []
    for _ in range(count):
        if rng.random() < town_share:
            t = rng.choices(all_towns, weights)[0]
            lat, lon = offset_km(
                t.lat, t.lon, rng.uniform(-jitter_km, jitter_km), rng.uniform(-jitter_km, jitter_km)
            )
            out.append(QueryPoint(t.name, "town", lat, lon))
        else:
            p = rng.choice(road)
            out.append(QueryPoint(f"{p.corridor} km {p.km:.0f}", "corridor", p.lat, p.lon))
    return out


# ---------------------------------------------------------------------- the fleet in Python


def _pick(rng: random.Random, table: Sequence[tuple[Any, int]]) -> Any:
    return rng.choices([v for v, _ in table], [w for _, w in table])[0]


class _Builder:
    def __init__(self, rng: random.Random, corridors: dict[str, list[Waypoint]], ids: Any):
        self.rng = rng
        self.towns = towns(corridors)
        self.town_weights = [t.weight for t in self.towns]
        self.road = road_points(corridors)
        self.rows = FleetRows()
        self.site_id, self.charger_id, self.connector_id = ids
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def place(self, in_town: bool) -> tuple[float, float, str, str]:
        rng = self.rng
        if in_town:
            t = rng.choices(self.towns, self.town_weights)[0]
            north = max(-3.0, min(3.0, rng.gauss(0, 1))) * t.spread_km
            east = max(-3.0, min(3.0, rng.gauss(0, 1))) * t.spread_km
            return (*offset_km(t.lat, t.lon, north, east), t.name, "town")
        p = rng.choice(self.road)
        north, east = rng.gauss(0, 0.3), rng.gauss(0, 0.3)
        return (*offset_km(p.lat, p.lon, north, east), p.near, "corridor")

    def site(self, size: int, fast: bool) -> None:
        rng = self.rng
        in_town = rng.random() < (DC_IN_TOWN_SHARE if fast else AC_IN_TOWN_SHARE)
        lat, lon, city, kind = self.place(in_town)
        self.site_id += 1
        public = fast or kind == "corridor" or rng.random() < AC_PUBLIC_SHARE
        price = (
            None
            if rng.random() < NO_PRICE_SHARE
            else (rng.randrange(500, 801, 10) if fast else rng.randrange(350, 501, 5))
        )
        label = ("Hurtiglader" if fast else "Lading") + ("" if public else " (privat)")
        self.rows.sites.append(
            {
                "id": self.site_id,
                "name": f"{city} {label} {self.site_id}",
                "address": f"{rng.choice(STREETS)} {rng.randint(1, 120)}",
                "postal_code": f"{rng.randint(1, 9999):04d}",
                "city": city,
                "latitude": lat,
                "longitude": lon,
                "grid_capacity_a": None,
                "grid_capacity_w": None,
                "public": public,
                "list_price_ore_per_kwh": price,
                "created_at": self.now,
                "_kind": kind,
            }
        )
        for _ in range(size):
            self.charger(fast)

    def charger(self, fast: bool) -> None:
        rng = self.rng
        self.charger_id += 1
        online = rng.random() < ONLINE_SHARE
        vendor, model = rng.choice(FAST_VENDORS if fast else VENDORS)
        if fast:
            power = _pick(rng, DC_POWER_W)
            plugs = [("CCS2", power)]
            if rng.random() < DC_TWO_PLUGS:
                plugs.append(
                    ("CHAdeMO", 50_000)
                    if rng.random() < DC_CHADEMO / DC_TWO_PLUGS
                    else ("CCS2", power)
                )
        else:
            power = _pick(rng, AC_POWER_W)
            plugs = [("Type2", power)] * (2 if rng.random() < AC_TWO_PLUGS else 1)
        seen = self.now - timedelta(seconds=rng.randint(0, 600 if online else 30 * 86_400))
        self.rows.chargers.append(
            {
                "id": self.charger_id,
                "charge_point_id": f"NO-{self.charger_id:07d}",
                "site_id": self.site_id,
                "vendor": vendor,
                "model": model,
                "serial_number": f"SN{self.charger_id:09d}",
                "firmware_version": "1.4.2",
                "ocpp_version": "1.6" if rng.random() < 0.7 else "2.0.1",
                "registration_status": _pick(rng, REGISTRATION),
                "status": "Available" if online else "Unavailable",
                "online": online,
                "connected_at": seen if online else None,
                "last_seen_at": seen,
                "last_boot_at": seen - timedelta(days=3),
                "max_power_w": sum(p for _, p in plugs) if fast else power,
                "created_at": self.now,
            }
        )
        for n, (ctype, watts) in enumerate(plugs, start=1):
            self.connector_id += 1
            status = _pick(rng, ONLINE_STATUS if online else OFFLINE_STATUS)
            self.rows.connectors.append(
                {
                    "id": self.connector_id,
                    "charger_id": self.charger_id,
                    "evse_id": n,
                    "connector_id": 1,
                    "connector_type": ctype,
                    "max_power_w": watts,
                    "status": status,
                    "error_code": "GroundFailure" if status == "Faulted" else None,
                    "status_at": seen,
                }
            )


def build_fleet(
    chargers: int = 100_000,
    fast: int = 5_000,
    seed: int = 1,
    *,
    corridors: dict[str, list[Waypoint]] | None = None,
    first_ids: tuple[int, int, int] = (0, 0, 0),
) -> FleetRows:
    """The rows of a fleet (ids start after `first_ids`: sites, chargers, connectors)."""
    if not 0 <= fast <= chargers:
        raise ValueError("need 0 <= fast <= chargers")
    rng = random.Random(seed)
    b = _Builder(rng, corridors or load_corridors(), first_ids)
    sizes = range(1, 11)
    for is_fast, todo, size_weights in (
        (True, fast, DC_SITE_SIZE),
        (False, chargers - fast, AC_SITE_SIZE),
    ):
        while todo > 0:
            size = min(rng.choices(sizes, size_weights)[0], todo)
            b.site(size, is_fast)
            todo -= size
    return b.rows


# ---------------------------------------------------------------------- into the database


async def _max_ids(conn: Any) -> tuple[int, int, int]:
    out = []
    for model in (Site, Charger, Connector):
        out.append(int((await conn.execute(select(func.coalesce(func.max(model.id), 0)))).scalar()))
    return out[0], out[1], out[2]


async def write_fleet(
    url: str, rows: FleetRows, *, batch: int = 20_000, analyze: bool = True
) -> None:
    """Bulk-insert the rows (one transaction), fix PostgreSQL sequences, refresh statistics."""
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            for model, items in (
                (Site, [{k: v for k, v in r.items() if not k.startswith("_")} for r in rows.sites]),
                (Charger, rows.chargers),
                (Connector, rows.connectors),
            ):
                for start in range(0, len(items), batch):
                    await conn.execute(insert(model), items[start : start + batch])
            if conn.dialect.name == "postgresql":
                for name in ("sites", "chargers", "connectors"):
                    await conn.execute(
                        text(
                            f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), "
                            f"(SELECT coalesce(max(id), 1) FROM {name}))"
                        )
                    )
        if analyze:
            # What autovacuum would do a little later: statistics for the planner and, on
            # PostgreSQL, the visibility map that lets index-only scans skip the heap.
            async with engine.connect() as conn:
                auto = await conn.execution_options(isolation_level="AUTOCOMMIT")
                if conn.dialect.name == "postgresql":
                    await auto.execute(text("VACUUM ANALYZE sites, chargers, connectors"))
                else:
                    await auto.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


def summarize(
    url: str, seed: int, rows: FleetRows, build_s: float, insert_s: float
) -> FleetSummary:
    statuses = Counter(c["status"] for c in rows.connectors)
    types = Counter(c["connector_type"] for c in rows.connectors)
    return FleetSummary(
        url=url,
        seed=seed,
        sites=len(rows.sites),
        town_sites=sum(1 for s in rows.sites if s["_kind"] == "town"),
        corridor_sites=sum(1 for s in rows.sites if s["_kind"] == "corridor"),
        public_sites=sum(1 for s in rows.sites if s["public"]),
        chargers=len(rows.chargers),
        fast_chargers=sum(1 for c in rows.chargers if (c["max_power_w"] or 0) >= 50_000),
        online_chargers=sum(1 for c in rows.chargers if c["online"]),
        accepted_chargers=sum(1 for c in rows.chargers if c["registration_status"] == "Accepted"),
        connectors=len(rows.connectors),
        connector_status=dict(statuses.most_common()),
        connector_types=dict(types.most_common()),
        build_seconds=round(build_s, 3),
        insert_seconds=round(insert_s, 3),
    )


async def generate_fleet(
    url: str, chargers: int = 100_000, fast: int = 5_000, seed: int = 1
) -> FleetSummary:
    """Build the fleet for `seed` and insert it into the migrated database at `url`."""
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            first_ids = await _max_ids(conn)
    finally:
        await engine.dispose()
    t0 = time.perf_counter()
    rows = build_fleet(chargers, fast, seed, first_ids=first_ids)
    t1 = time.perf_counter()
    await write_fleet(url, rows)
    return summarize(url, seed, rows, t1 - t0, time.perf_counter() - t1)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.fleet", description=__doc__.split("\n")[0])
    p.add_argument("--url", required=True, help="a migrated database (SQLite or PostgreSQL)")
    p.add_argument("--chargers", type=int, default=100_000)
    p.add_argument("--fast", type=int, default=None, help="DC chargers (default: 5 %%)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--migrate", action="store_true", help="run the migrations first")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = p.parse_args(argv)
    fast = args.fast if args.fast is not None else args.chargers // 20
    if args.migrate:
        from core.migrate import upgrade

        upgrade(args.url)
    summary = asyncio.run(generate_fleet(args.url, args.chargers, fast, args.seed))
    if args.json:
        print(json.dumps(asdict(summary), ensure_ascii=False, indent=2))
    else:
        print("\n".join(summary.lines()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
