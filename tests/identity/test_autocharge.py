"""Autocharge over real websockets: an unknown car is refused and offered for linking; once
linked, plugging in starts a session for its driver through the one start flow (card hold,
invoice, refusals), on 1.6 (idTag VID:<MAC>) and 2.0.1 (idToken type MacAddress)."""

from __future__ import annotations

import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import select

from core.identity.tokens import token_key, vehicle_token
from core.models import ChargingSession, Payment, PaymentMethod, User, VehicleLinkOffer
from tests.api.graphql_helpers import gql, sign_in
from tests.helpers import arrange, boot16, connect
from tests.ocpp_gateway.test_v201 import boot, energy, event, ts
from tests.pages.flows import CODE, until
from tests.payments.test_every_start_settled import (
    KARI,
    card_payer,
    rfid_session_16,
    rows,
    settled,
)

CAR = "VID:0012ABCD3456"

ADD_VEHICLE = """mutation { addVehicle(vehicle: {make: "Hyundai", model: "Ioniq 5",
  batteryKwh: 77.4, maxAcKw: 11, maxDcKw: 220, connectorTypes: ["CCS2"]}) {
  ... on VehicleSaved { vehicle { id } } } }"""
OFFERS = """query($cp: String) { vehicleLinkOffers(chargePointId: $cp) {
  id vehicleIdToken chargePointId addressedToMe } }"""
LINK = """mutation($o: ID!, $v: ID!, $cp: String) {
  linkVehicleId(offerId: $o, vehicleId: $v, chargePointId: $cp) { __typename
    ... on VehicleIdLinked { autochargeIds { value } } ... on Problem { message } } }"""


async def _kari_with_a_car(runtime, client) -> tuple[str, str]:
    token = (await sign_in(client, runtime, KARI))["accessToken"]
    added = await gql(client, ADD_VEHICLE, token=token)
    return token, added["data"]["addVehicle"]["vehicle"]["id"]


@pytest.mark.parametrize(
    ("given", "kind", "key"),
    [
        ("VID:0012ABCD3456", None, CAR),
        ("vid:00:12:ab:cd:34:56", None, CAR),
        ("0012ABCD3456", "MacAddress", CAR),
        ("00-12-AB-CD-34-56", "MacAddress", CAR),
        ("VID:0012ABCD3456", "Central", CAR),
        ("NO-LFT-C12345678-9", "eMAID", "NOLFTC123456789"),
        ("TAG-OK", "ISO14443", "TAG-OK"),
    ],
)
def test_one_car_is_one_token_whatever_the_charger_sends(given, kind, key):
    assert token_key(given, kind) == key
    assert vehicle_token("VID:12345") is None


async def test_an_unknown_car_is_offered_to_the_driver_who_charges_next_and_then_just_plugs_in(
    runtime, client, ocpp_url
):
    await card_payer(runtime)
    token, vehicle = await _kari_with_a_car(runtime, client)
    async with connect(ocpp_url, CODE) as cp:
        await cp.call(boot16())
        refused = await cp.call(call16.Authorize(id_tag="vid:0012abcd3456"))
        assert refused.id_tag_info["status"] == "Invalid"
        (offer,) = await rows(runtime, VehicleLinkOffer)
        assert (offer.vehicle_token, offer.user_id, offer.status) == (CAR, None, "pending")
        # Not linked, nobody else's: the next driver to start at that charger gets the offer.
        assert (await cp.call(call16.Authorize(id_tag="TAG-OK"))).id_tag_info[
            "status"
        ] == "Accepted"
        offers = (await gql(client, OFFERS, token=token))["data"]["vehicleLinkOffers"]
        assert offers == [
            {
                "id": str(offer.id),
                "vehicleIdToken": CAR,
                "chargePointId": CODE,
                "addressedToMe": True,
            }
        ]
        # Another driver neither sees it nor can take it.
        ola = (await sign_in(client, runtime, "+4790000001"))["accessToken"]
        assert (await gql(client, OFFERS, token=ola))["data"]["vehicleLinkOffers"] == []
        ola_car = (await gql(client, ADD_VEHICLE, token=ola))["data"]["addVehicle"]["vehicle"]
        taken = await gql(client, LINK, {"o": str(offer.id), "v": ola_car["id"]}, token=ola)
        assert taken["data"]["linkVehicleId"]["__typename"] == "NotFound"
        linked = await gql(client, LINK, {"o": str(offer.id), "v": vehicle}, token=token)
        assert linked["data"]["linkVehicleId"] == {
            "__typename": "VehicleIdLinked",
            "autochargeIds": [{"value": CAR}],
        }
        assert (await gql(client, OFFERS, token=token))["data"]["vehicleLinkOffers"] == []

        # Plugging in is now enough: a hold on her card, the exact cost captured.
        holds_before = len(await rows(runtime, Payment))
        started = await rfid_session_16(cp, "VID:0012ABCD3456", 7_350)
        assert started.id_tag_info["status"] == "Accepted"
    cs = await until(lambda: settled(runtime, started.transaction_id), "settlement")
    assert (cs.channel, cs.id_token, cs.payment_state, cs.cost_ore) == (
        "autocharge",
        CAR,
        "paid",
        3_675,
    )
    payments = await rows(runtime, Payment)
    assert len(payments) == holds_before + 1
    assert (payments[-1].session_id, payments[-1].amount_captured_ore) == (cs.id, 3_675)


