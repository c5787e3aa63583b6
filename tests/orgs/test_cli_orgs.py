"""`ladeflyt org|site|member|staff|apikey` as the README shows them."""

from __future__ import annotations

import argparse
import asyncio
import json

import httpx
import pytest
from sqlalchemy import select

from core.config import Settings
from core.db import create_engine, session_factory
from core.models import AuditEntry, Charger, Site
from ladeflyt import cli, cli_orgs
from ladeflyt.runtime import Runtime


@pytest.fixture
def ladeflyt(settings: Settings, monkeypatch, capsys):
    monkeypatch.setattr(cli, "get_settings", lambda: settings)

    def run(*args: str, code: int = 0) -> str:
        assert cli.main(list(args)) == code, capsys.readouterr().err
        captured = capsys.readouterr()
        return captured.out if code == 0 else captured.err

    run.capsys = capsys  # type: ignore[attr-defined]
    return run


def _rows(settings: Settings, query):
    async def rows():
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as s:
                return list((await s.execute(query)).scalars())
        finally:
            await engine.dispose()

    return asyncio.run(rows())


def _get(settings: Settings, path: str, key: str) -> httpx.Response:
    async def get() -> httpx.Response:
        runtime = Runtime.build(settings)
        try:
            transport = httpx.ASGITransport(app=runtime.http_app())
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                return await client.get(path, headers={"Authorization": f"Bearer {key}"})
        finally:
            await runtime.engine.dispose()

    return asyncio.run(get())


def test_an_organisation_its_site_charger_members_staff_and_key(ladeflyt, settings, tmp_path):
    settings.secret_file = str(tmp_path / "secret")
    assert "MOD11" in ladeflyt(
        "org", "add", "Klokkarstua borettslag", "--org-number", "987654321", code=2
    )
    out = ladeflyt(
        "org",
        "add",
        "Klokkarstua borettslag",
        "--org-number",
        "987 654 325",
        "--kind",
        "borettslag",
    )
    assert "organisation 1 Klokkarstua borettslag (org. nr. 987654325) added" in out
    assert "exists already" in ladeflyt("org", "add", "Klokkarstua borettslag", code=2)
    ladeflyt("org", "add", "Tofte sameie")
    out = ladeflyt(
        "site",
        "add",
        "Klokkarstua",
        "--org",
        "Klokkarstua borettslag",
        "--lat",
        "59.6525",
        "--lon",
        "10.4338",
        "--address",
        "Klokkarstuveien 2",
    )
    assert "site 1 Klokkarstua added to Klokkarstua borettslag" in out
    assert "no organisation 'Nowhere'" in ladeflyt("site", "add", "X", "--org", "Nowhere", code=2)
    ladeflyt("charger", "add", "KLOKK-1", "--site", "Klokkarstua", "--connectors", "2")
    chargers = _rows(settings, select(Charger))
    sites = _rows(settings, select(Site))
    assert [(c.charge_point_id, c.site_id) for c in chargers] == [("KLOKK-1", sites[0].id)]
    assert [(s.name, s.organisation_id) for s in sites] == [("Klokkarstua", 1)]

    out = ladeflyt(
        "member",
        "add",
        "912 34 567",
        "--org",
        "Klokkarstua borettslag",
        "--group",
        "member",
        "--ref",
        "H0101",
        "--from",
        "2026-01-01",
    )
    assert "+4791234567 is member of Klokkarstua borettslag" in out
    assert "unknown group 'vip'" in ladeflyt(
        "member", "add", "91234567", "--org", "1", "--group", "vip", code=2
    )
    csv = tmp_path / "members.csv"
    csv.write_text(
        "phone;group;site;from;to;reference;name\n"
        "92000001;tenant;Klokkarstua;2026-02-01;;H0201;Ola\n"
        "92000002;member;;;;H0202;Ingrid\n"
        "nope;member;;;;;\n"
        "92000003;vip;;;;;\n"
        "92000004;member;Tofte;;;;\n"
        "92000005;member;;2026-05-01;2026-04-01;;\n",
        encoding="utf-8",
    )
    out = ladeflyt("member", "import", "--org", "Klokkarstua borettslag", str(csv))
    assert "2 of 6 rows imported, 4 rejected" in out
    assert "line 4 (nope): phone: String should have at least 8 characters" in out
    assert "line 5 (92000003): unknown group 'vip'" in out
    assert "line 6 (92000004): no site 'Tofte'" in out
    assert "line 7 (92000005): a membership ends after it starts" in out
    members = json.loads(ladeflyt("member", "list", "--org", "Klokkarstua borettslag", "--json"))
    assert [(m["phone"], m["group"], m["site"], m["reference"]) for m in members] == [
        ("+4791234567", "member", None, "H0101"),
        ("+4792000001", "tenant", "Klokkarstua", "H0201"),
        ("+4792000002", "member", None, "H0202"),
    ]
    assert "membership 2 (tenant) ended" in ladeflyt(
        "member", "remove", "92000001", "--org", "Klokkarstua borettslag"
    )
    listed = ladeflyt("member", "list", "--org", "Klokkarstua borettslag")
    assert "+4792000001" not in listed and "+4792000002" in listed
    assert "+4792000001" in ladeflyt("member", "list", "--org", "1", "--all")
    assert "no current membership" in ladeflyt("member", "remove", "92000001", "--org", "1", code=2)

    out = ladeflyt("staff", "add", "drift@ladeflyt.no", "--role", "operator_admin")
    assert "drift@ladeflyt.no is operator_admin" in out and "otpauth://totp/" in out
    out = ladeflyt(
        "staff", "add", "98765432", "--role", "org_admin", "--org", "Klokkarstua borettslag"
    )
    assert "+4798765432 is org_admin in organisation 1" in out and "otpauth" not in out
    assert "is a role in an organisation" in ladeflyt(
        "staff", "add", "x@y.no", "--role", "org_viewer", code=2
    )
    assert "+4798765432" in ladeflyt("staff", "list")

    key = ladeflyt(
        "apikey",
        "create",
        "--role",
        "org_admin",
        "--org",
        "Klokkarstua borettslag",
        "--name",
        "styret",
    ).strip()
    assert key.startswith("lf_") and len(key.splitlines()) == 1
    listing = ladeflyt("apikey", "list")
    assert "org_admin" in listing and "styret" in listing and key not in listing
    sites = _get(settings, "/api/v1/sites", key).json()["items"]
    assert [s["name"] for s in sites] == ["Klokkarstua"]
    assert "revoked" in ladeflyt("apikey", "revoke", key.split("_")[1])
    assert _get(settings, "/api/v1/sites", key).status_code == 401
    listing = ladeflyt("apikey", "list")
    assert "revoked" in listing and "(last used" not in listing
    actions = [a.action for a in _rows(settings, select(AuditEntry).order_by(AuditEntry.id))]
    assert actions[:3] == ["organisation.create", "organisation.create", "site.create"]
    assert {"membership.create", "membership.end", "staff_role.create", "api_key.revoke"} <= set(
        actions
    )


def test_other_modules_add_site_subcommands():
    """`ladeflyt site power ...` (power management) registers on the same `site` parser."""
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command")
    power = cli_orgs.site_subparsers(sub).add_parser("power")
    power.add_argument("site")
    cli_orgs.register(sub)
    assert parser.parse_args(["site", "power", "Klokkarstua"]).site == "Klokkarstua"
    args = parser.parse_args(["site", "add", "Tofte", "--org", "Tofte sameie"])
    assert args.func is cli_orgs.cmd_site_add
    full = cli.build_parser()
    assert full.parse_args(["site", "list"]).func is cli_orgs.cmd_site_list
