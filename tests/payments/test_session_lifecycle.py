"""A session's life outside the charger's own messages: STARTING → FAILED with a reason,
cancelled before it starts, SUSPENDED when its charger falls silent, resumed when it speaks
again (2.x asked with GetTransactionStatus), or completed on the evidence and settled."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import httpx
import pytest
from ocpp.routing import on
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from ocpp.v201 import call_result as result201

from core.models import ChargingSession, Payment
from core.payments.worker import PaymentWorker
from core.sessions import lifecycle
from core.timeutil import utcnow
from tests.api.graphql_helpers import gql, sign_in
from tests.helpers import Charger201, boot16, connect
from tests.pages.flows import CODE, until
from tests.payments.test_every_start_settled import card_payer, now, rows, tx_event

START = """mutation($c: ID!) { startCharging(connectorId: $c) { __typename
  ... on Problem { message } ... on ChargingStarted { sessionId } } }"""


@pytest.fixture
async def client(runtime):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.http_app()), base_url="http://test"
    ) as c:
        yield c


async def app_start(runtime, client, cp: Any) -> dict[str, Any]:
    await cp.call(boot16())
    await cp.call(
        call16.StatusNotification(connector_id=1, error_code="NoError", status="Available")
    )
    token = (await sign_in(client, runtime, "+4791234567"))["accessToken"]
    charger = await gql(client, '{ charger(code: "KLOKK-1") { connectors { id } } }')
    connector = charger["data"]["charger"]["connectors"][0]["id"]
    result = await gql(client, START, {"c": connector}, token)
    return {"token": token, **result["data"]["startCharging"]}


async def only_session(runtime) -> ChargingSession:
    (cs,) = await rows(runtime, ChargingSession)
    return cs


async def test_a_start_the_charger_refuses_fails_with_the_reason_and_frees_the_hold(
    runtime, client, ocpp_url
):
    await card_payer(runtime)
    async with connect(ocpp_url, CODE) as cp:
        cp.answer_status = "Rejected"
        started = await app_start(runtime, client, cp)
    assert started["__typename"] == "NotAllowed"
    cs = await only_session(runtime)
    assert (cs.status, cs.status_reason) == ("failed", "the charger answered Rejected")
    (hold,) = await rows(runtime, Payment)
    assert hold.status == "cancelled" and hold.session_id == cs.id


async def test_stopping_a_session_that_has_not_started_cancels_it(runtime, client, ocpp_url):
    await card_payer(runtime)
    async with connect(ocpp_url, CODE) as cp:  # accepts the remote start; no car comes
        started = await app_start(runtime, client, cp)
        assert started["__typename"] == "ChargingStarted"
        stopped = await gql(
            client,
            """mutation($s: ID!) { stopCharging(sessionId: $s) { __typename
            ... on ChargingStopping { message session { state statusReason } } } }""",
            {"s": started["sessionId"]},
            started["token"],
        )
    assert stopped["data"]["stopCharging"] == {
        "__typename": "ChargingStopping",
        "message": "The start was cancelled.",
        "session": {"state": "FAILED", "statusReason": "cancelled by the driver"},
    }
    assert [a for a, _ in cp.received] == ["RemoteStartTransaction"]
    (hold,) = await rows(runtime, Payment)
    assert hold.status == "cancelled"


async def test_a_silent_chargers_session_is_suspended_and_resumes_when_it_speaks_again(
    runtime, ocpp_url
):
    await card_payer(runtime)
    async with connect(ocpp_url, CODE) as cp:
        await cp.call(boot16())
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG-OK", meter_start=1_000, timestamp=now(-60)
            )
        )
    await until(lambda: _offline(runtime), "the charger offline")
    later = utcnow() + timedelta(seconds=runtime.settings.session_suspend_after_s + 1)
    assert await lifecycle.suspend_silent(runtime.payments, later) == 1
    cs = await only_session(runtime)
    assert (cs.status, cs.status_reason) == ("suspended", "the charger is offline")

    async with connect(ocpp_url, CODE) as cp:
        # Back online: we ask it about the session (1.6: a triggered MeterValues).
        await until(lambda: [a for a, _ in cp.received], "the reconnect check")
        assert cp.received[0] == (
            "TriggerMessage",
            {"requested_message": "MeterValues", "connector_id": 1},
        )
        await cp.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[
                    {
                        "timestamp": now(),
                        "sampledValue": [
                            {"value": "3000", "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            )
        )
    cs = await only_session(runtime)
    assert (cs.status, cs.status_reason, cs.energy_wh) == ("active", None, 2_000)


async def _offline(runtime) -> bool:
    from core.models import Charger

    (charger,) = await rows(runtime, Charger)
    return not charger.online


async def test_a_lost_session_is_completed_on_the_evidence_then_its_real_stop_still_counts(
    runtime, ocpp_url
):
    await card_payer(runtime)
    async with connect(ocpp_url, CODE) as cp:
        await cp.call(boot16())
        started = await cp.call(
            call16.StartTransaction(
                connector_id=1, id_tag="TAG-OK", meter_start=1_000, timestamp=now(-600)
            )
        )
        await cp.call(
            call16.MeterValues(
                connector_id=1,
                transaction_id=started.transaction_id,
                meter_value=[
                    {
                        "timestamp": now(-300),
                        "sampledValue": [
                            {"value": "5000", "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            )
        )
    await until(lambda: _offline(runtime), "the charger offline")
    settings = runtime.settings
    await lifecycle.suspend_silent(
        runtime.payments, utcnow() + timedelta(seconds=settings.session_suspend_after_s + 1)
    )
    day_later = utcnow() + timedelta(seconds=settings.session_settle_after_s + 60)
    assert await lifecycle.settle_on_evidence(runtime.payments, day_later) == [
        started.transaction_id
    ]

    async def captured() -> ChargingSession | None:
        cs = await only_session(runtime)
        return cs if cs.payment_state == "paid" else None

    cs = await until(captured, "the capture of what the evidence shows")
    assert (cs.status, cs.stop_reason, cs.energy_wh, cs.cost_ore) == (
        "completed",
        "ChargerLost",
        4_000,
        2_000,  # 4 kWh at kr 5
    )
    assert "stop_missing" in cs.flags
    (hold,) = await rows(runtime, Payment)
    assert hold.amount_captured_ore == 2_000

    async with connect(ocpp_url, CODE) as cp:  # the charger comes back with its queued stop
        await cp.call(
            call16.StopTransaction(
                meter_stop=6_000, timestamp=now(-200), transaction_id=started.transaction_id
            )
        )
    cs = await only_session(runtime)
    assert cs.energy_wh == 5_000 and cs.stop_reason == "Local"
    assert {"late_stop", "energy_changed_after_billing"} <= set(cs.flags)


class Charger201Status(Charger201):
    """Answers GetTransactionStatus as told."""

    ongoing = True

    @on("GetTransactionStatus")
    async def on_get_transaction_status(self, **kwargs: Any) -> Any:
        self.received.append(("GetTransactionStatus", kwargs))
        return result201.GetTransactionStatus(
            messages_in_queue=False, ongoing_indicator=self.ongoing
        )


@pytest.mark.parametrize("ongoing", [True, False])
async def test_a_2x_charger_is_asked_about_its_open_sessions_when_it_reconnects(
    runtime, ocpp_url, ongoing
):
    await card_payer(runtime)
    token = {"id_token": "TAG-OK", "type": "ISO14443"}
    async with connect(ocpp_url, CODE, protocol="2.0.1") as cp:
        await cp.call(tx_event("Started", 0, now(-600), 1_000, id_token=token))
        await cp.call(
            call201.StatusNotification(
                timestamp=now(), connector_status="Occupied", evse_id=1, connector_id=1
            )
        )
    await until(lambda: _offline(runtime), "the charger offline")
    await lifecycle.suspend_silent(
        runtime.payments,
        utcnow() + timedelta(seconds=runtime.settings.session_suspend_after_s + 1),
    )
    assert (await only_session(runtime)).status == "suspended"
    Charger201Status.ongoing = ongoing
    async with connect(ocpp_url, CODE, protocol="2.0.1", charger_class=Charger201Status) as cp:
        await until(lambda: cp.received, "the reconnect check")
        assert cp.received[0] == ("GetTransactionStatus", {"transaction_id": "off-1"})

        async def decided() -> ChargingSession | None:
            cs = await only_session(runtime)
            checked = cs.status_reason != "the charger is offline"
            return cs if cs.status == "active" or checked else None

        cs = await until(decided, "the session's state after the check")
    if ongoing:
        assert cs.status == "active"
    else:
        # Ended, nothing queued: it is completed on the evidence at the next round.
        assert (cs.status, cs.status_reason) == (
            "suspended",
            "the charger says the transaction has ended",
        )
        await lifecycle.settle_on_evidence(runtime.payments, utcnow())
        cs = await only_session(runtime)
        assert (cs.status, cs.stop_reason) == ("completed", "ChargerLost")


async def test_a_webhook_stored_while_the_worker_is_busy_is_handled_right_after(runtime):
    worker = PaymentWorker(runtime.payments, runtime.gateway_ctx.events, lambda: None)
    rounds: list[bool] = []
    busy = asyncio.Event()
    release = asyncio.Event()

    async def run_jobs(*, reminders: bool) -> None:
        rounds.append(reminders)
        if len(rounds) == 1:
            busy.set()
            await release.wait()

    worker.run_jobs = run_jobs
    await worker.start()
    try:
        await busy.wait()
        worker.kick()  # a webhook arrives during the first round
        release.set()
        await until(lambda: len(rounds) >= 2, "the round the kick asked for", timeout=10)
    finally:
        await worker.stop()
    # The worker's interval is 30 s: the second round within 10 s is the kick's.
    assert worker._interval == 30.0