async def test_a_linked_car_of_a_driver_who_cannot_pay_is_refused_like_her_tag(
    runtime, client, ocpp_url
):
    await card_payer(runtime)
    token, vehicle = await _kari_with_a_car(runtime, client)
    async with connect(ocpp_url, CODE) as cp:
        await cp.call(boot16())
        await cp.call(call16.Authorize(id_tag=CAR))
        (offer,) = await rows(runtime, VehicleLinkOffer)
        # She names the charger she stands at: the recent offer there is hers to take.
        linked = await gql(
            client, LINK, {"o": str(offer.id), "v": vehicle, "cp": CODE}, token=token
        )
        assert linked["data"]["linkVehicleId"]["__typename"] == "VehicleIdLinked"

        async def no_card(s):
            for pm in (await s.execute(select(PaymentMethod))).scalars():
                await s.delete(pm)

        await arrange(runtime, no_card)
        answer = await cp.call(call16.Authorize(id_tag=CAR))
        assert answer.id_tag_info["status"] == "Blocked"  # 1.6 has no NoCredit


async def test_autocharge_on_201_with_a_mac_address_goes_onto_the_invoice(
    runtime, client, ocpp_url
):
    await card_payer(runtime, card="")

    async def invoiced(s):
        (await s.execute(select(User))).scalar_one().invoice_billing = True

    await arrange(runtime, invoiced)
    token, vehicle = await _kari_with_a_car(runtime, client)
    mac = {"id_token": "00:12:AB:CD:34:56", "type": "MacAddress"}
    async with connect(ocpp_url, CODE, protocol="2.0.1") as cp:
        await cp.call(boot())
        refused = await cp.call(call201.Authorize(id_token=mac))
        assert refused.id_token_info["status"] == "Invalid"
        assert "appen" in refused.id_token_info["personal_message"]["content"]
        offers = (await gql(client, OFFERS, {"cp": CODE}, token=token))["data"]["vehicleLinkOffers"]
        assert [(o["vehicleIdToken"], o["addressedToMe"]) for o in offers] == [(CAR, False)]
        linked = await gql(
            client, LINK, {"o": offers[0]["id"], "v": vehicle, "cp": CODE}, token=token
        )
        assert linked["data"]["linkVehicleId"]["__typename"] == "VehicleIdLinked"

        accepted = await cp.call(call201.Authorize(id_token=mac))
        assert accepted.id_token_info["status"] == "Accepted"
        began = await cp.call(
            event(
                "Started",
                0,
                ts(-600),
                tx="ac-1",
                id_token=mac,
                evse={"id": 1, "connector_id": 1},
                meter_value=energy(10_000, ts(-600)),
            )
        )
        assert began.id_token_info["status"] == "Accepted"
        await cp.call(event("Ended", 1, ts(-1), tx="ac-1", meter_value=energy(12_000, ts(-1))))
    (cs,) = await rows(runtime, ChargingSession)
    cs = await until(lambda: settled(runtime, cs.id), "settlement")
    assert (cs.channel, cs.user_id is not None, cs.energy_wh, cs.payment_state) == (
        "autocharge",
        True,
        2_000,
        "to_invoice",
    )
