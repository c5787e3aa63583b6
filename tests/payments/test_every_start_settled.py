"""Every way to start ends in exactly one settlement: app, SMS, RFID tag (with or without
Authorize first, online or replayed from an offline queue) and guest link; `payments check`
proves it. Drivers who cannot pay are refused at the charger with a reason."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from ocpp.v16 import call as call16
from ocpp.v201 import call as call201
from sqlalchemy import select

from core.billing.service import run_invoices
from core.models import ChargingSession, Payment, PaymentMethod, Site, User
from core.payments.audit import audit
from core.tariffs.admin import attach_tariff, create_tariff
from core.timeutil import format_ocpp_datetime
from tests.api.graphql_helpers import gql, sign_in
from tests.helpers import add_fleet, arrange, boot16, connect
from tests.notifications.test_inbound_sms import BASE, TOKEN, sms
from tests.pages.flows import CODE, PRICE_ORE_PER_KWH, online, until
from tests.pages.test_pages_http import charging, checkout

KARI = "+4791234567"


@pytest.fixture
def settings(settings):
    settings.twilio_auth_token = TOKEN
    settings.public_base_url = BASE
    return settings


@pytest.fixture
async def client(runtime):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.http_app()), base_url="http://test"
    ) as c:
        yield c


async def ladeflyt(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The operator's CLI, as a process of its own."""
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "ladeflyt.cli", *args],
        env={**os.environ, "LADEFLYT_DATABASE_URL": db_url},
        capture_output=True,
        text=True,
        timeout=60,
    )


def now(offset_s: float = 0) -> str:
    return format_ocpp_datetime(datetime.now(UTC) + timedelta(seconds=offset_s))


async def card_payer(runtime, *codes: str, card: str = "pm_sandbox_visa") -> None:
    """Kari at Klokkarstua (list price kr 5/kWh) with a saved card and her tag TAG-OK."""
    await add_fleet(runtime, *(codes or (CODE,)), invoiced=False)

    async def work(s):
        (await s.execute(select(Site))).scalar_one().list_price_ore_per_kwh = PRICE_ORE_PER_KWH
        if card:
            user = (await s.execute(select(User))).scalar_one()
            s.add(
                PaymentMethod(
                    user_id=user.id,
                    provider="sandbox-card",
                    kind="card",
                    provider_ref=card,
                    last4="4242",
                    is_default=True,
                )
            )

    await arrange(runtime, work)


async def rows(runtime, model: Any, *where: Any) -> list[Any]:
    async def work(s):
        return list((await s.execute(select(model).where(*where).order_by(model.id))).scalars())

    return await arrange(runtime, work)


async def settled(runtime, session_id: int) -> ChargingSession | None:
    (cs,) = await rows(runtime, ChargingSession, ChargingSession.id == session_id)
    return cs if cs.payment_state not in ("none", "unpriced") else None


async def rfid_session_16(cp: Any, tag: str, wh: int, *, authorize: bool = True) -> Any:
    """A driver taps `tag`, charges `wh` and unplugs; returns the StartTransaction answer."""
    if authorize:
        answer = await cp.call(call16.Authorize(id_tag=tag))
        if answer.id_tag_info["status"] != "Accepted":
            return answer
    started = await cp.call(
        call16.StartTransaction(connector_id=1, id_tag=tag, meter_start=10_000, timestamp=now(-60))
    )
    await cp.call(
        call16.StopTransaction(
            meter_stop=10_000 + wh,
            timestamp=now(),
            transaction_id=started.transaction_id,
            reason="EVDisconnected",
        )
    )
    return started


# --------------------------------------------------------------------------- RFID, 1.6


