"""The driver GraphQL API through the real ASGI app, with a real gateway behind it."""

from __future__ import annotations

import re

from sqlalchemy import event, select

from core.models import PaymentMethod, Site, User
from tests.api.graphql_helpers import gql, sign_in
from tests.helpers import add_fleet, arrange, boot16, connect


async def _place(runtime, price: int = 450) -> None:
    async def work(s):
        site = (await s.execute(select(Site).where(Site.name == "Klokkarstua"))).scalar_one()
        site.latitude, site.longitude, site.list_price_ore_per_kwh = 59.6525, 10.4338, price

    await arrange(runtime, work)


NEAR = """
query($lat: Float!, $lon: Float!, $r: Float!, $f: ChargerFilter, $first: Int, $after: String) {
  chargersNear(lat: $lat, lon: $lon, radiusKm: $r, filter: $f, first: $first, after: $after) {
    totalCount
    pageInfo { hasNextPage endCursor }
    edges { cursor node { id code online distanceKm site { name }
      connectors { id evseId type maxKw status available price { perKwhOre configured } } } }
  }
}"""


def _code(runtime) -> str:
    match = re.search(r"\b(\d{6})\b", runtime.sms.sent[-1].body)
    assert match is not None
    return match.group(1)


async def test_sign_in_creates_account_and_tokens_work(client, runtime):
    signed = await sign_in(client, runtime, "912 34 567")
    assert signed["newUser"] is True and signed["me"]["phone"] == "+4791234567"
    me = await gql(client, "{ me { phone language } }", token=signed["accessToken"])
    assert me["data"]["me"] == {"phone": "+4791234567", "language": "nb"}
    again = await sign_in(client, runtime, "+4791234567")
    assert again["newUser"] is False


async def test_sign_in_code_is_single_use_and_wrong_codes_are_limited(client, runtime):
    await gql(client, 'mutation { requestSignInCode(phone: "91234567") { __typename } }')
    code = _code(runtime)
    wrong = "000000" if code != "000000" else "111111"
    query = 'mutation($c: String!) { signIn(phone: "91234567", code: $c) { __typename } }'
    assert (await gql(client, query, {"c": wrong}))["data"]["signIn"]["__typename"] == "InvalidCode"
    assert (await gql(client, query, {"c": code}))["data"]["signIn"]["__typename"] == "SignedIn"
    assert (await gql(client, query, {"c": code}))["data"]["signIn"]["__typename"] == "InvalidCode"
    # Five wrong attempts lock the code.
    await gql(client, 'mutation { requestSignInCode(phone: "91234567") { __typename } }')
    for _ in range(5):
        await gql(client, query, {"c": wrong})
    code = _code(runtime)
    assert (await gql(client, query, {"c": code}))["data"]["signIn"]["__typename"] == "RateLimited"


async def test_code_requests_are_rate_limited_per_phone(client, runtime):
    query = 'mutation { requestSignInCode(phone: "+4798765432") { __typename } }'
    kinds = [
        (await gql(client, query))["data"]["requestSignInCode"]["__typename"] for _ in range(4)
    ]
    assert kinds == ["SignInCodeSent"] * 3 + ["RateLimited"]
    bad = await gql(client, 'mutation { requestSignInCode(phone: "call me") { __typename } }')
    assert bad["data"]["requestSignInCode"]["__typename"] == "InvalidInput"


