"""Arranging tariff and billing tests: a database, a site with chargers, drivers, sessions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from core.chargers.service import add_charger
from core.db import create_engine, session_factory, transaction
from core.models import ChargingSession, Connector, MeterSample, Site, User
from core.tariffs import admin
from core.timeutil import OSLO
from core.users.service import add_user
from tests.helpers import enrol, owned_site


def oslo(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    """An Oslo wall-clock time as an aware UTC datetime."""
    return datetime(year, month, day, hour, minute, tzinfo=OSLO).astimezone(UTC)


@asynccontextmanager
async def database(
    db_url: str, *, autoflush: bool = False
) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test database; autoflush like the gateway's WriteBatcher if asked."""
    engine = create_engine(db_url)
    try:
        if autoflush:
            yield async_sessionmaker(engine, expire_on_commit=False, autoflush=True)
        else:
            yield session_factory(engine)
    finally:
        await engine.dispose()


@dataclass(frozen=True)
class Place:
    site: str
    charger: str
    charger_id: int
    connectors: list[int]  # connector pks, evse 1..n


async def place(
    session: AsyncSession,
    site: str = "Solsiden borettslag",
    charger: str = "SOL-1",
    *,
    list_price: int | None = None,
    max_kw: int = 22,
    connectors: int = 2,
) -> Place:
    await owned_site(session, site)
    row = await add_charger(
        session, charger, site_name=site, connectors=connectors, max_power_w=max_kw * 1000
    )
    if list_price is not None:
        site_row = (await session.execute(select(Site).where(Site.name == site))).scalar_one()
        site_row.list_price_ore_per_kwh = list_price
    pks = list(
        (
            await session.execute(
                select(Connector.id)
                .where(Connector.charger_id == row.id)
                .order_by(Connector.evse_id)
            )
        ).scalars()
    )
    return Place(site, charger, row.id, pks)


async def driver(
    session: AsyncSession,
    phone: str,
    group: str,
    *,
    name: str = "",
    invoice: bool = False,
    at: str = "Solsiden borettslag",
) -> User:
    """A driver; in `group` (unless public) as a member of the organisation owning site `at`."""
    user = await add_user(session, phone, name=name or phone)
    if group != "public":
        await enrol(session, user, at, group)
    user.invoice_billing = invoice
    await session.flush()
    return user


async def member_prices(session: AsyncSession, where: Place) -> None:
    """The worked example's tariffs: members 2.50 kr/kWh, employees 1.00 kr/kWh on
    weekdays 08-16 and 2.00 kr after, the public (guests) 4.50 kr/kWh + 1 kr/min idle after
    30 min, service cars free."""
    await admin.create_tariff(session, "Beboer")
    await admin.add_component(session, "Beboer", kind="energy", price_ore=200)
    await admin.create_tariff(session, "Ansatt")
    await admin.add_component(
        session, "Ansatt", kind="energy", price_ore=80, days="mon-fri", start="08:00", end="16:00"
    )
    await admin.add_component(
        session, "Ansatt", kind="energy", price_ore=160, days="mon-fri", start="16:00", end="08:00"
    )
    await admin.add_component(session, "Ansatt", kind="energy", price_ore=160, days="weekend")
    await admin.create_tariff(session, "Gjest")
    await admin.add_component(session, "Gjest", kind="energy", price_ore=360)
    await admin.add_component(session, "Gjest", kind="parking", price_ore=80, grace_minutes=30)
    await admin.create_tariff(session, "Tjenestebil")
    valid = oslo(2026, 1, 1)
    for tariff, group in (
        ("Beboer", "member"),
        ("Ansatt", "employee"),
        ("Gjest", "public"),
        ("Tjenestebil", "service"),
    ):
        await admin.attach_tariff(session, tariff, site=where.site, group=group, valid_from=valid)


async def charged(
    session: AsyncSession,
    where: Place,
    user: User | None,
    start: datetime,
    minutes: int,
    kw: float,
    *,
    evse: int = 1,
    idle_minutes: int = 0,
    completed: bool = True,
    meter_start: int = 100_000,
) -> ChargingSession:
    """A session charging at `kw` for `minutes`, then plugged in idle; samples every 5 min."""
    charge_end = start + timedelta(minutes=minutes)
    stop = charge_end + timedelta(minutes=idle_minutes)
    energy = round(kw * 1000 * minutes / 60)
    cs = ChargingSession(
        charger_id=where.charger_id,
        connector_pk=where.connectors[evse - 1],
        evse_id=evse,
        connector_id=1,
        transaction_id=f"t-{start.timestamp()}-{evse}-{user.id if user else 0}",
        user_id=user.id if user else None,
        status="completed" if completed else "active",
        started_at=start,
        stopped_at=stop if completed else None,
        meter_start_wh=meter_start,
        meter_stop_wh=meter_start + energy if completed else None,
        energy_wh=energy,
        last_energy_wh=meter_start + energy,
        last_sample_at=stop,
        flags=[],
    )
    session.add(cs)
    await session.flush()
    rows = []
    t = start
    while t <= stop:
        done = min(t, charge_end) - start
        wh = meter_start + round(kw * 1000 * done.total_seconds() / 3600)
        rows.append(
            MeterSample(
                session_id=cs.id,
                charger_id=where.charger_id,
                connector_id=evse,
                sampled_at=t,
                energy_wh=wh,
                power_w=round(kw * 1000) if t < charge_end else 0,
            )
        )
        t += timedelta(minutes=5)
    session.add_all(rows)
    await session.flush()
    return cs


__all__ = [
    "Place",
    "charged",
    "database",
    "driver",
    "member_prices",
    "oslo",
    "place",
    "transaction",
]
