"""`ladeflyt tariff|invoices|spot|report|share-bill`: the worked example of core/billing/README.md.

A borettslag with member, employee and guest prices, one month of charging, its invoices.
The commands run in-process (`ladeflyt.cli.main`) for speed; one runs as a real process.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from core.billing import service as billing_service
from core.config import Settings
from core.models import Charger, Connector, Site, User
from core.tariffs.service import price_session
from ladeflyt import cli
from tests.billing.test_invoices import SELLER
from tests.tariffs.builders import Place, charged, database, oslo, transaction

SITE = "Solsiden borettslag"

SETUP = [
    ["org", "add", SITE, "--org-number", "987654325", "--kind", "borettslag"],
    ["site", "add", SITE, "--org", SITE, "--address", "Solsidevegen 1"],
    ["charger", "add", "SOL-1", "--site", SITE, "--connectors", "2", "--max-kw", "22"],
    ["user", "add", "91000001", "--name", "Kari Nordmann"],
    ["user", "add", "91000002", "--name", "Ola Hansen"],
    ["user", "add", "91000003", "--name", "Gjest Gjestesen"],
    ["member", "add", "91000001", "--org", SITE, "--group", "member", "--ref", "H0101"],
    ["member", "add", "91000002", "--org", SITE, "--group", "employee"],
    ["invoices", "customer", "91000001", "--invoice-billing"],
    ["invoices", "customer", "91000002", "--invoice-billing", "--company", "Hansen Transport AS",
     "--org-number", "974760673", "--street", "Storgata 1", "--postal-code", "3475",
     "--city", "Sætre", "--reference", "Ola H."],
    ["tariff", "create", "Beboer", "--description", "members of the borettslag"],
    ["tariff", "add-component", "Beboer", "--kind", "energy", "--price", "250"],
    ["tariff", "create", "Ansatt", "--description", "employees of the caretaker firm"],
    ["tariff", "add-component", "Ansatt", "--kind", "energy", "--price", "100",
     "--days", "mon-fri", "--from", "08:00", "--to", "16:00"],
    ["tariff", "add-component", "Ansatt", "--kind", "energy", "--price", "200",
     "--days", "mon-fri", "--from", "16:00", "--to", "08:00"],
    ["tariff", "add-component", "Ansatt", "--kind", "energy", "--price", "200",
     "--days", "weekend"],
    ["tariff", "create", "Gjest", "--description", "guests and the public"],
    ["tariff", "add-component", "Gjest", "--kind", "energy", "--price", "450"],
    ["tariff", "add-component", "Gjest", "--kind", "parking", "--price", "100",
     "--grace-min", "30", "--cap", "30000"],
    ["tariff", "attach", "Beboer", "--site", SITE, "--group", "member", "--from", "2026-01-01"],
    ["tariff", "attach", "Ansatt", "--site", SITE, "--group", "employee", "--from", "2026-01-01"],
    ["tariff", "attach", "Gjest", "--site", SITE, "--group", "public", "--from", "2026-01-01"],
]  # fmt: skip


@pytest.fixture
def ladeflyt(db_url, monkeypatch, capsys):
    settings = Settings(database_url=db_url)
    monkeypatch.setattr(cli, "get_settings", lambda: settings)
    monkeypatch.setattr(billing_service, "get_billing_settings", lambda: SELLER)

    def run(*args: str, code: int = 0) -> str:
        assert cli.main(list(args)) == code, capsys.readouterr().err
        captured = capsys.readouterr()
        return captured.out if code == 0 else captured.err

    return run


async def _march_sessions(db_url: str) -> None:
    """What the chargers report in March (see tests/tariffs/builders.charged)."""
    async with database(db_url) as db, transaction(db) as s:
        users = {u.phone: u for u in (await s.execute(select(User))).scalars()}
        site = (await s.execute(select(Site))).scalar_one()
        charger = (await s.execute(select(Charger))).scalar_one()
        pks = list((await s.execute(select(Connector.id).order_by(Connector.evse_id))).scalars())
        where = Place(site.name, charger.charge_point_id, charger.id, pks)
        kari, ola, guest = users["+4791000001"], users["+4791000002"], users["+4791000003"]
        month = [
            await charged(s, where, kari, oslo(2026, 3, 3, 19, 0), 60, 10),
            await charged(s, where, kari, oslo(2026, 3, 20, 18, 0), 60, 8),
            await charged(s, where, ola, oslo(2026, 3, 4, 10, 0), 60, 11, evse=2),
            await charged(s, where, ola, oslo(2026, 3, 4, 20, 0), 60, 5, evse=2),
            await charged(s, where, guest, oslo(2026, 3, 10, 12, 0), 60, 7, idle_minutes=60),
        ]
        for cs in month:  # as core.sessions does when a charger reports the stop
            await price_session(s, cs)


def test_worked_example_borettslag_prices_and_one_month_of_invoices(ladeflyt, db_url, tmp_path):
    for args in SETUP:
        ladeflyt(*args)

    at_noon = ("tariff", "quote", "--charger", "SOL-1", "--at", "2026-03-04T12:00")
    assert "250 øre/kWh  Energy" in ladeflyt(*at_noon, "--user", "91000001")
    employee = ladeflyt(*at_noon, "--user", "91000002")
    assert "now: 100 øre/kWh incl. VAT" in employee
    assert "200 øre/kWh  Energy, weekdays 16:00\u201308:00  (not now)" in employee
    guest = json.loads(ladeflyt(*at_noon, "--user", "91000003", "--json"))
    assert (guest["customer_group"], guest["tariff_name"], guest["headline_ore_per_kwh"]) == (
        "public",
        "Gjest",
        450,
    )
    assert [(c["kind"], c["unit_price_ore"], c["cap_ore"]) for c in guest["components"]] == [
        ("energy", "450.00", None),
        ("parking", "100.00", 30000),
    ]
    listing = ladeflyt("tariff", "list")
    assert "-> site Solsiden borettslag, group employee, from 2025-12-31 23:00" in listing

    asyncio.run(_march_sessions(db_url))
    run = ladeflyt("invoices", "run", "--period", "2026-03", "--issue-date", "2026-04-01")
    assert "invoice 1  Kari Nordmann" in run and "45.00 NOK" in run
    assert "invoice 2  Hansen Transport AS" in run and "21.00 NOK" in run
    assert "2 invoice(s), 4 session(s) for 2026-03" in run
    again = ladeflyt("invoices", "run", "--period", "2026-03", "--issue-date", "2026-04-02")
    assert "0 invoice(s)" in again

    invoices = json.loads(ladeflyt("invoices", "list", "--json"))
    assert [(i["number"], i["total_ore"], i["status"]) for i in invoices] == [
        (2, 2100, "open"),
        (1, 4500, "open"),
    ]
    html = tmp_path / "faktura-1.html"
    ladeflyt("invoices", "show", "1", "--html", "--out", str(html))
    assert invoices[1]["kid"] in html.read_text(encoding="utf-8")
    xml = tmp_path / "faktura-2.xml"
    ladeflyt("invoices", "export-ehf", "2", "--out", str(xml))
    assert b"<cbc:PaymentID>" + invoices[0]["kid"].encode() in xml.read_bytes()
    assert "business customers" in ladeflyt("invoices", "export-ehf", "1", code=2)

    report = ladeflyt("report", "--period", "2026-03", "--by", "group")
    assert "employee" in report and "16.000" in report and "21.00" in report
    users = json.loads(ladeflyt("report", "--period", "2026-03", "--by", "user", "--json"))
    # The guest paid by card: 7 kWh at 4.50 and 30 idle minutes after the free 30 at 1.00.
    assert {r["label"]: r["total_ore"] for r in users}["Gjest Gjestesen"] == 3150 + 3000

    shared = json.loads(
        ladeflyt("share-bill", "--site", SITE, "--period", "2026-03", "--amount-ore", "20000",
                 "--json")
    )  # fmt: skip
    assert [(s["name"], s["amount_ore"]) for s in shared["shares"]] == [
        ("Kari Nordmann", 8780),
        ("Ola Hansen", 7805),
        ("Gjest Gjestesen", 3415),
    ]
    ladeflyt("invoices", "paid", "1")
    credit = ladeflyt("invoices", "credit", "2", "--reason", "Feil pris")
    assert "credit note 3" in credit
    shown = ladeflyt("invoices", "show", "2")
    assert "(credited)" in shown and "credit note 3: -21.00 NOK (Feil pris)" in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("tariff", "add-component", "Nope", "--kind", "energy", "--price", "1"), "no tariff"),
        (("tariff", "attach", "Beboer", "--site", "Nowhere"), "no site"),
        (("tariff", "create", "Beboer"), "exists already"),
        (("invoices", "run", "--period", "2026-13"), "not a period"),
        (("invoices", "show", "99"), "no invoice 99"),
        (("report", "--period", "March"), "not a period"),
        (("tariff", "quote", "--charger", "SOL-9"), "no connector"),
    ],
)
def test_operator_mistakes_get_a_clear_message_and_exit_code_2(ladeflyt, args, message):
    ladeflyt("charger", "add", "SOL-1", "--site", SITE)
    ladeflyt("tariff", "create", "Beboer")
    assert message in ladeflyt(*args, code=2)


def test_spot_prices_import_from_a_real_process(db_url, tmp_path: Path):
    csv = tmp_path / "no1.csv"
    csv.write_text(
        "time_start,NOK_per_kWh\n2026-05-06T12:00:00+02:00,0.8\n2026-05-06T13:00:00+02:00,\n",
        encoding="utf-8",
    )
    env = {**os.environ, "LADEFLYT_DATABASE_URL": db_url}
    done = subprocess.run(
        [sys.executable, "-m", "ladeflyt.cli", "spot", "import", str(csv), "--area", "NO1",
         "--resolution", "60"],
        env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "4 quarter-hour prices stored for NO1" in done.stdout
    assert "missing prices (UTC): 2026-05-06 11:00" in done.stderr