async def test_refresh_rotates_and_reuse_revokes_everything(client, runtime):
    signed = await sign_in(client, runtime, "91234567")
    query = """mutation($t: String!) { refreshSession(refreshToken: $t) { __typename
               ... on SignedIn { accessToken refreshToken } } }"""
    fresh = (await gql(client, query, {"t": signed["refreshToken"]}))["data"]["refreshSession"]
    assert fresh["__typename"] == "SignedIn"
    reused = (await gql(client, query, {"t": signed["refreshToken"]}))["data"]["refreshSession"]
    assert reused["__typename"] == "InvalidToken"
    # Reuse signals theft: every token of the account is now dead.
    me = await gql(client, "{ me { phone } }", token=fresh["accessToken"])
    assert me["data"] is None and me["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    dead = (await gql(client, query, {"t": fresh["refreshToken"]}))["data"]["refreshSession"]
    assert dead["__typename"] == "InvalidToken"


async def test_sign_out_everywhere_revokes_access_tokens(client, runtime):
    signed = await sign_in(client, runtime, "91234567")
    out = await gql(
        client, "mutation { signOutEverywhere { message } }", token=signed["accessToken"]
    )
    assert out["data"]["signOutEverywhere"]["message"]
    me = await gql(client, "{ me { phone } }", token=signed["accessToken"])
    assert me["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


async def test_chargers_near_sorted_filtered_paginated_with_price(client, runtime, ocpp_url):
    await add_fleet(runtime, "CP-A", "CP-B", "CP-C")
    await _place(runtime)
    async with connect(ocpp_url, "CP-B") as cp:
        await cp.call(boot16())
        from ocpp.v16 import call as call16

        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
        variables = {"lat": 59.66, "lon": 10.44, "r": 5.0, "first": 2}
        page1 = (await gql(client, NEAR, variables))["data"]["chargersNear"]
        assert page1["totalCount"] == 3 and page1["pageInfo"]["hasNextPage"] is True
        codes = [e["node"]["code"] for e in page1["edges"]]
        page2 = await gql(client, NEAR, {**variables, "after": page1["pageInfo"]["endCursor"]})
        rest = [e["node"]["code"] for e in page2["data"]["chargersNear"]["edges"]]
        assert sorted(codes + rest) == ["CP-A", "CP-B", "CP-C"]
        node = page1["edges"][0]["node"]
        assert 0.5 < node["distanceKm"] < 1.5
        assert node["connectors"][0]["price"] == {"perKwhOre": 450, "configured": True}
        available = await gql(
            client, NEAR, {**variables, "first": 10, "f": {"availableOnly": True}}
        )
        hits = available["data"]["chargersNear"]["edges"]
        assert [
            (e["node"]["code"], [c["evseId"] for c in e["node"]["connectors"]]) for e in hits
        ] == [("CP-B", [1])]
    far = await gql(client, NEAR, {"lat": 63.43, "lon": 10.39, "r": 10.0})
    assert far["data"]["chargersNear"]["totalCount"] == 0
    bad = await gql(client, NEAR, {"lat": 99.0, "lon": 10.0, "r": 5.0})
    assert bad["errors"] and "lat" in bad["errors"][0]["message"]


async def test_chargers_near_page_of_50_costs_a_constant_number_of_queries(client, runtime):
    ids = [f"CP-{n:03d}" for n in range(60)]
    await add_fleet(runtime, *ids)
    await _place(runtime)

    async def selects_for(first: int) -> int:
        statements: list[tuple[int, str]] = []

        def count(conn, cursor, statement, *args):
            statements.append((id(conn.connection.dbapi_connection), statement))

        event.listen(runtime.engine.sync_engine, "before_cursor_execute", count)
        try:
            result = await gql(client, NEAR, {"lat": 59.65, "lon": 10.43, "r": 5.0, "first": first})
        finally:
            event.remove(runtime.engine.sync_engine, "before_cursor_execute", count)
        assert len(result["data"]["chargersNear"]["edges"]) == first
        # Only the request's own connection: background workers (payments, SMS) query too.
        request = next(c for c, s in statements if "FROM sites" in s)
        reads = [s for c, s in statements if c == request]
        return len([s for s in reads if s.lstrip().upper().startswith(("SELECT", "WITH"))])

    # Search, connector locations, tariffs: the same few queries whatever the page size.
    assert await selects_for(50) == await selects_for(5) <= 5


async def test_driver_sees_only_own_things_and_needs_sign_in(client, runtime):
    anonymous = await gql(client, "{ rfidTags { uid } }")
    assert anonymous["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    kari = await sign_in(client, runtime, "91111111")
    ola = await sign_in(client, runtime, "92222222")
    reg = """mutation($u: String!) { registerRfidTag(uid: $u, label: "Nøkkel") { __typename
             ... on RfidTagRegistered { tag { id uid label } } ... on Problem { message } } }"""
    tag = await gql(client, reg, {"u": "04:a2:b3:c4"}, kari["accessToken"])
    tag = tag["data"]["registerRfidTag"]
    assert tag["__typename"] == "RfidTagRegistered" and tag["tag"]["uid"] == "04A2B3C4"
    taken = await gql(client, reg, {"u": "04A2B3C4"}, ola["accessToken"])
    assert taken["data"]["registerRfidTag"]["__typename"] == "RfidTagTaken"
    invalid = await gql(client, reg, {"u": "not hex!"}, ola["accessToken"])
    assert invalid["data"]["registerRfidTag"]["__typename"] == "InvalidInput"
    assert (await gql(client, "{ rfidTags { uid } }", token=ola["accessToken"]))["data"] == {
        "rfidTags": []
    }
    remove = "mutation($i: ID!) { removeRfidTag(id: $i) { __typename } }"
    other = await gql(client, remove, {"i": tag["tag"]["id"]}, ola["accessToken"])
    assert other["data"]["removeRfidTag"]["__typename"] == "NotFound"
    mine = await gql(client, remove, {"i": tag["tag"]["id"]}, kari["accessToken"])
    assert mine["data"]["removeRfidTag"]["__typename"] == "RfidTagRemoved"
    unknown_session = await gql(client, '{ session(id: "1") { id } }', token=ola["accessToken"])
    assert unknown_session["data"] == {"session": None}


async def test_profile_vehicles_and_invoice_settings(client, runtime):
    t = (await sign_in(client, runtime, "91234567"))["accessToken"]
    bad = await gql(
        client,
        'mutation { updateProfile(email: "nope") { __typename ... on InvalidInput { field } } }',
        token=t,
    )
    assert bad["data"]["updateProfile"] == {"__typename": "InvalidInput", "field": "email"}
    ok = await gql(
        client,
        'mutation { updateProfile(name: "Kari", email: "kari@example.no",'
        ' language: "en") { __typename ... on ProfileUpdated { me { name language } }'
        " } }",
        token=t,
    )
    assert ok["data"]["updateProfile"]["me"] == {"name": "Kari", "language": "en"}
    settings = await gql(
        client,
        "mutation { updateInvoiceSettings(receiptByEmail: true, "
        'invoiceChannel: "efaktura") { __typename ... on InvoiceSettingsUpdated'
        " { invoiceSettings { receiptByEmail invoiceChannel } } } }",
        token=t,
    )
    assert settings["data"]["updateInvoiceSettings"]["invoiceSettings"] == {
        "receiptByEmail": True,
        "invoiceChannel": "efaktura",
    }
    # Without eFaktura consent from the bank, invoices go by e-mail, and the app says so.
    delivered = await gql(client, "{ invoiceSettings { deliveredBy deliveryReason } }", token=t)
    assert delivered["data"]["invoiceSettings"] == {
        "deliveredBy": "email",
        "deliveryReason": "no eFaktura consent from the bank; by e-mail",
    }
    add = await gql(
        client,
        """mutation { addVehicle(vehicle: {make: "Tesla", model: "Model Y",
        batteryKwh: 75, maxAcKw: 11, maxDcKw: 250, connectorTypes: ["CCS2", "Type2"]}) {
        __typename ... on VehicleSaved { vehicle { id batteryKwh connectorTypes } } } }""",
        token=t,
    )
    vehicle = add["data"]["addVehicle"]["vehicle"]
    assert vehicle["batteryKwh"] == 75 and vehicle["connectorTypes"] == ["CCS2", "Type2"]
    silly = await gql(
        client,
        'mutation { addVehicle(vehicle: {make: "X", model: "Y", '
        "batteryKwh: 9000}) { __typename ... on InvalidInput { field } } }",
        token=t,
    )
    assert silly["data"]["addVehicle"] == {"__typename": "InvalidInput", "field": "batteryKwh"}
    removed = await gql(
        client,
        "mutation($i: ID!) { removeVehicle(id: $i) { __typename } }",
        {"i": vehicle["id"]},
        t,
    )
    assert removed["data"]["removeVehicle"]["__typename"] == "VehicleRemoved"
    assert (await gql(client, "{ vehicles { id } }", token=t))["data"]["vehicles"] == []


async def test_query_limits_reject_abusive_queries(client):
    deep = (
        "{ chargersNear(lat: 59.6, lon: 10.4) { edges { node { site { name } "
        "connectors { price { components { kind } } } } } } }"
    )
    assert "errors" not in await gql(client, deep)
    aliases = (
        "{ "
        + " ".join(f"a{i}: chargersNear(lat: 1, lon: 1) {{ totalCount }}" for i in range(30))
        + " }"
    )
    result = await gql(client, aliases)
    assert result["errors"] and "alias" in result["errors"][0]["message"].lower()


async def test_start_charging_refusals(client, runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    t = (await sign_in(client, runtime, "93333333"))["accessToken"]
    start = """mutation($c: ID!) { startCharging(connectorId: $c) { __typename
               ... on Problem { message } } }"""

    async def connector_id(s):
        from core.models import Connector

        return str(
            (await s.execute(select(Connector.id).where(Connector.evse_id == 1))).scalars().first()
        )

    cid = await arrange(runtime, connector_id)
    offline = await gql(client, start, {"c": cid}, t)
    assert offline["data"]["startCharging"]["__typename"] == "ChargerOffline"
    async with connect(ocpp_url, "CP-1") as cp:
        await cp.call(boot16())
        from ocpp.v16 import call as call16

        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Faulted")
        )
        faulted = await gql(client, start, {"c": cid}, t)
        assert faulted["data"]["startCharging"]["__typename"] == "ConnectorUnavailable"
        await cp.call(
            call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
        )
        no_card = await gql(client, start, {"c": cid}, t)
        assert no_card["data"]["startCharging"]["__typename"] == "PaymentMethodRequired"

        async def add_card(s):
            user = (await s.execute(select(User).where(User.phone == "+4793333333"))).scalar_one()
            s.add(
                PaymentMethod(
                    user_id=user.id,
                    provider="sandbox-card",
                    kind="card",
                    last4="4242",
                    provider_ref="pm_sandbox_visa",
                    is_default=True,
                )
            )

        await arrange(runtime, add_card)
        cp.answer_status = "Rejected"
        rejected = await gql(client, start, {"c": cid}, t)
        assert rejected["data"]["startCharging"]["__typename"] == "NotAllowed"
        nonsense = await gql(client, start, {"c": "999999"}, t)
        assert nonsense["data"]["startCharging"]["__typename"] == "ConnectorUnavailable"


async def test_introspection_can_be_switched_off():
    from api.graphql.schema import build_schema
    from core.config import Settings

    query = "{ __schema { queryType { name } } }"
    on = await build_schema(Settings(graphql_introspection=True)).execute(query)
    assert on.errors is None
    off = await build_schema(Settings(graphql_introspection=False)).execute(query)
    assert off.errors and "introspection" in off.errors[0].message.lower()


async def test_driver_sees_own_invoices_only(client, runtime):
    from datetime import UTC, date, datetime

    from core.models import Invoice

    kari = await sign_in(client, runtime, "91111111")
    ola = await sign_in(client, runtime, "92222222")

    async def invoice(s):
        user = (await s.execute(select(User).where(User.phone == "+4791111111"))).scalar_one()
        now = datetime.now(UTC)
        s.add(
            Invoice(
                number=7,
                user_id=user.id,
                period="2026-10",
                period_start=now,
                period_end=now,
                issue_date=date(2026, 11, 1),
                due_date=date(2026, 11, 15),
                kid="00000070000000072",
                net_ore=8_000,
                vat_ore=2_000,
                total_ore=10_000,
            )
        )

    await arrange(runtime, invoice)
    query = (
        "{ invoices { number kid status total { amountOre formatted } amountDue { amountOre } } }"
    )
    mine = await gql(client, query, token=kari["accessToken"])
    assert mine["data"]["invoices"] == [
        {
            "number": 7,
            "kid": "00000070000000072",
            "status": "open",
            "total": {"amountOre": 10_000, "formatted": "kr 100,00"},
            "amountDue": {"amountOre": 10_000},
        }
    ]
    assert (await gql(client, query, token=ola["accessToken"]))["data"]["invoices"] == []
