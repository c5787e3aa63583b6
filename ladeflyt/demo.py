"""Demo data like the operator's own sites: seeded once, safe to run again."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.chargers.service import add_charger
from core.models import Charger, Site
from core.users.service import add_id_token, add_user, get_user_by_phone


@dataclass(frozen=True)
class DemoCharger:
    charge_point_id: str
    connectors: int
    max_power_w: int
    connector_type: str


@dataclass(frozen=True)
class DemoSite:
    name: str
    address: str
    city: str
    latitude: float
    longitude: float
    grid_capacity_a: int
    chargers: tuple[DemoCharger, ...]


SITES = (
    DemoSite(
        "Klokkarstua",
        "Klokkarstuveien 2",
        "Klokkarstua",
        59.6525,
        10.4338,
        125,
        (
            DemoCharger("KLOKK-AC-01", 2, 22_000, "Type2"),
            DemoCharger("KLOKK-AC-02", 2, 22_000, "Type2"),
            DemoCharger("KLOKK-DC-01", 1, 150_000, "CCS2"),
        ),
    ),
    DemoSite(
        "Sætre",
        "Storgata 10",
        "Sætre",
        59.6808,
        10.5232,
        200,
        (
            DemoCharger("SAETRE-AC-01", 2, 11_000, "Type2"),
            DemoCharger("SAETRE-DC-01", 2, 50_000, "CCS2"),
        ),
    ),
    DemoSite(
        "Røykenbadet",
        "Badeveien 1",
        "Røyken",
        59.7474,
        10.3926,
        160,
        (
            DemoCharger("ROYKEN-AC-01", 2, 22_000, "Type2"),
            DemoCharger("ROYKEN-AC-02", 2, 22_000, "Type2"),
        ),
    ),
    DemoSite(
        "Tofte",
        "Tofteveien 5",
        "Tofte",
        59.5447,
        10.5613,
        100,
        (DemoCharger("TOFTE-AC-01", 2, 7_400, "Type2"),),
    ),
)

USERS = (
    ("+4791234567", "Kari Nordmann", "member", ("04A2B3C4D5",)),
    ("+4792345678", "Ola Hansen", "employee", ("04B1C2D3E4",)),
    ("+4793456789", "Ingrid Berg", "public", ("04C9D8E7F6",)),
)


async def seed(session: AsyncSession) -> bool:
    """Insert the demo sites, chargers, users and RFID tags. False if already there."""
    if (await session.execute(select(Charger.id).limit(1))).first():
        return False
    for site in SITES:
        session.add(
            Site(
                name=site.name,
                address=site.address,
                city=site.city,
                latitude=site.latitude,
                longitude=site.longitude,
                grid_capacity_a=site.grid_capacity_a,
                grid_capacity_w=site.grid_capacity_a * 400 * 1732 // 1000,
            )
        )
        await session.flush()
        for c in site.chargers:
            await add_charger(
                session,
                c.charge_point_id,
                site_name=site.name,
                connectors=c.connectors,
                max_power_w=c.max_power_w,
                connector_type=c.connector_type,
            )
    for phone, name, group, tags in USERS:
        user = await get_user_by_phone(session, phone) or await add_user(
            session, phone, name=name, group=group
        )
        for tag in tags:
            await add_id_token(session, tag, user, label=f"{name.split()[0]}s brikke")
    return True


def demo_charge_point_ids() -> list[str]:
    return [c.charge_point_id for site in SITES for c in site.chargers]


def demo_id_tags() -> list[str]:
    return [tag for *_, tags in USERS for tag in tags]
