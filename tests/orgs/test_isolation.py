"""Isolation, generated from the route table (the app's own OpenAPI document, so every
route it serves): an organisation's key gets 404 for every object of another
organisation, on every /api/v1 route, and never sees it in a list.

Every route must be covered: a new route whose path parameter or body is unknown here
fails `test_every_route_is_covered`, and one without a scope check fails the 404 test.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import pytest

from core.config import Settings
from ladeflyt.runtime import Runtime
from tests.orgs.conftest import bearer
from tests.orgs.world import Side, World

# Not about another organisation's objects: sign-in steps and "who am I".
UNSCOPED = {
    ("POST", "/api/v1/auth/code"),
    ("POST", "/api/v1/auth/verify"),
    ("POST", "/api/v1/auth/totp"),
    ("GET", "/api/v1/auth/session"),
    ("GET", "/api/v1/auth/sessions"),
    ("POST", "/api/v1/auth/sign-out"),
    ("GET", "/api/v1/me"),
}
# Staff sessions are the signed-in person's own: tested with a cookie in test_staff_auth.
COOKIE_ONLY = {("DELETE", "/api/v1/auth/sessions/{staff_session_id}")}
# Operator-only creations that name no organisation's object: a 403 for organisation keys.
OPERATOR_ONLY = {("POST", "/api/v1/organisations")}
# The operator's invoicing of its customers (tests/invoicing/test_api.py): a 403 for every
# organisation key, whatever the id (so nothing about any object is confirmed).
INVOICING = {
    ("GET", "/api/v1/customers/{phone}/invoice-delivery"),
    ("PUT", "/api/v1/customers/{phone}/invoice-delivery"),
    ("GET", "/api/v1/invoices/{invoice_id}/deliveries"),
    ("POST", "/api/v1/invoices/{invoice_id}/resend"),
    ("GET", "/api/v1/invoices/{invoice_id}/pdf"),
    ("GET", "/api/v1/invoices/overdue"),
    ("GET", "/api/v1/invoice-runs"),
}
SKIP = UNSCOPED | INVOICING

# Required query parameters of list/report routes.
QUERY = {"/api/v1/reports/energy": {"from": "2020-01-01T00:00:00Z", "to": "2099-01-01T00:00:00Z"}}
# Filters that name an object: pointing one at another organisation's object is a 404.
FILTERS = {
    "organisation_id": "org_id",
    "site_id": "site_id",
    "charger_id": "charger_id",
    "driver_id": "driver_id",
}
BODY_REFS = {**FILTERS, "tariff_id": "tariff_id"}


def names_theirs(payload: dict[str, Any] | None, theirs: Side) -> bool:
    return any(k in BODY_REFS and v == theirs.ids[BODY_REFS[k]] for k, v in (payload or {}).items())


def bodies(model: str, mine: Side, theirs: Side) -> list[dict[str, Any]]:
    """Valid request bodies naming `theirs`' objects (all of them must be refused with 404
    when `mine` is the caller, and work when `theirs` is `mine`)."""
    m, t = mine.ids, theirs.ids
    table: dict[str, list[dict[str, Any]]] = {
        "OrganisationIn": [{"name": "Nytt borettslag"}],
        "OrganisationPatch": [{"contact_name": "Styret"}],
        "GroupIn": [{"name": "gjest-p"}],
        "SiteIn": [{"name": f"Ny {t['org_id']}-{m['org_id']}", "organisation_id": t["org_id"]}],
        "SitePatch": [{"city": "Hurum"}],
        "ChargerIn": [
            {"charge_point_id": f"NEW-{t['site_id']}-{m['org_id']}", "site_id": t["site_id"]}
        ],
        "ChargerPatch": [{"max_power_w": 11_000}, {"site_id": t["site_id"]}],
        "CommandIn": [{"command": "reset", "kind": "soft"}],
        "MembershipIn": [
            {"organisation_id": t["org_id"], "group": "member", "phone": "+4799999999"},
            {"organisation_id": m["org_id"], "group": "member", "driver_id": t["driver_id"]},
            {
                "organisation_id": m["org_id"],
                "site_id": t["site_id"],
                "group": "member",
                "phone": "+4799999998",
            },
        ],
        "MembershipPatch": [{"reference": "H0202"}, {"site_id": t["site_id"]}],
        "IdTokenIn": [{"driver_id": t["driver_id"], "token": f"NEWTAG{m['org_id']}"}],
        "IdTokenPatch": [{"label": "ny"}],
        "ContractIn": [
            {"driver_id": t["driver_id"], "emaid": f"NO-LFT-C{m['org_id']:08d}-{t['org_id']}X"}
        ],
        "TariffIn": [
            {"name": f"Ny pris {t['org_id']}-{m['org_id']}", "organisation_id": t["org_id"]}
        ],
        "TariffComponentIn": [{"kind": "session", "price_ore": "100"}],
        "AssignmentIn": [
            {"tariff_id": t["tariff_id"], "site_id": m["site_id"], "group": "public"},
            {"tariff_id": m["tariff_id"], "site_id": t["site_id"], "group": "public"},
            {"tariff_id": m["tariff_id"], "charger_id": t["charger_id"], "group": "public"},
        ],
        "ApiKeyIn": [{"role": "org_viewer", "organisation_id": t["org_id"]}],
    }
    return table[model]


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    query: tuple[str, ...]
    body: str | None

    @property
    def params(self) -> list[str]:
        return re.findall(r"{(\w+)}", self.path)


def routes(app: Any) -> list[Op]:
    """Every /api/v1 operation the app serves, from its OpenAPI document."""
    ops = []
    for path, item in app.openapi()["paths"].items():
        if not path.startswith("/api/v1"):
            continue
        for method, op in item.items():
            schema = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            schema = schema.get("schema", {})
            body = schema["$ref"].rsplit("/", 1)[-1] if "$ref" in schema else None
            if body is None and "discriminator" in schema:
                body = "CommandIn"
            query = tuple(p["name"] for p in op.get("parameters", []) if p["in"] == "query")
            ops.append(Op(method.upper(), path, query, body))
    return sorted(ops, key=lambda o: (o.path, o.method))


async def call(
    client,
    op: Op,
    ids: dict[str, int],
    key: str,
    body: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
):
    path = op.path.format(**{p: ids[p] for p in op.params})
    params = {**QUERY.get(op.path, {}), **(query or {})}
    return await client.request(op.method, path, headers=bearer(key), json=body, params=params)


@pytest.fixture
def app(settings: Settings, tmp_path):
    settings.secret_file = str(tmp_path / "secret")
    return Runtime.build(settings).http_app()


def test_every_route_is_covered(app):
    side = Side(
        ids=dict.fromkeys(
            [
                "org_id",
                "site_id",
                "charger_id",
                "membership_id",
                "driver_id",
                "token_id",
                "contract_id",
                "tariff_id",
                "assignment_id",
                "session_id",
                "key_id",
                "staff_session_id",
            ],
            1,
        )
    )
    ops = routes(app)
    assert len(ops) > 30
    for op in ops:
        if (op.method, op.path) in SKIP:
            continue
        for name in op.params:
            assert name in side.ids, f"{op.method} {op.path}: add `{name}` to the world"
        if op.body is not None:
            try:
                bodies(op.body, side, side)
            except KeyError:
                pytest.fail(f"{op.method} {op.path}: add bodies for {op.body} to this test")


async def test_another_organisations_objects_are_404_on_every_route(client, world: World):
    a, b = world.a, world.b
    key = a.keys["org_admin"]
    checked = 0
    for op in routes(client._transport.app):
        where = f"{op.method} {op.path}"
        if (op.method, op.path) in SKIP | COOKIE_ONLY:
            continue
        payloads = bodies(op.body, a, b) if op.body else [None]
        if (op.method, op.path) in OPERATOR_ONLY:
            response = await call(client, op, a.ids, key, {"name": "Nytt borettslag"})
            assert response.status_code == 403, where
            continue
        if op.params:
            for payload in payloads:
                response = await call(client, op, b.ids, key, payload)
                assert response.status_code == 404, f"{where} with B's ids: {response.text}"
                assert response.headers["content-type"] == "application/problem+json"
                checked += 1
                if names_theirs(payload, b):
                    # A's own object, changed to point at B's: no attaching across.
                    response = await call(client, op, a.ids, key, payload)
                    assert response.status_code == 404, f"{where} {payload}: {response.text}"
        elif op.method == "POST":
            for payload in payloads:
                response = await call(client, op, a.ids, key, payload)
                assert response.status_code == 404, f"{where} {payload}: {response.text}"
                checked += 1
        else:
            assert op.method == "GET", where
            listed = await call(client, op, a.ids, key)
            assert listed.status_code == 200, f"{where}: {listed.text}"
            text = json.dumps(listed.json(), ensure_ascii=False)
            for marker in b.markers:
                assert marker not in text, f"{where} shows B's {marker!r}"
            for name in op.query:
                if name in FILTERS:
                    filtered = await call(
                        client, op, a.ids, key, query={name: b.ids[FILTERS[name]]}
                    )
                    assert filtered.status_code == 404, f"{where}?{name}=B"
            checked += 1
    assert checked > 30


async def test_the_same_routes_work_on_the_callers_own_objects(client, world: World):
    """So the 404s above are the scope's doing, not broken routes."""
    a = world.a
    key = a.keys["org_admin"]
    for op in routes(client._transport.app):
        if (op.method, op.path) in SKIP | COOKIE_ONLY | OPERATOR_ONLY:
            continue
        for payload in bodies(op.body, a, a) if op.body else [None]:
            response = await call(client, op, a.ids, key, payload)
            where = f"{op.method} {op.path} {payload}: {response.text}"
            # 409: the charger is offline, or the object exists already.
            assert response.status_code in (200, 201, 204, 409), where