async def test_a_card_payers_tag_gets_a_hold_at_authorize_and_pays_the_exact_cost(
    runtime, ocpp_url
):
    await card_payer(runtime)
    async with connect(ocpp_url, CODE) as cp:
        await cp.call(boot16())
        answer = await cp.call(call16.Authorize(id_tag="TAG-OK"))
        assert answer.id_tag_info["status"] == "Accepted"
        (hold,) = await rows(runtime, Payment)
        assert (hold.status, hold.amount_authorized_ore, hold.session_id) == (
            "authorized",
            50_000,
            None,
        )
        started = await rfid_session_16(cp, "TAG-OK", 7_350, authorize=False)
        assert started.id_tag_info["status"] == "Accepted"
    cs = await until(lambda: settled(runtime, started.transaction_id), "settlement")
    assert (cs.channel, cs.payment_state, cs.cost_ore) == ("rfid", "paid", 3_675)
    (payment,) = await rows(runtime, Payment)  # the Authorize hold, nothing more
    assert payment.id == hold.id and payment.session_id == cs.id
    assert (payment.status, payment.amount_captured_ore) == ("captured", 3_675)


async def test_a_start_from_the_local_cache_places_the_hold_and_a_replay_places_none(
    runtime, ocpp_url
):
    await card_payer(runtime)
    async with connect(ocpp_url, CODE) as cp:
        await cp.call(boot16())
        request = call16.StartTransaction(
            connector_id=1, id_tag="TAG-OK", meter_start=10_000, timestamp=now(-3600)
        )
        first = await cp.call(request)
        again = await cp.call(request)  # the charger's retry of the same message
        assert first.transaction_id == again.transaction_id
        assert first.id_tag_info["status"] == again.id_tag_info["status"] == "Accepted"
        (hold,) = await rows(runtime, Payment)
        assert hold.session_id == first.transaction_id
        await cp.call(
            call16.StopTransaction(
                meter_stop=12_000, timestamp=now(), transaction_id=first.transaction_id
            )
        )
    cs = await until(lambda: settled(runtime, first.transaction_id), "settlement")
    assert (cs.payment_state, cs.cost_ore) == ("paid", 1_000)


@pytest.mark.parametrize(
    ("card", "status"), [(None, "Blocked"), ("pm_sandbox_declined", "Blocked")]
)
async def test_a_tag_is_refused_when_its_driver_cannot_pay(runtime, ocpp_url, card, status):
    await card_payer(runtime, card=card or "")
    async with connect(ocpp_url, CODE) as cp:
        await cp.call(boot16())
        answer = await cp.call(call16.Authorize(id_tag="TAG-OK"))
        assert answer.id_tag_info["status"] == status
    held = [p for p in await rows(runtime, Payment) if p.status == "authorized"]
    assert held == []


async def test_a_2x_charger_shows_why_a_tag_is_refused(runtime, ocpp_url):
    await card_payer(runtime, card="pm_sandbox_declined")
    async with connect(ocpp_url, CODE, protocol="2.0.1") as cp:
        answer = await cp.call(
            call201.Authorize(id_token={"id_token": "TAG-OK", "type": "ISO14443"})
        )
    info = answer.id_token_info
    assert info["status"] == "NoCredit"
    assert info["personal_message"] == {
        "format": "UTF8",
        "content": "Kortet ble avvist. Bruk appen.",
    }


async def test_an_offline_start_of_a_driver_who_cannot_pay_is_settled_unpaid_with_the_reason(
    runtime, ocpp_url
):
    await card_payer(runtime, card="")
    async with connect(ocpp_url, CODE) as cp:
        await cp.call(boot16())
        # The charger let the car charge from its cache; we learn of it afterwards.
        started = await rfid_session_16(cp, "TAG-OK", 4_000, authorize=False)
        assert started.id_tag_info["status"] == "Blocked"
    cs = await until(lambda: settled(runtime, started.transaction_id), "settlement")
    assert (cs.payment_state, cs.payment_note) == ("unpaid", "no_payment_method")
    assert "started_unauthorized" in cs.flags
    async with runtime.gateway_ctx.sessions() as s:
        report = await audit(s, grace=timedelta(0))
    assert report.clean and [f.session_id for f in report.unpaid] == [cs.id]


# --------------------------------------------------------------------------- RFID, 2.x


def tx_event(kind: str, seq: int, at: str, wh: int, **kw: Any) -> call201.TransactionEvent:
    return call201.TransactionEvent(
        event_type=kind,
        timestamp=at,
        seq_no=seq,
        trigger_reason={"Started": "Authorized", "Ended": "EVCommunicationLost"}[kind],
        transaction_info={"transaction_id": "off-1"},
        evse={"id": 1, "connector_id": 1},
        meter_value=[
            {
                "timestamp": at,
                "sampled_value": [
                    {
                        "value": wh,
                        "measurand": "Energy.Active.Import.Register",
                        "unit_of_measure": {"unit": "Wh"},
                    }
                ],
            }
        ],
        **kw,
    )


