"""Prices follow the membership valid at that site at that time: a member of one
borettslag pays the public price at the next, and the quote, the app's price, the running
cost, the stored price and the invoice all agree."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import httpx

from core.billing.service import run_invoices
from core.db import transaction
from core.orgs import prices, repository, service
from core.orgs.groups import group_at
from core.orgs.schemas import (
    AssignmentIn,
    MembershipIn,
    MembershipPatch,
    OrganisationIn,
    SiteIn,
    TariffComponentIn,
    TariffIn,
)
from core.orgs.scope import Actor
from core.tariffs.service import price_session, quote, running_cost
from tests.api.graphql_helpers import gql
from tests.billing.test_invoices import SELLER
from tests.tariffs.builders import Place, charged, oslo, place

OPERATOR = Actor.cli("test")
NOON = oslo(2026, 3, 4, 12, 0)
NEAR = """query { chargersNear(lat: 59.6, lon: 10.5, radiusKm: 40) {
  edges { node { code connectors { price { perKwhOre } } } } } }"""


async def _org_with_prices(s, name: str, site: str, charger: str, lat: float, lon: float):
    org = await service.create_organisation(s, OPERATOR, OrganisationIn(name=name))
    row = await service.create_site(
        s, OPERATOR, SiteIn(name=site, organisation_id=org.id, latitude=lat, longitude=lon)
    )
    where = await place(s, site=site, charger=charger)
    for group, net in (("member", 200), ("public", 360)):
        tariff = await prices.create_tariff(
            s,
            OPERATOR,
            TariffIn(
                name=f"{site} {group}",
                organisation_id=org.id,
                components=[TariffComponentIn(kind="energy", price_ore=Decimal(net))],
            ),
        )
        await prices.create_assignment(
            s,
            OPERATOR,
            AssignmentIn(
                tariff_id=tariff.id, site_id=row.id, group=group, valid_from=oslo(2026, 1, 1)
            ),
        )
    return org, where


async def test_a_member_pays_member_price_at_home_and_public_price_elsewhere(
    app_runtime, client: httpx.AsyncClient
):
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        klokk, at_home = await _org_with_prices(
            s, "Klokkarstua borettslag", "Klokkarstua", "KLOKK-1", 59.6525, 10.4338
        )
        _, away = await _org_with_prices(s, "Tofte sameie", "Tofte", "TOFTE-1", 59.5447, 10.5613)
        membership = await service.add_membership(
            s,
            OPERATOR,
            MembershipIn(organisation_id=klokk.id, group="member", phone="91234567", name="Kari"),
        )
        kari = membership.user_id

        home_q = await quote(s, at_home.connectors[0], kari, NOON)
        away_q = await quote(s, away.connectors[0], kari, NOON)
        assert (home_q.customer_group, home_q.headline_ore_per_kwh) == ("member", 250)
        assert (away_q.customer_group, away_q.headline_ore_per_kwh) == ("public", 450)

        home = await charged(s, at_home, None, NOON, 60, 10)
        away_cs = await charged(s, away, None, NOON, 60, 10)
        for cs in (home, away_cs):
            cs.user_id = kari
        live = await charged(s, away, None, NOON, 60, 5, evse=2, completed=False)
        live.user_id = kari
        await s.flush()
        running = await running_cost(s, live.id, NOON)
        assert (running.customer_group, running.total_ore) == ("public", 2250)
        home_bill, away_bill = await price_session(s, home), await price_session(s, away_cs)
        assert (home.cost_ore, home.price_group) == (2500, "member")
        assert (away_cs.cost_ore, away_cs.price_group) == (4500, "public")
        assert (home_bill.total_ore, away_bill.total_ore) == (2500, 4500)

        from core.models import User

        (await s.get_one(User, kari)).invoice_billing = True
        await s.flush()
        run = await run_invoices(s, "2026-03", issue_date=date(2026, 4, 1), settings=SELLER)
        assert [(i.user_id, i.total_ore) for i in run.invoices] == [(kari, 2500 + 4500)]
        token = (await app_runtime.auth.access_token_for(s, "91234567")).access_token

    # The app shows the same prices (now is not noon in March, but the tariffs hold).
    near = await gql(client, NEAR, token=token)
    shown = {
        e["node"]["code"]: {c["price"]["perKwhOre"] for c in e["node"]["connectors"]}
        for e in near["data"]["chargersNear"]["edges"]
    }
    assert shown == {"KLOKK-1": {250}, "TOFTE-1": {450}}
    guest = await gql(client, NEAR)
    assert {
        c["price"]["perKwhOre"]
        for e in guest["data"]["chargersNear"]["edges"]
        for c in e["node"]["connectors"]
    } == {450}


async def test_membership_of_one_site_and_for_a_period(app_runtime):
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        org, first = await _org_with_prices(s, "Solsiden sameie", "Solsiden A", "SOL-A", 59.6, 10.4)
        second_site = await service.create_site(
            s, OPERATOR, SiteIn(name="Solsiden B", organisation_id=org.id)
        )
        second: Place = await place(s, site="Solsiden B", charger="SOL-B")
        # The organisation's tariffs are attached at site A only.
        site_a = (await repository.find_site(s, OPERATOR, "Solsiden A")).id
        m = await service.add_membership(
            s,
            OPERATOR,
            MembershipIn(
                organisation_id=org.id,
                site_id=site_a,
                group="member",
                phone="92222222",
                valid_from=oslo(2026, 3, 1),
                valid_to=oslo(2026, 4, 1),
            ),
        )
        user = m.user_id
        assert await group_at(s, user, site_a, NOON) == "member"
        assert await group_at(s, user, second_site.id, NOON) == "public"
        assert await group_at(s, user, site_a, oslo(2026, 2, 28, 23, 0)) == "public"
        assert await group_at(s, user, site_a, oslo(2026, 4, 1)) == "public"
        assert (await quote(s, first.connectors[0], user, NOON)).headline_ore_per_kwh == 250
        after = await quote(s, first.connectors[0], user, oslo(2026, 4, 2, 12, 0))
        assert after.headline_ore_per_kwh == 450
        assert second.site == "Solsiden B"
        # An organisation-wide membership starting later is less specific than the site's.
        await service.add_membership(
            s,
            OPERATOR,
            MembershipIn(
                organisation_id=org.id, group="tenant", driver_id=user, valid_from=oslo(2026, 3, 2)
            ),
        )
        assert await group_at(s, user, site_a, NOON) == "member"
        assert await group_at(s, user, second_site.id, NOON) == "tenant"
        await service.update_membership(s, OPERATOR, m.id, MembershipPatch(site_id=None))
        assert await group_at(s, user, second_site.id, NOON) == "tenant"  # later start wins


async def test_unknown_groups_are_refused(app_runtime):
    import pytest

    from core.orgs.errors import Invalid
    from core.tariffs.admin import attach_tariff, create_tariff
    from core.tariffs.errors import TariffError

    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        org, _ = await _org_with_prices(s, "Brl", "Brl-site", "BRL-1", 59.6, 10.4)
        with pytest.raises(Invalid, match="unknown group 'vip'"):
            await service.add_membership(
                s, OPERATOR, MembershipIn(organisation_id=org.id, group="vip", phone="93333333")
            )
        await create_tariff(s, "VIP")
        with pytest.raises(TariffError, match="unknown group 'vip'"):
            await attach_tariff(s, "VIP", site="Brl-site", group="vip")
        from core.orgs.schemas import GroupIn

        await service.add_group(s, OPERATOR, org.id, GroupIn(name="VIP"))
        await attach_tariff(s, "VIP", site="Brl-site", group="vip")
        added = await service.add_membership(
            s, OPERATOR, MembershipIn(organisation_id=org.id, group="vip", phone="93333333")
        )
        assert added.group == "vip"
