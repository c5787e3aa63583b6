"""Places a driver can search by name (the app's "from/to" and "near"): our public sites
and a small built-in list of Norwegian towns, so a search never needs a geocoder outside."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.models import Site


@dataclass(frozen=True)
class Place:
    name: str
    kind: str  # site | town
    detail: str  # the address of a site, the county of a town
    latitude: float
    longitude: float


# Town centres (WGS84), enough to plan a trip between the larger places in Norway.
TOWNS: tuple[tuple[str, str, float, float], ...] = (
    ("Oslo", "Oslo", 59.9139, 10.7522),
    ("Bergen", "Vestland", 60.3913, 5.3221),
    ("Trondheim", "Trøndelag", 63.4305, 10.3951),
    ("Stavanger", "Rogaland", 58.9700, 5.7331),
    ("Drammen", "Buskerud", 59.7441, 10.2045),
    ("Kristiansand", "Agder", 58.1467, 7.9956),
    ("Fredrikstad", "Østfold", 59.2181, 10.9298),
    ("Tromsø", "Troms", 69.6492, 18.9553),
    ("Sandnes", "Rogaland", 58.8524, 5.7352),
    ("Sarpsborg", "Østfold", 59.2839, 11.1097),
    ("Skien", "Telemark", 59.2096, 9.6090),
    ("Porsgrunn", "Telemark", 59.1405, 9.6561),
    ("Ålesund", "Møre og Romsdal", 62.4722, 6.1495),
    ("Molde", "Møre og Romsdal", 62.7375, 7.1591),
    ("Kristiansund", "Møre og Romsdal", 63.1105, 7.7279),
    ("Sandefjord", "Vestfold", 59.1314, 10.2166),
    ("Tønsberg", "Vestfold", 59.2676, 10.4076),
    ("Larvik", "Vestfold", 59.0533, 10.0352),
    ("Horten", "Vestfold", 59.4172, 10.4830),
    ("Moss", "Østfold", 59.4340, 10.6577),
    ("Halden", "Østfold", 59.1243, 11.3875),
    ("Bodø", "Nordland", 67.2804, 14.4049),
    ("Arendal", "Agder", 58.4617, 8.7722),
    ("Hamar", "Innlandet", 60.7945, 11.0680),
    ("Lillehammer", "Innlandet", 61.1153, 10.4662),
    ("Gjøvik", "Innlandet", 60.7957, 10.6916),
    ("Elverum", "Innlandet", 60.8819, 11.5623),
    ("Kongsberg", "Buskerud", 59.6689, 9.6502),
    ("Hønefoss", "Buskerud", 60.1680, 10.2565),
    ("Asker", "Akershus", 59.8331, 10.4350),
    ("Lillestrøm", "Akershus", 59.9560, 11.0500),
    ("Drøbak", "Akershus", 59.6633, 10.6300),
    ("Haugesund", "Rogaland", 59.4138, 5.2680),
    ("Holmsbu", "Buskerud", 59.5614, 10.4547),
)


def _folded(text: str) -> str:
    return " ".join(text.casefold().split())


async def search_places(session: AsyncSession, query: str, limit: int = 8) -> list[Place]:
    """Public sites whose name, address or city contains `query`, then towns whose name
    starts with it (case-insensitive); sites first, at most `limit`."""
    wanted = _folded(query)
    if not wanted:
        return []
    pattern = f"%{wanted}%"
    rows = (
        await session.execute(
            select(Site)
            .where(
                Site.public.is_(True),
                Site.latitude.is_not(None),
                Site.longitude.is_not(None),
                or_(
                    func.lower(Site.name).like(pattern),
                    func.lower(Site.city).like(pattern),
                    func.lower(Site.address).like(pattern),
                ),
            )
            .order_by(Site.name)
            .limit(limit)
        )
    ).scalars()
    found = [
        Place(
            name=s.name,
            kind="site",
            detail=", ".join(p for p in (s.address, s.city) if p),
            latitude=float(s.latitude or 0),
            longitude=float(s.longitude or 0),
        )
        for s in rows
    ]
    for name, county, lat, lon in TOWNS:
        if len(found) >= limit:
            break
        if _folded(name).startswith(wanted):
            found.append(Place(name=name, kind="town", detail=county, latitude=lat, longitude=lon))
    return found[:limit]
