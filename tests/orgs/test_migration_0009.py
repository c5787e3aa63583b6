"""Migration 0009 carries today's data over: sites with group prices become organisations,
global customer groups become memberships of them, and prices stay what they were there."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy import make_url, text
from sqlalchemy.pool import NullPool

from core.db import create_engine, session_factory
from core.migrate import upgrade
from core.models import CustomerGroup, Membership, Organisation, Site, Tariff, User
from core.tariffs.service import quote
from tests.conftest import _BACKENDS, _PG_URL

NOW = datetime(2026, 3, 4, 11, 0, tzinfo=UTC)


@pytest.fixture(params=_BACKENDS)
def empty_db(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
        return
    assert _PG_URL is not None
    name = f"ladeflyt_mig_{os.getpid()}_{uuid.uuid4().hex[:8]}"

    async def admin(statement: str) -> None:
        engine = create_engine(_PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                await conn.execute(text(statement))
        finally:
            await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(_PG_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def _filled(table: sa.Table, values: dict[str, Any]) -> dict[str, Any]:
    """The row with every other NOT NULL column given a plain value, as the old code did."""
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.primary_key:
            continue
        try:
            python = column.type.python_type
        except NotImplementedError:
            python = dict
        row[column.name] = {
            str: "",
            int: 0,
            bool: False,
            datetime: NOW,
            dict: {},
            list: [],
        }.get(python, 0)
    return row


async def _old_data(url: str) -> None:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            meta = sa.MetaData()
            await conn.run_sync(meta.reflect)
            t = meta.tables

            async def insert(table_name: str, /, **values: Any) -> int:
                table = t[table_name]
                result = await conn.execute(
                    table.insert().values(**_filled(table, values)).returning(table.c.id)
                )
                return int(result.scalar_one())

            klokk = await insert(
                "sites",
                name="Klokkarstua",
                address="Klokkarstuveien 2",
                city="Klokkarstua",
                public=True,
            )
            saetre = await insert("sites", name="Sætre", public=True)
            tofte = await insert("sites", name="Tofte", public=True, list_price_ore_per_kwh=450)
            chargers = {}
            for cp, site in (("KLOKK-1", klokk), ("SAETRE-1", saetre), ("TOFTE-1", tofte)):
                chargers[cp] = await insert(
                    "chargers",
                    charge_point_id=cp,
                    site_id=site,
                    registration_status="Accepted",
                    status="Unknown",
                )
                await insert(
                    "connectors",
                    charger_id=chargers[cp],
                    evse_id=1,
                    connector_id=1,
                    connector_type="Type2",
                    max_power_w=22000,
                    status="Available",
                )
            users = {}
            for phone, group in (
                ("+4791000001", "member"),
                ("+4791000002", "Employee"),
                ("+4791000003", "public"),
                ("+4791000004", "styre"),
                ("+4791000005", "tenant"),
            ):
                users[phone] = await insert(
                    "users", phone=phone, customer_group=group, language="nb"
                )
            tariffs = {}
            for name in ("Medlem", "Ansatt", "Styre", "Offentlig"):
                tariffs[name] = await insert("tariffs", name=name, currency="NOK")
                price = {"Medlem": 200, "Ansatt": 80, "Styre": 0, "Offentlig": 360}[name]
                await insert(
                    "tariff_components",
                    tariff_id=tariffs[name],
                    position=0,
                    kind="energy",
                    price_ore=price,
                    unit="kWh",
                    weekdays=127,
                    spot_negative="floor",
                )
            since = datetime(2026, 1, 1, tzinfo=UTC)
            assignments: tuple[tuple[str, int | None, int | None, str], ...] = (
                ("Medlem", klokk, None, "member"),
                ("Styre", None, chargers["KLOKK-1"], "styre"),
                ("Ansatt", saetre, None, "employee"),
                ("Offentlig", klokk, None, "public"),
                ("Offentlig", tofte, None, "public"),
            )
            for tariff, at_site, at_charger, group in assignments:
                await insert(
                    "tariff_assignments",
                    tariff_id=tariffs[tariff],
                    site_id=at_site,
                    charger_id=at_charger,
                    customer_group=group,
                    valid_from=since,
                )
    finally:
        await engine.dispose()


async def test_old_groups_become_memberships_of_the_sites_owners(empty_db):
    upgrade(empty_db, "0007")
    await _old_data(empty_db)
    upgrade(empty_db, "head")

    engine = create_engine(empty_db, poolclass=NullPool)
    try:
        async with session_factory(engine)() as s:
            orgs = {o.id: o for o in (await s.execute(sa.select(Organisation))).scalars()}
            sites = {x.name: x for x in (await s.execute(sa.select(Site))).scalars()}
            assert sorted(o.name for o in orgs.values()) == ["Klokkarstua", "Sætre"]
            assert orgs[sites["Klokkarstua"].organisation_id].street == "Klokkarstuveien 2"
            assert sites["Tofte"].organisation_id is None  # public prices only: the operator's
            klokk_org = sites["Klokkarstua"].organisation_id
            saetre_org = sites["Sætre"].organisation_id
            phones = {u.id: u.phone for u in (await s.execute(sa.select(User))).scalars()}
            members = sorted(
                (phones[m.user_id], m.organisation_id, m.group, m.site_id, m.valid_from)
                for m in (await s.execute(sa.select(Membership))).scalars()
            )
            assert members == [
                ("+4791000001", klokk_org, "member", None, None),
                ("+4791000002", saetre_org, "employee", None, None),
                ("+4791000004", klokk_org, "styre", None, None),
            ]  # tenant had no price of its own anywhere: no membership needed
            groups = [
                (g.organisation_id, g.name)
                for g in (await s.execute(sa.select(CustomerGroup))).scalars()
            ]
            assert groups == [(klokk_org, "styre")]
            owners = {
                t.name: t.organisation_id for t in (await s.execute(sa.select(Tariff))).scalars()
            }
            assert owners == {
                "Medlem": klokk_org,
                "Styre": klokk_org,
                "Ansatt": saetre_org,
                "Offentlig": None,
            }

            # The same prices as before at home, the public price elsewhere.
            connectors = dict(
                (
                    await s.execute(
                        text(
                            "SELECT c.charge_point_id, k.id FROM connectors k "
                            "JOIN chargers c ON c.id = k.charger_id"
                        )
                    )
                ).all()
            )
            by_phone = {v: k for k, v in phones.items()}
            kari = by_phone["+4791000001"]
            assert (await quote(s, connectors["KLOKK-1"], kari, NOW)).headline_ore_per_kwh == 250
            assert (await quote(s, connectors["TOFTE-1"], kari, NOW)).headline_ore_per_kwh == 450
            board = await quote(s, connectors["KLOKK-1"], by_phone["+4791000004"], NOW)
            assert (board.customer_group, board.headline_ore_per_kwh) == ("styre", 0)
            ola = await quote(s, connectors["SAETRE-1"], by_phone["+4791000002"], NOW)
            assert (ola.customer_group, ola.headline_ore_per_kwh) == ("employee", 100)
    finally:
        await engine.dispose()
