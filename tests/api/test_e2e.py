"""End to end like a driver: sign in → find → start → live updates → stop → history.

Everything real: the HTTP stack (uvicorn), GraphQL subscriptions over a websocket
(graphql-transport-ws), the OCPP gateway, and a charger played by the `ocpp` package
that charges when told to.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import websockets
from ocpp.routing import after
from ocpp.v16 import call as call16
from sqlalchemy import select
from websockets.typing import Subprotocol

from core.models import Site, User
from core.timeutil import format_ocpp_datetime
from tests.api.graphql_helpers import gql, http_server, sign_in
from tests.helpers import Charger16, add_fleet, arrange, boot16, connect


class ChargingCharger(Charger16):
    """Starts a transaction on RemoteStart, meters while charging, stops on RemoteStop."""

    tx: int | None = None
    register_wh = 50_000

    @after("RemoteStartTransaction")
    async def begin(self, id_tag: str, connector_id: int | None = None, **_: Any) -> None:
        if self.answer_status != "Accepted":
            return  # it refused the start: no transaction follows
        connector = self.connector = connector_id or 1
        await self.call(
            call16.StatusNotification(
                connector_id=connector, error_code="NoError", status="Preparing"
            )
        )
        started = await self.call(
            call16.StartTransaction(
                connector_id=connector,
                id_tag=id_tag,
                meter_start=self.register_wh,
                timestamp=format_ocpp_datetime(datetime.now(UTC)),
            )
        )
        self.tx = started.transaction_id
        await self.call(
            call16.StatusNotification(
                connector_id=connector, error_code="NoError", status="Charging"
            )
        )

    async def meter(self, wh: int, kw: float) -> None:
        for _ in range(200):  # the StartTransaction answer may still be on its way
            if self.tx is not None:
                break
            await asyncio.sleep(0.01)
        self.register_wh += wh
        await self.call(
            call16.MeterValues(
                connector_id=self.connector,
                transaction_id=self.tx,
                meter_value=[
                    {
                        "timestamp": format_ocpp_datetime(datetime.now(UTC)),
                        "sampledValue": [
                            {
                                "value": str(self.register_wh),
                                "measurand": "Energy.Active.Import.Register",
                            },
                            {"value": str(kw), "measurand": "Power.Active.Import", "unit": "kW"},
                            {"value": "61", "measurand": "SoC", "unit": "Percent"},
                        ],
                    }
                ],
            )
        )

    @after("RemoteStopTransaction")
    async def end(self, transaction_id: int, **_: Any) -> None:
        await self.call(
            call16.StopTransaction(
                meter_stop=self.register_wh,
                transaction_id=transaction_id,
                reason="Remote",
                timestamp=format_ocpp_datetime(datetime.now(UTC)),
            )
        )
        await self.call(
            call16.StatusNotification(
                connector_id=self.connector, error_code="NoError", status="Available"
            )
        )


async def _subscribe(ws: Any, token: str, query: str, variables: dict[str, Any]) -> None:
    await ws.send(
        json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
    )
    ack = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert ack["type"] == "connection_ack", ack
    await ws.send(
        json.dumps(
            {"id": "1", "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )
    )


async def _next(ws: Any) -> dict[str, Any]:
    while True:
        message = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if message["type"] == "next":
            assert "errors" not in message["payload"], message
            data: dict[str, Any] = message["payload"]["data"]
            return data
        assert message["type"] in ("ping", "pong"), message


async def test_driver_signs_in_finds_starts_follows_live_stops_and_sees_history(runtime, ocpp_url):
    await add_fleet(runtime, "KLOKK-1")

    async def place(s):
        site = (await s.execute(select(Site))).scalar_one()
        site.latitude, site.longitude, site.list_price_ore_per_kwh = 59.6525, 10.4338, 500

    await arrange(runtime, place)
    async with http_server(runtime) as host, httpx.AsyncClient(base_url=f"http://{host}") as http:
        signed = await sign_in(http, runtime, "+4791234567")
        token = signed["accessToken"]

        async def invoice_customer(s):
            (await s.execute(select(User))).scalar_one().invoice_billing = True

        await arrange(runtime, invoice_customer)
        async with connect(ocpp_url, "KLOKK-1", charger_class=ChargingCharger) as charger:
            await charger.call(boot16())
            await charger.call(
                call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
            )
            found = await gql(
                http,
                """{ chargersNear(lat: 59.65, lon: 10.43, radiusKm: 2,
                filter: {availableOnly: true}) { edges { node { code connectors {
                id available price { perKwhOre } } } } } }""",
                token=token,
            )
            node = found["data"]["chargersNear"]["edges"][0]["node"]
            assert node["code"] == "KLOKK-1"
            connector = node["connectors"][0]
            assert connector["available"] and connector["price"]["perKwhOre"] == 500

            started = await gql(
                http,
                """mutation($c: ID!) { startCharging(connectorId: $c) {
                __typename ... on ChargingStarted { chargerCode evseId sessionId
                session { id state } }
                ... on Problem { message } } }""",
                {"c": connector["id"]},
                token,
            )
            result = started["data"]["startCharging"]
            session_id = result["sessionId"]
            # STARTING until the charger reports the transaction (it may have already).
            assert result["session"]["state"] in ("STARTING", "ACTIVE")
            assert result == {
                "__typename": "ChargingStarted",
                "chargerCode": "KLOKK-1",
                "evseId": 1,
                "sessionId": session_id,
                "session": {"id": session_id, "state": result["session"]["state"]},
            }
            active = {"id": session_id}

            async with websockets.connect(
                f"ws://{host}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
            ) as ws:
                # Subscribed at once, with the id the start answered: no polling.
                await _subscribe(
                    ws,
                    token,
                    """subscription($s: ID!) { sessionUpdates(
                    sessionId: $s) { state energyKwh powerKw soc costSoFar { amountOre } } }""",
                    {"s": session_id},
                )
                first = (await _next(ws))["sessionUpdates"]
                assert first["state"] in ("STARTING", "ACTIVE")
                while first["state"] != "ACTIVE":
                    first = (await _next(ws))["sessionUpdates"]
                assert first["energyKwh"] == 0
                await charger.meter(2_000, 11.0)
                live = (await _next(ws))["sessionUpdates"]
                assert live == {
                    "state": "ACTIVE",
                    "energyKwh": 2.0,
                    "powerKw": 11.0,
                    "soc": 61,
                    "costSoFar": {"amountOre": 1_000},
                }

                stopping = await gql(
                    http,
                    """mutation($s: ID!) { stopCharging(sessionId: $s) {
                    __typename ... on Problem { message } } }""",
                    {"s": active["id"]},
                    token,
                )
                assert stopping["data"]["stopCharging"]["__typename"] == "ChargingStopping"
                final = (await _next(ws))["sessionUpdates"]
                while final["state"] != "COMPLETED":
                    final = (await _next(ws))["sessionUpdates"]
                assert final["energyKwh"] == 2.0 and final["powerKw"] is None

        history = await gql(
            http,
            """{ sessions(first: 10) { edges { node { id state chargerCode
            energyWh cost { amountOre formatted } receiptUrl stopReason } } } }""",
            token=token,
        )
        (only,) = history["data"]["sessions"]["edges"]
        assert only["node"]["state"] == "COMPLETED"
        assert only["node"]["energyWh"] == 2_000 and only["node"]["stopReason"] == "Remote"
        assert only["node"]["cost"] == {"amountOre": 1_000, "formatted": "kr 10,00"}
        receipt_link = only["node"]["receiptUrl"]
        assert f"/receipts/{active['id']}?t=" in receipt_link
        path = receipt_link.split("8000", 1)[1]
        receipt = await http.get(path)
        assert receipt.status_code == 200 and "kr 10,00" in receipt.text
        forged = await http.get(path[:-4] + "0000")
        assert forged.status_code == 404
        again = await gql(
            http,
            """mutation($s: ID!) { stopCharging(sessionId: $s) {
            __typename } }""",
            {"s": active["id"]},
            token,
        )
        assert again["data"]["stopCharging"]["__typename"] == "SessionNotActive"


async def test_connector_status_subscription_sends_current_state_then_changes(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with http_server(runtime) as host, connect(ocpp_url, "CP-1") as charger:
        await charger.call(boot16())

        async def charger_id(s):
            from core.models import Charger

            return str((await s.execute(select(Charger.id))).scalar_one())

        cid = await arrange(runtime, charger_id)
        async with websockets.connect(
            f"ws://{host}/graphql", subprotocols=[Subprotocol("graphql-transport-ws")]
        ) as ws:
            await _subscribe(
                ws,
                "",
                """subscription($c: ID!) { connectorStatus(chargerId: $c)
                    { online evseId status } }""",
                {"c": cid},
            )
            initial = [(await _next(ws))["connectorStatus"] for _ in range(2)]
            assert [u["evseId"] for u in initial] == [1, 2]
            assert all(u["online"] for u in initial)
            await charger.call(
                call16.StatusNotification(connector_id=2, error_code="NoError", status="Charging")
            )
            change = (await _next(ws))["connectorStatus"]
            assert change == {"online": True, "evseId": 2, "status": "CHARGING"}
