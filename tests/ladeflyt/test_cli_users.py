"""`ladeflyt user add|list|update`, run in-process on a real database."""

from __future__ import annotations

import json

from sqlalchemy import select

from core.models import AuditEntry, User
from tests.ladeflyt.helpers import ok, query


def test_user_list_shows_how_each_driver_pays_their_tags_and_memberships(ladeflyt):
    ok(ladeflyt("org", "add", "Solsiden borettslag", "--kind", "borettslag"))
    ok(ladeflyt("user", "add", "91000001", "--name", "Kari Nordmann", "--email", "kari@example.no"))
    ok(ladeflyt("user", "add", "91000002", "--name", "Ola Hansen"))
    ok(ladeflyt("member", "add", "91000001", "--org", "Solsiden borettslag", "--group", "member"))
    ok(ladeflyt("invoices", "customer", "91000001", "--invoice-billing"))
    ok(ladeflyt("token", "add", "04AABBCC", "--user", "91000001"))

    lines = ok(ladeflyt("user", "list")).splitlines()
    assert lines[0].split() == [
        "phone",
        "name",
        "e-mail",
        "lang",
        "pays",
        "by",
        "tags",
        "memberships",
    ]
    assert lines[1].split() == [
        "+4791000001",
        "Kari",
        "Nordmann",
        "kari@example.no",
        "nb",
        "invoice",
        "1",
        "member",
        "of",
        "Solsiden",
        "borettslag",
    ]
    assert lines[2].split() == ["+4791000002", "Ola", "Hansen", "-", "nb", "-", "0", "-"]
    found = json.loads(ok(ladeflyt("user", "list", "--search", "ola", "--json")))
    assert [u["phone"] for u in found] == ["+4791000002"]
    members = json.loads(ok(ladeflyt("user", "list", "--org", "Solsiden borettslag", "--json")))
    assert [(u["name"], u["memberships"]) for u in members] == [
        ("Kari Nordmann", ["member of Solsiden borettslag"])
    ]
    assert ok(ladeflyt("user", "list", "--search", "nobody")) == "no users\n"


def test_user_update_changes_profile_and_invoice_delivery_in_one_command(ladeflyt, db_url):
    ok(ladeflyt("user", "add", "91000001", "--name", "Kari"))
    out = ok(
        ladeflyt(
            "user",
            "update",
            "91000001",
            "--name",
            "Kari Nordmann",
            "--language",
            "en",
            "--email",
            "kari@example.no",
            "--invoice-channel",
            "email",
        )
    )
    assert out == (
        "user +4791000001 updated: name Kari Nordmann, language en, e-mail kari@example.no, "
        "invoice channel email\n"
    )
    ((name, language, email, channel),) = query(
        db_url, select(User.name, User.language, User.email, User.invoice_channel)
    )
    assert (name, language, email, channel) == ("Kari Nordmann", "en", "kari@example.no", "email")
    ((action, label),) = query(db_url, select(AuditEntry.action, AuditEntry.actor_label))
    assert action == "driver.update" and label.startswith("cli:")

    code, _, err = ladeflyt("user", "update", "91000001", "--receipt-by-email", "--email", "")
    assert code == 2 and "add an e-mail address first" in err
    code, _, err = ladeflyt("user", "update", "99999999", "--name", "X")
    assert (code, err) == (2, "error: no user with phone 99999999\n")
    code, _, err = ladeflyt("user", "add", "91000003", "--group", "member")
    assert code == 2 and "ladeflyt member add 91000003 --org ORG --group member" in err
