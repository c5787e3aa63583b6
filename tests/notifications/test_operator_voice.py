"""SMS that speak like the operator: its name, short number and support in the texts, stop
commands that never opt a driver out, replies in the command's language, GSM-7 bodies."""

from __future__ import annotations

from decimal import Decimal

import pytest
from ocpp.v16 import call as call16
from sqlalchemy import func, select

from core.billing.settings import BillingSettings
from core.config import Settings
from core.messaging.templates import TEXTS, is_gsm7, kroner, kwh, render, unit_price
from core.models import ChargingSession, SmsOptOut, User
from core.operator import Operator
from tests.api.test_e2e import ChargingCharger
from tests.helpers import add_fleet, arrange, boot16, connect
from tests.notifications.test_inbound_sms import (
    KARI,
    _wait_for_session,
    _with_card,
    sms,
)
from tests.notifications.test_inbound_sms import client as client
from tests.notifications.test_inbound_sms import settings as settings
from tests.pages.flows import until

SOLSIDEN = BillingSettings(
    seller_name="Solsiden Lading AS",
    seller_org_number="923609016",
    seller_phone="22 12 34 56",
    seller_email="hjelp@solsiden.no",
)


@pytest.fixture
def operator_settings(settings: Settings) -> Settings:
    settings.billing = SOLSIDEN
    settings.sms_short_number = "2210"
    settings.support_hours = "mon-fri 08:00-16:00; sat 10:00-14:00"
    return settings


async def _opted_out(runtime, phone: str = KARI) -> bool:
    async def work(s):
        count = select(func.count()).select_from(SmsOptOut).where(SmsOptOut.phone == phone)
        return (await s.execute(count)).scalar_one() > 0

    return bool(await arrange(runtime, work))


async def _kari(runtime, language: str = "nb") -> None:
    """Kari (+4791234567), whom add_fleet may have made already, speaking `language`."""

    async def work(s):
        user = (await s.execute(select(User).where(User.phone == KARI))).scalar_one_or_none()
        if user is None:
            user = User(phone=KARI, name="Kari")
            s.add(user)
        user.language = language

    await arrange(runtime, work)


async def test_help_sms_names_the_operator_and_its_support_in_both_languages(
    operator_settings, client, runtime
):
    nb = await sms(client, "HJELP")
    assert nb.startswith("Solsiden Lading AS: LADE START")
    assert "Kundeservice: 22 12 34 56 (hverdager 08:00-16:00, lør 10:00-14:00)" in nb
    assert "hjelp@solsiden.no" in nb and "STOPP SMS" in nb
    en = await sms(client, "HELP")
    assert en.startswith("Solsiden Lading AS: CHARGE START")
    assert "Customer service: 22 12 34 56 (weekdays 08:00-16:00, Sat 10:00-14:00)" in en
    assert "Send HJELP til 2210" in await sms(client, "Hei der")


async def test_stop_alone_while_charging_stops_the_charge_and_never_opts_out(
    operator_settings, client, runtime, ocpp_url
):
    await add_fleet(runtime, "KLOKK-AC-01")
    await _kari(runtime)
    await _with_card(runtime)
    async with connect(ocpp_url, "KLOKK-AC-01", charger_class=ChargingCharger) as cp:
        await cp.call(boot16())
        for n in (1, 2):
            await cp.call(
                call16.StatusNotification(connector_id=n, error_code="NoError", status="Available")
            )
        assert "Lading startet" in await sms(client, "Lade start KLOKK-AC-01")
        session_id = await _wait_for_session(runtime)
        await cp.meter(2_226, 11.0)

        reply = await sms(client, "STOP")
        assert reply.startswith("Lading stoppes på KLOKK-AC-01: 2,226 kWh"), reply
        assert "Send STOPP SMS" in reply  # how to opt out, if that was what they meant
        assert not await _opted_out(runtime)

        async def stopped(s):
            return (await s.get(ChargingSession, session_id)).status == "completed"

        await until(lambda: arrange(runtime, stopped), "the session to stop")

    # Nothing charging any more: now STOPP alone is the aggregators' opt-out.
    reply = await sms(client, "STOPP")
    assert await _opted_out(runtime)
    assert "meldt av SMS fra Solsiden Lading AS" in reply
    assert "Send START til 2210" in reply  # how to opt back in
    assert "Du får SMS fra Solsiden Lading AS igjen" in await sms(client, "START")
    assert not await _opted_out(runtime)


