"""planRoute through the real ASGI app: plans, no-route answers and bad input."""

from __future__ import annotations

import pytest

from tests.api.graphql_helpers import gql, sign_in
from tests.helpers import arrange
from tests.routeplan.places import END, POLYLINE, START, Plug, Spot, place

PLAN = """
query($input: PlanRouteInput!) {
  planRoute(input: $input) {
    __typename
    ... on RoutePlan {
      distanceKm drivingMinutes chargingMinutes stopOverheadMinutes totalMinutes
      totalCost { amountOre formatted } costComplete energyKwh arrivalSocPercent
      chargersConsidered polyline
      stops {
        chargerId chargerCode site { name latitude longitude } connectorType maxKw
        availability distanceFromOriginKm detourKm arrivalSocPercent departureSocPercent
        chargingMinutes energyKwh pricePerKwhOre estimatedCost { amountOre }
      }
    }
    ... on NoFeasibleRoute { message reason gapFromKm gapToKm reachKm connectorTypes }
    ... on InvalidInput { message field }
  }
}"""


def trip(**changes: object) -> dict[str, object]:
    return {
        "origin": {"lat": START[0], "lon": START[1]},
        "destination": {"lat": END[0], "lon": END[1]},
        "polyline": POLYLINE,
        "startSocPercent": 30,
        "vehicle": {
            "batteryKwh": 60,
            "consumptionWhPerKm": 180,
            "maxDcKw": 120,
            "connectorTypes": ["CCS2", "Type2"],
        },
        **changes,
    }


async def test_anonymous_driver_gets_ordered_stops_with_times_and_costs(client, runtime):
    async def work(s):
        return await place(
            s,
            Spot(40, price=520, code="RP-SOUTH"),
            Spot(150, plugs=[Plug("CCS2", 150, "Charging")], price=480),
            Spot(155, east_km=1.0, price=610, code="RP-MIDDLE"),
        )

    await arrange(runtime, work)
    body = await gql(client, PLAN, {"input": trip()})
    plan = body["data"]["planRoute"]
    assert plan["__typename"] == "RoutePlan", body
    stops = plan["stops"]
    assert stops, plan
    kms = [s["distanceFromOriginKm"] for s in stops]
    assert kms == sorted(kms)
    for s in stops:
        assert 10 - 1e-6 <= s["arrivalSocPercent"] < s["departureSocPercent"] <= 80
        assert s["chargingMinutes"] > 0 and s["energyKwh"] > 0
        assert s["estimatedCost"]["amountOre"] == round(s["energyKwh"] * s["pricePerKwhOre"])
    assert plan["totalCost"]["amountOre"] == sum(s["estimatedCost"]["amountOre"] for s in stops)
    assert plan["costComplete"] is True and plan["arrivalSocPercent"] >= 10
    assert plan["chargingMinutes"] == pytest.approx(
        sum(s["chargingMinutes"] for s in stops), abs=0.2
    )
    assert plan["totalMinutes"] == pytest.approx(
        plan["drivingMinutes"] + plan["chargingMinutes"] + plan["stopOverheadMinutes"], abs=0.2
    )
    assert plan["totalCost"]["formatted"].startswith("kr")
    # From km 40, 80 % does not reach the end: a second stop, and the occupied charger
    # at km 150 loses to the free one 1 km off the route at km 155.
    assert [s["chargerCode"] for s in stops] == ["RP-SOUTH", "RP-MIDDLE"]
    assert all(s["availability"] == "AVAILABLE" for s in stops)


async def test_signed_in_driver_can_plan_and_sees_the_same_prices(client, runtime):
    await arrange(runtime, lambda s: place(s, Spot(150, price=500)))
    token = (await sign_in(client, runtime, "91234567"))["accessToken"]
    variables = {"input": trip(startSocPercent=80)}
    anonymous = (await gql(client, PLAN, variables))["data"]["planRoute"]
    signed_in = (await gql(client, PLAN, variables, token=token))["data"]["planRoute"]
    assert anonymous["__typename"] == signed_in["__typename"] == "RoutePlan"
    assert signed_in["stops"] == anonymous["stops"]
    assert signed_in["stops"][0]["pricePerKwhOre"] == 500


async def test_no_feasible_route_explains_the_gap_or_the_connector(client, runtime):
    await arrange(
        runtime,
        lambda s: place(s, Spot(20), Spot(150, plugs=[Plug("CHAdeMO", 50)]), Spot(280)),
    )
    ccs = await gql(client, PLAN, {"input": trip(startSocPercent=80)})
    answer = ccs["data"]["planRoute"]
    assert answer["__typename"] == "NoFeasibleRoute"
    assert answer["reason"] == "CONNECTOR_MISMATCH" and answer["connectorTypes"] == ["CHAdeMO"]
    assert answer["gapFromKm"] == pytest.approx(20, abs=0.5)
    short_range = trip(startSocPercent=80, maxSocPercent=60)
    gap = (await gql(client, PLAN, {"input": short_range}))["data"]["planRoute"]
    assert gap["reason"] in ("GAP_TOO_LONG", "CONNECTOR_MISMATCH")
    nothing = await gql(client, PLAN, {"input": trip(startSocPercent=15)})
    first = nothing["data"]["planRoute"]
    assert first["reason"] == "GAP_TOO_LONG" and first["gapFromKm"] == 0
    assert "start" in first["message"]


async def test_bad_input_is_invalid_input_naming_the_field(client):
    cases = [
        (trip(polyline="??? not a polyline"), "polyline"),
        (trip(startSocPercent=140), "startSocPercent"),
        (trip(vehicle={"batteryKwh": 60, "consumptionWhPerKm": 5}), "vehicle.consumptionWhPerKm"),
        (
            trip(
                vehicle={
                    "batteryKwh": 60,
                    "consumptionWhPerKm": 180,
                    "chargingCurve": [{"socPercent": 10, "kw": -5}],
                }
            ),
            "vehicle.chargingCurve",
        ),
    ]
    for variables, field in cases:
        body = await gql(client, PLAN, {"input": variables})
        assert body["data"]["planRoute"]["__typename"] == "InvalidInput", body
        assert body["data"]["planRoute"]["field"] == field
