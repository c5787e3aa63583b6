"""Demo data like the operator's own sites: seeded once, safe to run again.

Four sites with AC and DC chargers and list prices. Klokkarstua belongs to Klokkarstua
borettslag, with a member tariff (cheap for the borettslag's members, billed monthly);
Sætre to Sætre Næringsbygg AS, with an employee tariff (cheaper in working hours);
Røykenbadet and Tofte are the operator's own public stations. Three drivers with RFID
tags: Kari (member of the borettslag, invoiced), Ola (employee at Sætre, invoiced) and
Ingrid (public, pays by saved sandbox card). Kari pays the public price at Tofte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.chargers.service import add_charger
from core.models import Charger, Membership, Organisation, PaymentMethod, Site
from core.tariffs.admin import add_component, attach_tariff, create_tariff
from core.users.service import add_id_token, add_user, get_user_by_phone


@dataclass(frozen=True)
class DemoCharger:
    charge_point_id: str
    connectors: int
    max_power_w: int
    connector_type: str


@dataclass(frozen=True)
class DemoOrganisation:
    name: str
    org_number: str
    kind: str


@dataclass(frozen=True)
class DemoSite:
    name: str
    address: str
    city: str
    latitude: float
    longitude: float
    grid_capacity_a: int
    list_price_ore: int  # øre/kWh incl. VAT, the public price where no tariff applies
    chargers: tuple[DemoCharger, ...]
    owner: DemoOrganisation | None = None  # None: the operator's own station


KLOKKARSTUA_BRL = DemoOrganisation("Klokkarstua borettslag", "914778271", "borettslag")
SAETRE_AS = DemoOrganisation("Sætre Næringsbygg AS", "923609016", "business")


SITES = (
    DemoSite(
        "Klokkarstua",
        "Klokkarstuveien 2",
        "Klokkarstua",
        59.6525,
        10.4338,
        125,
        450,
        (
            DemoCharger("KLOKK-AC-01", 2, 22_000, "Type2"),
            DemoCharger("KLOKK-AC-02", 2, 22_000, "Type2"),
            DemoCharger("KLOKK-DC-01", 1, 150_000, "CCS2"),
        ),
        KLOKKARSTUA_BRL,
    ),
    DemoSite(
        "Sætre",
        "Storgata 10",
        "Sætre",
        59.6808,
        10.5232,
        200,
        490,
        (
            DemoCharger("SAETRE-AC-01", 2, 11_000, "Type2"),
            DemoCharger("SAETRE-DC-01", 2, 50_000, "CCS2"),
        ),
        SAETRE_AS,
    ),
    DemoSite(
        "Røykenbadet",
        "Badeveien 1",
        "Røyken",
        59.7474,
        10.3926,
        160,
        450,
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
        400,
        (DemoCharger("TOFTE-AC-01", 2, 7_400, "Type2"),),
    ),
)

# phone, name, (organisation, group) or None, invoiced monthly, RFID tags
USERS = (
    ("+4791234567", "Kari Nordmann", (KLOKKARSTUA_BRL, "member"), True, ("04A2B3C4D5",)),
    ("+4792345678", "Ola Hansen", (SAETRE_AS, "employee"), True, ("04B1C2D3E4",)),
    ("+4793456789", "Ingrid Berg", None, False, ("04C9D8E7F6",)),
)


async def seed(session: AsyncSession) -> bool:
    """Insert the demo sites, chargers, tariffs, users and RFID tags. False if present."""
    if (await session.execute(select(Charger.id).limit(1))).first():
        return False
    owners: dict[str, Organisation] = {}
    for site in SITES:
        if site.owner is not None and site.owner.name not in owners:
            org = Organisation(
                name=site.owner.name,
                org_number=site.owner.org_number,
                kind=site.owner.kind,
                street=site.address,
                city=site.city,
            )
            session.add(org)
            await session.flush()
            owners[site.owner.name] = org
        session.add(
            Site(
                name=site.name,
                organisation_id=owners[site.owner.name].id if site.owner else None,
                address=site.address,
                city=site.city,
                latitude=site.latitude,
                longitude=site.longitude,
                grid_capacity_a=site.grid_capacity_a,
                grid_capacity_w=site.grid_capacity_a * 400 * 1732 // 1000,
                list_price_ore_per_kwh=site.list_price_ore,
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
    # Prices excl. VAT: 200 øre = kr 2.50 incl. VAT.
    tariff = await create_tariff(session, "Medlem Klokkarstua", "Borettslagets medlemmer")
    tariff.organisation_id = owners[KLOKKARSTUA_BRL.name].id
    await add_component(session, "Medlem Klokkarstua", kind="energy", price_ore=200)
    await attach_tariff(session, "Medlem Klokkarstua", site="Klokkarstua", group="member")
    tariff = await create_tariff(session, "Ansatt Sætre", "Ansatte: billig i arbeidstiden")
    tariff.organisation_id = owners[SAETRE_AS.name].id
    await add_component(
        session,
        "Ansatt Sætre",
        kind="energy",
        price_ore=80,
        days="mon-fri",
        start="08:00",
        end="16:00",
    )
    await add_component(
        session,
        "Ansatt Sætre",
        kind="energy",
        price_ore=160,
        days="mon-fri",
        start="16:00",
        end="08:00",
    )
    await add_component(session, "Ansatt Sætre", kind="energy", price_ore=160, days="sat-sun")
    await attach_tariff(session, "Ansatt Sætre", site="Sætre", group="employee")
    for phone, name, membership, invoiced, tags in USERS:
        user = await get_user_by_phone(session, phone) or await add_user(session, phone, name=name)
        if membership is not None:
            owner, group = membership
            session.add(
                Membership(user_id=user.id, organisation_id=owners[owner.name].id, group=group)
            )
        user.invoice_billing = invoiced
        if not invoiced:
            session.add(
                PaymentMethod(
                    user_id=user.id,
                    provider="sandbox-card",
                    kind="card",
                    provider_ref="pm_sandbox_visa",
                    brand="visa",
                    last4="4242",
                    label="Visa •••• 4242",
                    is_default=True,
                )
            )
        for tag in tags:
            await add_id_token(session, tag, user, label=f"{name.split()[0]}s brikke")
    return True


def demo_charge_point_ids() -> list[str]:
    return [c.charge_point_id for site in SITES for c in site.chargers]


def demo_id_tags() -> list[str]:
    return [tag for *_, tags in USERS for tag in tags]


# The demo's dashboard users: the operator's admin (TOTP, as every operator role) and the
# board of Klokkarstua borettslag. `serve --demo` prints a one-time sign-in link for each.
DEMO_OPERATOR_ADMIN = "drift@ladeflyt.example"
DEMO_BORETTSLAG_ADMIN = "styret@klokkarstua.example"


async def seed_staff(session: AsyncSession) -> None:
    """The demo's two dashboard users (once)."""
    from core.models import Role
    from core.orgs import repository as repo
    from core.orgs import staff
    from core.orgs.scope import Actor

    actor = Actor.cli("demo")
    if await repo.staff_by_identity(session, DEMO_OPERATOR_ADMIN) is None:
        await staff.add_staff(
            session, actor, DEMO_OPERATOR_ADMIN, Role.OPERATOR_ADMIN, name="Drift (demo)"
        )
    if await repo.staff_by_identity(session, DEMO_BORETTSLAG_ADMIN) is None:
        org = (
            await session.execute(
                select(Organisation).where(Organisation.name == KLOKKARSTUA_BRL.name)
            )
        ).scalar_one()
        await staff.add_staff(
            session, actor, DEMO_BORETTSLAG_ADMIN, Role.ORG_ADMIN, org.id, name="Styret (demo)"
        )


async def sign_in_links(session: AsyncSession, runtime: Any) -> list[tuple[str, str, str | None]]:
    """(who, one-time link, TOTP setup URI or None) for each demo dashboard user."""
    from core.orgs import repository as repo
    from core.orgs import totp
    from core.users.auth import load_secret

    settings = runtime.settings
    base = settings.public_base_url.rstrip("/") + "/" + settings.dashboard_path.strip("/")
    out: list[tuple[str, str, str | None]] = []
    for who, email in (
        ("operator admin", DEMO_OPERATOR_ADMIN),
        ("Klokkarstua borettslag admin", DEMO_BORETTSLAG_ADMIN),
    ):
        code = await runtime.staff_auth.link_code(session, email, settings.dashboard_link_ttl_s)
        person = await repo.staff_by_identity(session, email)
        uri = None
        if person is not None and person.totp_nonce and person.totp_confirmed_at is None:
            uri = totp.provisioning_uri(load_secret(settings), person)
        out.append((who, f"{base}/sign-in/code?identity={email}&code={code}", uri))
    return out