async def test_invoicing_is_the_operators_alone(client, world: World):
    served = {(op.method, op.path) for op in routes(client._transport.app)}
    assert served >= INVOICING
    ids = {"phone": "+4791234567", "invoice_id": 1}
    for method, path in sorted(INVOICING):
        url = path.format(**{k: v for k, v in ids.items() if "{" + k + "}" in path})
        for key in world.a.keys.values():
            response = await client.request(method, url, headers=bearer(key), json={})
            assert response.status_code == 403, f"{method} {url}: {response.text}"
        response = await client.request(method, url, headers=bearer(world.operator_key))
        assert response.status_code != 403, f"{method} {url} for the operator"


async def test_operator_keys_see_every_organisation_and_the_operators_own_sites(
    client, world: World
):
    for key in (world.operator_key, world.support_key):
        sites = (await client.get("/api/v1/sites", headers=bearer(key))).json()["items"]
        assert {s["name"] for s in sites} == {"Klokkarstua", "Tofte", "Røykenbadet"}
    org_sites = await client.get("/api/v1/sites", headers=bearer(world.a.keys["org_admin"]))
    assert [s["name"] for s in org_sites.json()["items"]] == ["Klokkarstua"]
    mine = await client.get(
        f"/api/v1/sites/{world.operator_site_id}", headers=bearer(world.a.keys["org_admin"])
    )
    assert mine.status_code == 404