async def test_an_offline_2x_transaction_replayed_later_is_charged_to_the_card(runtime, ocpp_url):
    await card_payer(runtime)
    token = {"id_token": "TAG-OK", "type": "ISO14443"}
    async with connect(ocpp_url, CODE, protocol="2.0.1") as cp:
        # Queued while the charger was offline; replayed in order after it reconnected.
        started = await cp.call(
            tx_event("Started", 0, now(-7200), 20_000, id_token=token, offline=True)
        )
        assert started.id_token_info["status"] == "Accepted"
        await cp.call(tx_event("Ended", 1, now(-3600), 26_000, offline=True))
        await cp.call(tx_event("Ended", 1, now(-3600), 26_000, offline=True))  # retried
    (cs,) = await rows(runtime, ChargingSession)
    cs = await until(lambda: settled(runtime, cs.id), "settlement")
    assert (cs.energy_wh, cs.cost_ore, cs.payment_state) == (6_000, 3_000, "paid")
    (payment,) = await rows(runtime, Payment)
    assert (payment.session_id, payment.amount_captured_ore) == (cs.id, 3_000)


# --------------------------------------------------------------------------- other payers


async def test_an_invoice_customers_tag_session_goes_onto_the_invoice(runtime, ocpp_url):
    await add_fleet(runtime, CODE)  # Kari is invoiced monthly

    async def price(s):
        (await s.execute(select(Site))).scalar_one().list_price_ore_per_kwh = PRICE_ORE_PER_KWH

    await arrange(runtime, price)
    async with connect(ocpp_url, CODE) as cp:
        await cp.call(boot16())
        started = await rfid_session_16(cp, "TAG-OK", 2_000)
        assert started.id_tag_info["status"] == "Accepted"
    cs = await until(lambda: settled(runtime, started.transaction_id), "settlement")
    assert cs.payment_state == "to_invoice" and await rows(runtime, Payment) == []
    period = f"{cs.stopped_at.astimezone(UTC):%Y-%m}"

    async def invoice(s):
        return await run_invoices(s, period)

    result = await arrange(runtime, invoice)
    assert result.sessions_invoiced == 1
    (cs,) = await rows(runtime, ChargingSession)
    assert cs.payment_state == "invoiced"
    async with runtime.gateway_ctx.sessions() as s:
        assert (await audit(s, grace=timedelta(0))).clean


async def test_a_free_tariff_needs_no_payment_method_and_ends_nothing_due(runtime, ocpp_url):
    await card_payer(runtime, card="")

    async def free(s):
        await create_tariff(s, "Servicebil", "free for the caretaker's car")
        await attach_tariff(
            s,
            "Servicebil",
            site="Klokkarstua",
            group="member",
            valid_from=datetime.now(UTC) - timedelta(days=1),
        )

    await arrange(runtime, free)
    async with connect(ocpp_url, CODE) as cp:
        await cp.call(boot16())
        started = await rfid_session_16(cp, "TAG-OK", 5_000)
        assert started.id_tag_info["status"] == "Accepted"
    cs = await until(lambda: settled(runtime, started.transaction_id), "settlement")
    assert (cs.cost_ore, cs.payment_state) == (0, "nothing_due")
    assert await rows(runtime, Payment) == []


# --------------------------------------------------------------------------- all channels


