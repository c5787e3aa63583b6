"""`ladeflyt charger add|list|show|update|remove|import`, run in-process on a real database."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import timedelta

import httpx
from sqlalchemy import func, select

from core.models import AuditEntry, Charger, ChargingSession, Site
from core.timeutil import utcnow
from ladeflyt import cli_chargers
from ladeflyt.console import ProgressBar
from tests.api.graphql_helpers import gql
from tests.ladeflyt.helpers import ok, query
from tests.tariffs.builders import database, transaction

NEAR = """query($lat: Float!, $lon: Float!) {
  chargersNear(lat: $lat, lon: $lon, radiusKm: 5) {
    totalCount edges { node { code distanceKm site { name address }
      connectors { evseId maxKw } } } } }"""


async def test_a_charger_added_with_a_location_is_found_by_chargers_near(ladeflyt, runtime):
    added = await asyncio.to_thread(
        ladeflyt,
        "charger",
        "add",
        "KLOKK-AC-01",
        "--site",
        "Klokkarstua",
        "--connectors",
        "2",
        "--lat",
        "59.6525",
        "--lon",
        "10.4338",
        "--address",
        "Klokkarstuveien 2",
    )
    assert ok(added) == "charger KLOKK-AC-01 added\n"
    # No site named: the address names the operator's own station there.
    ok(
        await asyncio.to_thread(
            ladeflyt,
            "charger",
            "add",
            "TOFTE-1",
            "--lat",
            "59.5465",
            "--lon",
            "10.5614",
            "--address",
            "Tofteveien 1",
            "--max-kw",
            "50",
            "--type",
            "CCS2",
        )
    )
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.http_app()), base_url="http://test"
    ) as client:
        found = (await gql(client, NEAR, {"lat": 59.66, "lon": 10.44}))["data"]["chargersNear"]
    assert found["totalCount"] == 1
    node = found["edges"][0]["node"]
    assert node["code"] == "KLOKK-AC-01" and node["distanceKm"] < 2
    assert node["site"] == {"name": "Klokkarstua", "address": "Klokkarstuveien 2"}
    assert [c["evseId"] for c in node["connectors"]] == [1, 2]


def test_a_place_that_disagrees_with_the_site_is_refused(ladeflyt, db_url):
    ok(
        ladeflyt(
            "charger", "add", "A", "--site", "Klokkarstua", "--lat", "59.6525", "--lon", "10.4338"
        )
    )
    code, _, err = ladeflyt(
        "charger", "add", "B", "--site", "Klokkarstua", "--lat", "60.0", "--lon", "10.4338"
    )
    assert code == 2
    assert "site Klokkarstua is at 59.65250, 10.43380" in err and "another --site" in err
    for args, message in [
        (("--lat", "59.6"), "give both a latitude and a longitude"),
        (("--lat", "99", "--lon", "10"), "latitude 99.0 is not between -90 and 90"),
        (("--lat", "59", "--lon", "10"), "name the site (--site) or give its --address"),
    ]:
        code, _, err = ladeflyt("charger", "add", "C", *args)
        assert (code, err.strip()) == (2, f"error: {message}")
    # What the site lacks is filled in; the same place again is fine.
    ok(
        ladeflyt(
            "charger",
            "add",
            "D",
            "--site",
            "Klokkarstua",
            "--address",
            "Klokkarstuveien 2",
            "--lat",
            "59.6525",
            "--lon",
            "10.4338",
        )
    )
    ((address,),) = query(db_url, select(Site.address).where(Site.name == "Klokkarstua"))
    assert address == "Klokkarstuveien 2"
    assert [n for (n,) in query(db_url, select(Charger.charge_point_id))] == ["A", "D"]


def test_list_show_and_update(ladeflyt, db_url):
    ok(
        ladeflyt(
            "charger",
            "add",
            "SOL-1",
            "--site",
            "Solsiden",
            "--lat",
            "59.7",
            "--lon",
            "10.5",
            "--address",
            "Solsidevegen 1",
            "--connectors",
            "2",
            "--max-kw",
            "22",
        )
    )
    ok(ladeflyt("charger", "add", "SOL-2", "--site", "Solsiden"))
    table = ok(ladeflyt("charger", "list")).splitlines()
    assert table[0].split() == ["charger", "site", "plugs", "max", "kW", "state", "location"]
    assert table[1].split() == [
        "SOL-1",
        "Solsiden",
        "2",
        "22",
        "offline",
        "59.70000,",
        "10.50000",
        "Solsidevegen",
        "1",
    ]

    updated = ladeflyt(
        "charger",
        "update",
        "SOL-1",
        "--max-kw",
        "11",
        "--code",
        "SOL 01",
        "--lat",
        "59.71",
        "--lon",
        "10.51",
        "--password",
        "sixteen-bytes-long!",
    )
    assert ok(updated) == "charger SOL-1 updated\n"
    shown = json.loads(ok(ladeflyt("charger", "show", "sol01", "--json")))  # by printed code
    assert (shown["charge_point_id"], shown["public_code"]) == ("SOL-1", "SOL 01")
    assert (shown["latitude"], shown["longitude"], shown["address"]) == (
        59.71,
        10.51,
        "Solsidevegen 1",
    )
    assert [c["max_power_w"] for c in shown["connectors"]] == [11_000, 11_000]
    assert (shown["sessions"], shown["active_session_ids"]) == (0, [])
    text = ok(ladeflyt("charger", "show", "SOL-1"))
    assert "  location       59.71000, 10.51000" in text and "plug 2" in text

    ok(ladeflyt("charger", "update", "SOL-2", "--site", "Sætre", "--status", "Pending"))
    rows = json.loads(ok(ladeflyt("charger", "list", "--site", "Sætre", "--json")))
    assert [(r["charge_point_id"], r["registration_status"]) for r in rows] == [
        ("SOL-2", "Pending")
    ]
    assert ladeflyt("charger", "update", "SOL-1")[2] == (
        "error: nothing to change: see `ladeflyt charger update --help`\n"
    )
    assert ladeflyt("charger", "show", "NOPE")[:1] == (2,)
    # Every change is in the audit log, as the operator at the console.
    actions = [a for (a,) in query(db_url, select(AuditEntry.action).order_by(AuditEntry.id))]
    assert actions.count("charger.create") == 2 and "charger.password" in actions
    assert "charger.update" in actions and "site.update" in actions
    labels = {label for (label,) in query(db_url, select(AuditEntry.actor_label))}
    assert all(label.startswith("cli:") for label in labels)


async def _session(db_url: str, cp_id: str, status: str) -> int:
    async with database(db_url) as db, transaction(db) as s:
        charger = (
            await s.execute(select(Charger).where(Charger.charge_point_id == cp_id))
        ).scalar_one()
        started = utcnow() - timedelta(hours=2)
        cs = ChargingSession(
            charger_id=charger.id,
            transaction_id=f"t-{status}",
            status=status,
            started_at=started,
            stopped_at=started + timedelta(hours=1) if status == "completed" else None,
            energy_wh=5000 if status == "completed" else 0,
            flags=[],
        )
        s.add(cs)
        await s.flush()
        return cs.id


def test_remove_refuses_a_charging_charger_unless_forced_and_keeps_its_sessions(ladeflyt, db_url):
    ok(ladeflyt("charger", "add", "OLD-1", "--site", "Tofte", "--lat", "59.5", "--lon", "10.5"))
    ok(ladeflyt("charger", "add", "NEW-1", "--site", "Tofte"))
    asyncio.run(_session(db_url, "OLD-1", "completed"))
    active = asyncio.run(_session(db_url, "OLD-1", "active"))

    code, _, err = ladeflyt("charger", "remove", "OLD-1")
    assert code == 2
    assert f"charger OLD-1 is charging (session {active}): stop it first, or --force" in err
    out = ok(ladeflyt("charger", "remove", "OLD-1", "--force"))
    assert out.splitlines() == [
        "charger OLD-1 removed; its 2 session(s) are kept",
        f"still charging: session {active} (ends when the charger reports it, or falls silent)",
    ]
    # Kept for history, refused when it connects, out of the lists and the way.
    rows = query(
        db_url,
        select(Charger.registration_status, Charger.public_code, Charger.removed_at).where(
            Charger.charge_point_id == "OLD-1"
        ),
    )
    assert rows[0][:2] == ("Rejected", None) and rows[0][2] is not None
    assert query(db_url, select(func.count(ChargingSession.id))) == [(2,)]
    listed = [r["charge_point_id"] for r in json.loads(ok(ladeflyt("charger", "list", "--json")))]
    assert listed == ["NEW-1"]
    assert "OLD-1" in ok(ladeflyt("charger", "list", "--all"))
    assert "(removed " in ok(ladeflyt("charger", "show", "OLD-1"))
    assert (
        ladeflyt("charger", "update", "OLD-1", "--max-kw", "11")[2] == "error: no charger OLD-1\n"
    )
    code, _, err = ladeflyt("charger", "add", "OLD-1")
    assert code == 2 and "was removed on" in err and "another one" in err
    assert ok(ladeflyt("charger", "add", "OLD-2", "--code", "OLD-1"))  # its printed code is free

    # A charger that never charged has no history to keep.
    assert (
        ok(ladeflyt("charger", "remove", "NEW-1")) == "charger NEW-1 deleted (it had no sessions)\n"
    )
    assert query(db_url, select(Charger.id).where(Charger.charge_point_id == "NEW-1")) == []


def test_import_adds_the_valid_rows_in_batches_and_lists_every_rejected_one(
    ladeflyt, db_url, tmp_path, monkeypatch
):
    monkeypatch.setattr(cli_chargers, "IMPORT_BATCH", 2)
    ok(ladeflyt("charger", "add", "EXISTS", "--site", "Sætre"))
    csv = tmp_path / "chargers.csv"
    csv.write_text(
        "charge_point_id;site;lat;lon;address;connectors;max_kw;type\n"
        "SAE-1;Sætre;59,68;10,52;Sætreveien 1;2;22;Type2\n"
        "SAE-2;Sætre;;;;1;50;CCS2\n"
        "EXISTS;Sætre;;;;1;22;\n"
        "\n"
        "BAD-LAT;Hurum;91;10.4;;1;22;\n"
        "BAD-N;Hurum;;;;two;22;\n"
        "SAE-1;Sætre;;;;1;22;\n"
        "HUR-1;Hurum;59.6;10.4;;1;11;\n",
        encoding="utf-8",
    )
    code, out, err = ladeflyt("charger", "import", str(csv))
    assert code == 1
    assert out == "3 of 7 charger(s) imported, 4 rejected\n"
    rejected = [line for line in err.splitlines() if line.startswith("line ")]
    assert rejected == [
        "line 4 (EXISTS): charger EXISTS exists already",
        "line 6 (BAD-LAT): latitude 91.0 is not between -90 and 90",
        "line 7 (BAD-N): connectors: not a number: 'two'",
        "line 8 (SAE-1): charger SAE-1 exists already",
    ]
    assert "[########################] 7/7 rows" in err and "\r" not in err
    rows = {r["charge_point_id"]: r for r in json.loads(ok(ladeflyt("charger", "list", "--json")))}
    assert sorted(rows) == ["EXISTS", "HUR-1", "SAE-1", "SAE-2"]
    assert (rows["SAE-1"]["latitude"], rows["SAE-1"]["address"]) == (59.68, "Sætreveien 1")
    assert [c["type"] for c in rows["SAE-2"]["connectors"]] == ["CCS2"]
    assert rows["SAE-2"]["max_power_w"] == 50_000

    clean = tmp_path / "more.csv"
    clean.write_text("charge_point_id,site\nHUR-2,Hurum\n", encoding="utf-8")
    assert ladeflyt("charger", "import", str(clean))[:2] == (
        0,
        "1 of 1 charger(s) imported, 0 rejected\n",
    )
    code, _, err = ladeflyt("charger", "import", str(tmp_path / "missing.csv"))
    assert code == 2 and "cannot read" in err
    clean.write_text("id,site\nX,Y\n", encoding="utf-8")
    code, _, err = ladeflyt("charger", "import", str(clean))
    assert code == 2 and "`charge_point_id`" in err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_is_a_bar_on_a_terminal_and_plain_lines_elsewhere():
    tty, log = _Terminal(), io.StringIO()
    for stream in (tty, log):
        bar = ProgressBar("rows", out=stream, width=10)
        for done in range(101):
            bar(done, 100)
    assert tty.getvalue().count("\r") == 101 and tty.getvalue().endswith("100/100 rows\n")
    lines = log.getvalue().splitlines()
    assert len(lines) == 10 and "\r" not in log.getvalue()
    assert lines[0] == "[#---------]  10/100 rows" and lines[-1] == "[##########] 100/100 rows"