async def test_roles_decide_what_may_change_within_the_organisation(client, world: World):
    a = world.a
    viewer, support = bearer(a.keys["org_viewer"]), bearer(world.support_key)
    site = f"/api/v1/sites/{a.ids['site_id']}"
    assert (await client.get(site, headers=viewer)).status_code == 200
    refused = await client.patch(site, headers=viewer, json={"city": "Hurum"})
    assert refused.status_code == 403
    assert refused.json()["status"] == 403
    assert (await client.patch(site, headers=support, json={"city": "Hurum"})).status_code == 403
    assert (await client.get("/api/v1/audit", headers=viewer)).status_code == 403
    # Support actions are allowed to operator support: a command (the charger is offline).
    command = await client.post(
        f"/api/v1/chargers/{a.ids['charger_id']}/commands",
        headers=support,
        json={"command": "reset", "kind": "soft"},
    )
    assert command.status_code == 409
    assert command.json()["type"].endswith("/charger_offline")
    audit = (await client.get("/api/v1/audit", headers=bearer(world.operator_key))).json()
    last = audit["items"][0]
    assert (last["action"], last["actor_kind"], last["organisation_id"]) == (
        "charger.command",
        "api_key",
        a.ids["org_id"],
    )
    assert last["after"]["outcome"]["error"] == "ChargerOffline"


async def test_without_a_valid_key_every_route_is_401(client, world: World):
    for op in routes(client._transport.app):
        if (op.method, op.path) in UNSCOPED - {("GET", "/api/v1/me")}:
            continue
        path = op.path.format(**{p: 1 for p in op.params})
        for headers in ({}, bearer("lf_nope_nope"), bearer(world.a.keys["org_admin"] + "x")):
            response = await client.request(op.method, path, headers=headers, json={})
            assert response.status_code == 401, f"{op.method} {op.path}"