async def test_app_sms_rfid_and_guest_starts_each_end_in_exactly_one_settlement(
    runtime, ocpp_url, client, db_url
):
    await card_payer(runtime)
    token = (await sign_in(client, runtime, KARI))["accessToken"]
    async with online(ocpp_url) as charger:
        connector = (
            await gql(
                client,
                '{ charger(code: "KLOKK-1") { connectors { id } } }',
            )
        )["data"]["charger"]["connectors"][0]["id"]

        async def one_session(start: Any, stop: Any) -> int:
            before = {cs.id for cs in await rows(runtime, ChargingSession)}
            charger.tx = None
            await start()
            await until(lambda: charger.tx, "the charger's transaction")
            await charger.meter(2_000, 11.0)
            await stop()
            (new,) = [cs for cs in await rows(runtime, ChargingSession) if cs.id not in before]
            await until(lambda: settled(runtime, new.id), "settlement")
            return new.id

        async def app_start() -> None:
            result = await gql(
                client,
                "mutation($c: ID!) { startCharging(connectorId: $c) { __typename } }",
                {"c": connector},
                token,
            )
            assert result["data"]["startCharging"]["__typename"] == "ChargingStarted"

        async def app_stop() -> None:
            (active,) = [cs for cs in await rows(runtime, ChargingSession) if cs.status == "active"]
            result = await gql(
                client,
                "mutation($s: ID!) { stopCharging(sessionId: $s) { __typename } }",
                {"s": str(active.id)},
                token,
            )
            assert result["data"]["stopCharging"]["__typename"] == "ChargingStopping"

        async def sms_start() -> None:
            assert "Lading startet" in await sms(client, "Lade start KLOKK-1")

        async def sms_stop() -> None:
            assert "stoppes" in await sms(client, "Lade stop KLOKK-1")

        async def rfid_start() -> None:
            assert (await charger.call(call16.Authorize(id_tag="TAG-OK"))).id_tag_info[
                "status"
            ] == "Accepted"
            await charger.begin(id_tag="TAG-OK", connector_id=1)

        async def rfid_stop() -> None:
            await charger.end(transaction_id=charger.tx)

        guest_link: dict[str, str] = {}

        async def guest_start() -> None:
            link, sandbox = await checkout(client, runtime, evse=1)
            guest_link["token"] = link
            await charging(client, charger, link, sandbox)

        async def guest_stop() -> None:
            stopped = await client.post(f"/pay/c/{guest_link['token']}/stop")
            assert stopped.headers["x-stop-result"] == "ok"

        ids = [
            await one_session(app_start, app_stop),
            await one_session(sms_start, sms_stop),
            await one_session(rfid_start, rfid_stop),
            await one_session(guest_start, guest_stop),
        ]
    sessions = await rows(runtime, ChargingSession, ChargingSession.id.in_(ids))
    assert [cs.channel for cs in sessions] == ["app", "sms", "rfid", "guest"]
    assert [(cs.payment_state, cs.cost_ore) for cs in sessions] == [("paid", 1_000)] * 4
    for cs in sessions:
        (payment,) = await rows(runtime, Payment, Payment.session_id == cs.id)
        assert (payment.status, payment.amount_captured_ore) == ("captured", 1_000)
    checked = await ladeflyt(db_url, "payments", "check", "--grace-minutes", "0")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "4 finished session(s) checked: 0 problem(s), 0 unpaid" in checked.stdout


async def test_payments_check_lists_unsettled_sessions_and_mismatches_and_fails(runtime, db_url):
    await card_payer(runtime)
    stopped = datetime.now(UTC) - timedelta(hours=1)

    async def books(s):
        user = (await s.execute(select(User))).scalar_one()
        common = {
            "charger_id": 1,
            "status": "completed",
            "started_at": stopped - timedelta(hours=1),
            "stopped_at": stopped,
            "energy_wh": 2_000,
            "user_id": user.id,
            "flags": [],
        }
        never = ChargingSession(transaction_id="1", cost_ore=1_000, **common)
        short = ChargingSession(transaction_id="2", cost_ore=1_000, payment_state="paid", **common)
        s.add_all([never, short])
        await s.flush()
        s.add(
            Payment(
                reference="lf-s-short",
                purpose="session",
                provider="sandbox-card",
                method="card",
                status="captured",
                amount_requested_ore=900,
                amount_captured_ore=900,
                session_id=short.id,
            )
        )
        return never.id, short.id

    never, short = await arrange(runtime, books)
    result = await ladeflyt(db_url, "payments", "check")
    assert result.returncode == 1
    assert f"session {never}: not_settled: no settlement (none)" in result.stdout
    assert f"session {short}: money_mismatch: paid: cost 1000 øre, collected 900 øre" in (
        result.stdout
    )
    assert "2 finished session(s) checked: 2 problem(s), 0 unpaid" in result.stdout
