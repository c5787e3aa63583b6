"""Chargers placed along a straight test route north from Hurum (lat 60.0 -> 62.7, lon 10.0)."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Charger, Connector, Site
from core.routeplan.model import encode_polyline

KM_PER_DEG = 111.195
START = (60.0, 10.0)
END = (62.7, 10.0)  # ~300 km north along the meridian
_names = itertools.count(1)


def route_points(step_km: float = 5.0) -> list[tuple[float, float]]:
    n = math.ceil((END[0] - START[0]) * KM_PER_DEG / step_km)
    return [(START[0] + (END[0] - START[0]) * i / n, START[1]) for i in range(n + 1)]


POLYLINE = encode_polyline(route_points())


def at_km(km: float, east_km: float = 0.0) -> tuple[float, float]:
    """The point km north of the start along the route, east_km off it."""
    lat = START[0] + km / KM_PER_DEG
    return lat, START[1] + east_km / (KM_PER_DEG * math.cos(math.radians(lat)))


@dataclass
class Plug:
    type: str = "CCS2"
    kw: float = 150
    status: str = "Available"


@dataclass
class Spot:
    km: float
    plugs: list[Plug] = field(default_factory=lambda: [Plug()])
    east_km: float = 0.0
    price: int | None = 500
    public: bool = True
    online: bool = True
    registration: str = "Accepted"
    charger_status: str = "Available"
    max_kw: float | None = None
    code: str = ""


async def place(session: AsyncSession, *spots: Spot) -> list[int]:
    """One site with one charger per spot; the charger ids in order."""
    ids = []
    for spot in spots:
        n = next(_names)
        lat, lon = at_km(spot.km, spot.east_km)
        site = Site(
            name=f"Rute {n} km {spot.km:g}",
            city="Testby",
            latitude=lat,
            longitude=lon,
            public=spot.public,
            list_price_ore_per_kwh=spot.price,
        )
        session.add(site)
        await session.flush()
        charger = Charger(
            charge_point_id=spot.code or f"RP-{n:04d}",
            site_id=site.id,
            registration_status=spot.registration,
            status=spot.charger_status,
            online=spot.online,
            max_power_w=None if spot.max_kw is None else round(spot.max_kw * 1000),
        )
        session.add(charger)
        await session.flush()
        for evse, plug in enumerate(spot.plugs, start=1):
            session.add(
                Connector(
                    charger_id=charger.id,
                    evse_id=evse,
                    connector_id=1,
                    connector_type=plug.type,
                    max_power_w=round(plug.kw * 1000),
                    status=plug.status,
                )
            )
        ids.append(charger.id)
    await session.flush()
    return ids
