"""Splitting a borettslag's electricity bill by energy, and energy/cost reports."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.billing.errors import BillingError
from core.billing.reports import period_report
from core.billing.sharing import get_bill_split, share_bill, split_by_energy
from tests.billing.scenario import march
from tests.billing.test_invoices import run
from tests.tariffs.builders import charged, database, oslo, transaction


def test_largest_remainder_gives_the_leftover_ore_to_the_largest_fractions():
    # 100 øre over 1:1:1 -> 33.33 each; one øre left goes to the first of the tie.
    assert split_by_energy(100, [1, 1, 1]) == [34, 33, 33]
    # 1000 over 1:2 -> 333.3 and 666.7: the larger remainder gets the øre.
    assert split_by_energy(1000, [1, 2]) == [333, 667]
    assert split_by_energy(0, [5, 7]) == [0, 0]
    with pytest.raises(ValueError):
        split_by_energy(100, [0, 0])


@given(st.integers(0, 10**9), st.lists(st.integers(0, 10**7), min_size=1, max_size=40))
def test_shares_always_add_up_to_the_bill_and_are_off_by_less_than_one_ore(amount, energies):
    if sum(energies) == 0:
        energies = [*energies, 1]
    shares = split_by_energy(amount, energies)
    assert sum(shares) == amount
    total = sum(energies)
    for share, energy in zip(shares, energies, strict=True):
        assert abs(share * total - amount * energy) < total


async def test_a_sites_electricity_bill_is_split_by_metered_energy(db_url):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        # A session with an unknown tag: the cooperative carries its share.
        await charged(s, m.where, None, oslo(2026, 3, 12, 9, 0), 60, 3)
        split = await share_bill(s, m.where.site, "2026-03", 100_001)
        assert split.energy_wh == 10_000 + 8_000 + 6_000 + 11_000 + 5_000 + 3_500 + 3_500 + 3_000
        assert sum(share.amount_ore for share in split.shares) == 100_001
        by_user = {share.user_id: share for share in split.shares}
        assert by_user[m.kari.id].energy_wh == 24_000
        assert by_user[None].name == "(ukjent bruker)" and by_user[None].energy_wh == 3_000
        # 48 000.48 øre: the one øre left over goes to the largest remainder, hers.
        assert by_user[m.kari.id].amount_ore == 48_001
        with pytest.raises(BillingError, match="split already"):
            await share_bill(s, m.where.site, "2026-03", 5)
        redone = await share_bill(s, m.where.site, "2026-03", 90_000, replace=True)
        assert sum(share.amount_ore for share in redone.shares) == 90_000
        assert (await get_bill_split(s, m.where.site, "2026-03")) == redone
        with pytest.raises(BillingError, match="no metered energy"):
            await share_bill(s, m.where.site, "2026-02", 5)
        with pytest.raises(BillingError, match="no site"):
            await share_bill(s, "Nowhere", "2026-03", 5)


async def test_reports_sum_energy_and_cost_per_user_group_site_and_month(db_url):
    async with database(db_url) as db, transaction(db) as s:
        m = await march(s)
        await run(s)  # prices the invoice customers' sessions
        users = {r.label: r for r in await period_report(s, "2026-03", "user")}
        assert (users["Kari Nordmann"].sessions, users["Kari Nordmann"].energy_wh) == (3, 24_000)
        assert users["Kari Nordmann"].total_ore == 6_000
        assert users["Kari Nordmann"].net_ore + users["Kari Nordmann"].vat_ore == 6_000
        # The guest pays per session, not priced by the invoice run here.
        assert (users["Gjest"].total_ore, users["Gjest"].unpriced_sessions) == (0, 1)

        groups = {r.key: r for r in await period_report(s, "2026-03", "group")}
        assert {k: (r.sessions, r.total_ore) for k, r in groups.items()} == {
            "employee": (2, 2_100),
            "member": (3, 6_000),
            "public": (1, 0),
            "service": (1, 0),
        }
        sites = await period_report(s, "2026-03", "site")
        assert [(r.label, r.sessions, r.energy_wh) for r in sites] == [
            ("Solsiden borettslag", 7, 47_000)
        ]
        months = await period_report(s, "2026", "month")
        assert [(r.key, r.sessions) for r in months[2:4]] == [("2026-03", 7), ("2026-04", 1)]
        assert len(months) == 12
        with pytest.raises(BillingError):
            await period_report(s, "March", "user")
        with pytest.raises(BillingError):
            await period_report(s, "2026-03", "colour")
        assert m.ola.id
