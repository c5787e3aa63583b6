"""Two organisations and the operator's own station, with everything each can own: the
arrangement for isolation, API and pricing tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncSession

from core.chargers.service import add_charger
from core.identity import contracts
from core.identity.contracts import ContractIn
from core.models import ChargingSession, Role, StaffSession
from core.orgs import apikeys, prices, service, staff
from core.orgs.schemas import (
    ApiKeyIn,
    AssignmentIn,
    GroupIn,
    IdTokenIn,
    MembershipIn,
    OrganisationIn,
    SiteIn,
    TariffComponentIn,
    TariffIn,
)
from core.orgs.scope import Actor
from core.timeutil import utcnow

OPERATOR = Actor.cli("test")


@dataclass
class Side:
    """One organisation's objects: ids by the API's path parameter names, and strings that
    must never show up in another organisation's answers."""

    ids: dict[str, int] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)
    markers: list[str] = field(default_factory=list)
    staff_email: str = ""


@dataclass
class World:
    a: Side
    b: Side
    operator_key: str
    support_key: str
    operator_site_id: int
    operator_charger_id: int


async def _side(
    s: AsyncSession,
    name: str,
    number: str,
    site: str,
    charger: str,
    phone: str,
    tag: str,
    group: str,
    lat: float,
) -> Side:
    side = Side()
    org = await service.create_organisation(
        s, OPERATOR, OrganisationIn(name=name, org_number=number)
    )
    site_row = await service.create_site(
        s, OPERATOR, SiteIn(name=site, organisation_id=org.id, latitude=lat, longitude=10.4)
    )
    ch = await add_charger(s, charger, site_name=site, connectors=2)
    await service.add_group(s, OPERATOR, org.id, GroupIn(name=f"board {site}"))
    m = await service.add_membership(
        s,
        OPERATOR,
        MembershipIn(organisation_id=org.id, group=group, phone=phone, name=f"Driver {site}"),
    )
    token = await service.add_id_token(s, OPERATOR, IdTokenIn(driver_id=m.user_id, token=tag))
    emaid = f"NO-LFT-C{ch.id:08d}-{org.id % 10}"
    contract = await contracts.add_contract(
        s, OPERATOR, ContractIn(driver_id=m.user_id, emaid=emaid)
    )
    tariff = await prices.create_tariff(
        s,
        OPERATOR,
        TariffIn(
            name=f"Pris {site}",
            organisation_id=org.id,
            components=[TariffComponentIn(kind="energy", price_ore=Decimal(200))],
        ),
    )
    assignment = await prices.create_assignment(
        s,
        OPERATOR,
        AssignmentIn(
            tariff_id=tariff.id,
            site_id=site_row.id,
            group=group,
            valid_from=datetime(2026, 1, 1, tzinfo=UTC),
        ),
    )
    started = utcnow() - timedelta(days=1)
    cs = ChargingSession(
        charger_id=ch.id,
        connector_pk=None,
        evse_id=1,
        connector_id=1,
        transaction_id=f"tx-{charger}",
        user_id=m.user_id,
        id_token=tag,
        status="completed",
        started_at=started,
        stopped_at=started + timedelta(hours=1),
        energy_wh=10_000,
        cost_ore=2500,
        vat_ore=500,
        price_group=group,
        flags=[],
    )
    s.add(cs)
    await s.flush()
    email = f"admin@{site.lower()}.example"
    added = await staff.add_staff(s, OPERATOR, email, Role.ORG_ADMIN, org.id)
    staff_session = StaffSession(
        staff_id=added.staff.id,
        token_hash=f"{site}-session".ljust(64, "0"),
        stage="active",
        expires_at=utcnow() + timedelta(hours=1),
    )
    s.add(staff_session)
    await s.flush()
    for role in (Role.ORG_ADMIN, Role.ORG_VIEWER):
        created = await apikeys.create_key(
            s, OPERATOR, ApiKeyIn(role=role, organisation_id=org.id, name=f"{site} {role}")
        )
        side.keys[role.value] = created.key
    spare = await apikeys.create_key(
        s, OPERATOR, ApiKeyIn(role=Role.ORG_VIEWER, organisation_id=org.id, name="spare")
    )
    side.ids = {
        "org_id": org.id,
        "site_id": site_row.id,
        "charger_id": ch.id,
        "membership_id": m.id,
        "driver_id": m.user_id,
        "token_id": token.id,
        "contract_id": contract.id,
        "tariff_id": tariff.id,
        "assignment_id": assignment.id,
        "session_id": cs.id,
        "key_id": spare.id,
        "staff_session_id": staff_session.id,
    }
    side.markers = [
        name,
        site,
        charger,
        phone,
        tag,
        f"Pris {site}",
        f"board {site}",
        email,
        contract.emaid,
    ]
    side.staff_email = email
    return side


async def build_world(s: AsyncSession) -> World:
    a = await _side(
        s,
        "Klokkarstua borettslag",
        "987654325",
        "Klokkarstua",
        "KLOKK-1",
        "+4791000001",
        "KARITAG",
        "member",
        59.65,
    )
    b = await _side(
        s, "Tofte sameie", "951515159", "Tofte", "TOFTE-1", "+4791000002", "PERTAG", "tenant", 59.54
    )
    op_site = await service.create_site(s, OPERATOR, SiteIn(name="Røykenbadet"))
    op_charger = await add_charger(s, "ROYK-1", site_name="Røykenbadet")
    operator_key = await apikeys.create_key(s, OPERATOR, ApiKeyIn(role=Role.OPERATOR_ADMIN))
    support_key = await apikeys.create_key(s, OPERATOR, ApiKeyIn(role=Role.OPERATOR_SUPPORT))
    return World(a, b, operator_key.key, support_key.key, op_site.id, op_charger.id)