@pytest.mark.parametrize("command", ["Lade stop", "LADE STOPP KLOKK-AC-01", "stopp klokk-ac-01"])
async def test_stop_commands_never_opt_out_even_with_nothing_to_stop(
    operator_settings, client, runtime, command
):
    await add_fleet(runtime, "KLOKK-AC-01")
    await _kari(runtime)
    reply = await sms(client, command)
    assert "ingen aktiv lading" in reply
    assert not await _opted_out(runtime)


async def test_unmistakable_opt_out_works_even_while_charging_words_differ(
    operator_settings, client, runtime
):
    await _kari(runtime, language="en")
    reply = await sms(client, "Stopp SMS")
    assert await _opted_out(runtime)
    assert "meldt av SMS" in reply  # STOPP is Norwegian: a Norwegian reply
    assert "opted out of SMS from Solsiden Lading AS" in await sms(client, "UNSUBSCRIBE")
    assert "Send STOP SMS to 2210 to opt out" in await sms(client, "START")


async def test_an_english_command_gets_an_english_reply_whatever_the_profile_says(
    operator_settings, client, runtime
):
    await add_fleet(runtime, "KLOKK-AC-01")
    await _kari(runtime, language="nb")
    assert await sms(client, "CHARGE STATUS") == "You have no active charging session."
    assert "No charger with the number NOPE-1" in await sms(client, "Charge start NOPE-1")
    assert (await sms(client, "help")).startswith("Solsiden Lading AS: CHARGE START")
    # Words that are the same in both languages follow the profile ...
    assert await sms(client, "STATUS") == "Du har ingen aktiv lading."
    # ... and a Norwegian command gets Norwegian for a driver whose profile says en.
    other = "+4791112233"

    async def english_driver(s):
        s.add(User(phone=other, name="John", language="en"))

    await arrange(runtime, english_driver)
    assert await sms(client, "STATUS", sender=other) == "You have no active charging session."
    assert await sms(client, "Lade status", sender=other) == "Du har ingen aktiv lading."


# --------------------------------------------------------------------------- texts


def _operator() -> Operator:
    settings = Settings(
        billing=SOLSIDEN, sms_short_number="2210", support_hours="mon-fri 08:00-16:00"
    )
    return Operator.from_settings(settings)


def _values(language: str) -> dict[str, object]:
    big = 123_456_789
    return {
        "code": "KLOKK-AC-01",
        "evse": 2,
        "price": f"{unit_price(Decimal('312.5'), language)}/kWh",
        "kwh": kwh(1_234_567, language),
        "cost": kroner(big, language),
        "amount": kroner(big, language),
        "fee": kroner(7_000, language),
        "minutes": 95,
        "link": "https://ladeflyt.example.no/pay/c/abc",
        "receipt": "https://ladeflyt.example.no/receipts/1?t=abc",
        "signup": "https://ladeflyt.example.no/app",
        "guest": "",
        "detail": "",
        "idle": "",
        "grace": 30,
        "connector": 7,
        "invoice": 12,
        "due": "4. mars 2026",
        "contact": _operator().contact(language),
        "org": "Klokkarstua borettslag",
        "group": "member",
    }


@pytest.mark.parametrize("language", ["nb", "en"])
def test_every_sms_text_is_gsm7_with_local_number_formats(language):
    operator = _operator()
    for key in TEXTS:
        text = render(key, language, operator, **_values(language))
        assert is_gsm7(text), (key, text)
    stopping = render("stopping", language, operator, **_values(language))
    if language == "nb":
        # Babel's Norwegian thousands separator is a no-break space; SMS get a plain one.
        assert "1 234,567 kWh, kr 1 234 567,89" in stopping
    else:
        assert "1,234.567 kWh, NOK 1,234,567.89" in stopping


def test_money_and_energy_follow_the_language():
    assert kroner(123_450, "nb") == "kr 1\u00a0234,50"
    assert kroner(123_450, "en") == "NOK 1,234.50"
    assert kwh(2_226, "nb") == "2,226" and kwh(2_226, "en") == "2.226"
    assert unit_price(Decimal("312.5"), "nb") == "kr 3,125"
    assert kroner(None, "nb") == "pris ukjent" and kroner(None, "en") == "price unknown"
