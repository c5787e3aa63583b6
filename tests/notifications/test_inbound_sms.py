"""SMS commands through the real webhook (signed like Twilio signs), with a real charger."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
from ocpp.v16 import call as call16
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from core.models import ChargingSession, InboundSms, PaymentMethod, SmsMessage, User
from tests.api.test_e2e import ChargingCharger
from tests.helpers import add_fleet, arrange, boot16, connect

TOKEN = "twilio-test-auth-token"
BASE = "https://ladeflyt.example.no"
KARI = "+4791234567"
_sid = iter(range(1, 10_000))


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


def signed(path: str, params: dict[str, str]) -> dict[str, str]:
    signature = RequestValidator(TOKEN).compute_signature(BASE + path, params)
    return {"X-Twilio-Signature": signature}


async def sms(client, body: str, sender: str = KARI, sid: str | None = None) -> str:
    params = {
        "MessageSid": sid or f"SM{next(_sid):032d}",
        "From": sender,
        "To": "2222",
        "Body": body,
        "AccountSid": "ACtest",
    }
    response = await client.post(
        "/sms/inbound", data=params, headers=signed("/sms/inbound", params)
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    match = re.search(r"<Message>(.*)</Message>", response.text, re.S)
    return match.group(1) if match else ""


async def _with_card(runtime, phone: str = KARI) -> None:
    async def work(s):
        user = (await s.execute(select(User).where(User.phone == phone))).scalar_one()
        user.invoice_billing = False
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

    await arrange(runtime, work)


async def test_unsigned_or_badly_signed_webhooks_are_refused_and_do_nothing(client, runtime):
    params = {"MessageSid": "SM1", "From": KARI, "To": "2222", "Body": "STOPP"}
    assert (await client.post("/sms/inbound", data=params)).status_code == 403
    bad = {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}
    assert (await client.post("/sms/inbound", data=params, headers=bad)).status_code == 403
    # Signed for another URL (a replay against our host from elsewhere).
    other = {
        "X-Twilio-Signature": RequestValidator(TOKEN).compute_signature(
            "https://evil.example/sms/inbound", params
        )
    }
    assert (await client.post("/sms/inbound", data=params, headers=other)).status_code == 403
    tampered = dict(params, Body="Lade start X")
    headers = signed("/sms/inbound", params)
    assert (await client.post("/sms/inbound", data=tampered, headers=headers)).status_code == 403

    async def count(s):
        return (await s.execute(select(func.count()).select_from(InboundSms))).scalar_one()

    assert await arrange(runtime, count) == 0


async def test_webhooks_are_off_without_an_auth_token(client, runtime):
    runtime.settings.twilio_auth_token = ""
    params = {"MessageSid": "SM1", "From": KARI, "Body": "HJELP"}
    assert (await client.post("/sms/inbound", data=params)).status_code == 404
    assert (await client.post("/sms/status", data=params)).status_code == 404


async def test_help_unknown_and_replayed_message_sid(client, runtime):
    assert "LADE START" in await sms(client, "Hjelp")
    assert "CHARGE START" in await sms(client, "help")
    assert "HJELP" in await sms(client, "Hei der")
    first = await sms(client, "STOPP", sid="SMreplay")
    again = await sms(client, "START", sid="SMreplay")  # Twilio retry: same sid
    assert first == again and "START" in first

    async def rows(s):
        return (
            (
                await s.execute(
                    select(InboundSms.command).where(InboundSms.message_sid == "SMreplay")
                )
            )
            .scalars()
            .all()
        )

    assert await arrange(runtime, rows) == ["stop_or_opt_out"]


async def test_unknown_number_gets_sign_up_and_guest_pay_links(client, runtime):
    await add_fleet(runtime, "KLOKK-AC-01")
    reply = await sms(client, "Lade start klokk ac 01", sender="+4799999999")
    assert f"{BASE}/app" in reply and f"{BASE}/pay/KLOKK-AC-01" in reply


async def test_every_start_failure_has_a_clear_reply(client, runtime, ocpp_url):
    await add_fleet(runtime, "KLOKK-AC-01", invoiced=False)
    assert "Fant ingen lader" in await sms(client, "Lade start NOPE-99")
    assert "ikke tilkoblet" in await sms(client, "Lade start KLOKK-AC-01")
    async with connect(ocpp_url, "KLOKK-AC-01") as cp:
        await cp.call(boot16())
        for n in (1, 2):
            await cp.call(
                call16.StatusNotification(connector_id=n, error_code="NoError", status="Available")
            )
        assert f"{BASE}/app/payment" in await sms(client, "Lade start KLOKK-AC-01")
        await _with_card(runtime)
        await cp.call(
            call16.StatusNotification(connector_id=2, error_code="NoError", status="Charging")
        )
        assert "opptatt" in await sms(client, "Lade start KLOKK-AC-01-2")
        assert "finnes ikke" in await sms(client, "Lade start KLOKK-AC-01-7")
        cp.answer_status = "Rejected"
        assert "Kan ikke starte" in await sms(client, "Lade start KLOKK-AC-01")
    assert "Du har ingen aktiv lading" in await sms(client, "Lade stop KLOKK-AC-01")
    assert "ingen aktiv lading" in await sms(client, "Lade status")


async def test_start_status_stop_by_sms_then_finished_sms_with_kwh_and_cost(
    client, runtime, ocpp_url
):
    await add_fleet(runtime, "KLOKK-AC-01")

    async def price(s):
        from core.models import Site

        (await s.execute(select(Site))).scalar_one().list_price_ore_per_kwh = 400

    await arrange(runtime, price)
    await _with_card(runtime)
    async with connect(ocpp_url, "KLOKK-AC-01", charger_class=ChargingCharger) as cp:
        await cp.call(boot16())
        for n in (1, 2):
            await cp.call(
                call16.StatusNotification(connector_id=n, error_code="NoError", status="Available")
            )
        started = await sms(client, "lade start kl0kk ac 01")
        assert started.startswith("Lading startet på KLOKK-AC-01, kontakt 1"), started
        assert "kr 4,00/kWh" in started
        session = await _wait_for_session(runtime)
        assert "Du lader på KLOKK-AC-01" in await sms(client, "LADE STATUS")
        await cp.meter(3_500, 11.0)
        other = "+4792222222"

        async def add_other(s):
            s.add(User(phone=other, name="Ola"))

        await arrange(runtime, add_other)
        assert "ingen aktiv lading på KLOKK-AC-01" in await sms(
            client, "Lade stop KLOKK-AC-01", sender=other
        )
        stopping = await sms(client, "Lade stop KLOKK-AC-01")
        assert "3,500 kWh" in stopping and "kr 14,00" in stopping
        finished = await _wait_for_sms(runtime, "charging_finished")
    assert finished.to == KARI
    assert "3,500 kWh" in finished.body and "kr 14,00" in finished.body
    assert f"{BASE}/receipts/{session}" in finished.body


async def _wait_for_session(runtime) -> int:
    for _ in range(100):

        async def active(s):
            return (
                await s.execute(
                    select(ChargingSession.id).where(ChargingSession.status == "active")
                )
            ).scalar_one_or_none()

        found = await arrange(runtime, active)
        if found:
            return int(found)
        await asyncio.sleep(0.05)
    raise AssertionError("no session started")


async def _wait_for_sms(runtime, kind: str) -> Any:
    for _ in range(100):

        async def sent(s):
            return (
                await s.execute(select(SmsMessage).where(SmsMessage.kind == kind))
            ).scalar_one_or_none()

        message = await arrange(runtime, sent)
        if message is not None and message.status == "accepted":
            return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"no {kind} SMS sent")


async def test_rate_limit_per_phone(client, runtime):
    runtime.settings.sms_commands_per_10min = 3
    replies = [await sms(client, "Lade status", sender="+4793333333") for _ in range(5)]
    assert "For mange meldinger" not in replies[2]
    assert "For mange meldinger" in replies[3] and "For mange meldinger" in replies[4]


async def test_status_callback_is_verified_and_forward_only(client, runtime):
    from core.db import transaction
    from core.messaging import outbox

    async with transaction(runtime.gateway_ctx.sessions) as s:
        await outbox.queue_sms(s, to=KARI, kind="x", body="x", dedup_key="cb", urgent=True)
    await runtime.dispatcher.run_once()

    async def message(s):
        return (await s.execute(select(SmsMessage))).scalar_one()

    sid = (await arrange(runtime, message)).provider_sid
    for state in ("delivered", "sent"):
        params = {"MessageSid": sid, "MessageStatus": state, "AccountSid": "ACtest"}
        response = await client.post(
            "/sms/status", data=params, headers=signed("/sms/status", params)
        )
        assert response.status_code == 204
    assert (await arrange(runtime, message)).status == "delivered"
    unsigned = await client.post("/sms/status", data={"MessageSid": sid, "MessageStatus": "failed"})
    assert unsigned.status_code == 403
    assert (await arrange(runtime, message)).status == "delivered"
