"""Dunning: a reminder SMS with a pay link 5-7 days after the due date (never in quiet
hours), a second only if configured, the reminder fee by the Norwegian rules, payment stops
reminders at once, and the overdue list exported for a debt collector."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from core.billing.service import get_invoice, mark_paid
from core.config import Settings, get_settings
from core.invoicing import dunning
from core.invoicing.runs import issue_and_queue
from core.models import Invoice, SmsMessage
from core.timeutil import OSLO
from tests.billing.scenario import march
from tests.tariffs.builders import database, transaction

DUE = date(2026, 4, 15)  # invoices of 1 April, 14 days


def at(day: date, hour: int = 12) -> datetime:
    return datetime.combine(day, time(hour), tzinfo=OSLO)


async def link(session, invoice_id: int, step: int) -> str:
    return f"https://lading.example/invoice/link-{invoice_id}-{step}"


async def invoiced(s) -> dict[str, int]:
    m = await march(s)
    outcome = await issue_and_queue(s, "2026-03", issue_date=date(2026, 4, 1), due_days=14)
    return {
        "kari": next(i.id for i in outcome.result.invoices if i.user_id == m.kari.id),
        "ola": next(i.id for i in outcome.result.invoices if i.user_id == m.ola.id),
    }


async def reminders(s) -> dict[str, SmsMessage]:
    rows = await s.execute(select(SmsMessage).where(SmsMessage.kind == "payment_reminder"))
    return {m.dedup_key: m for m in rows.scalars()}


async def test_the_reminder_goes_on_day_five_once_and_never_in_quiet_hours(db_url, seller):
    settings = Settings(database_url=db_url)
    async with database(db_url) as db, transaction(db) as s:
        ids = await invoiced(s)
        assert (
            await dunning.queue_reminders(
                s, settings, link, date(2026, 4, 19), at(date(2026, 4, 19))
            )
            == 0
        )
        evening = at(date(2026, 4, 20), 21)
        assert await dunning.queue_reminders(s, settings, link, date(2026, 4, 20), evening) == 0
        assert await reminders(s) == {}
        morning = at(date(2026, 4, 20), 8)
        assert await dunning.queue_reminders(s, settings, link, date(2026, 4, 20), morning) == 2
        assert await dunning.queue_reminders(s, settings, link, date(2026, 4, 20), morning) == 0
        sent = await reminders(s)
        kari = sent[f"invoice:{ids['kari']}:reminder:5"]
        assert kari.to == "+4791000001" and kari.status == "queued"
        assert kari.body == (
            "Påminnelse fra Solsiden Lading AS: faktura 1 på kr 60,00 forfalt 15. apr. 2026. "
            f"Betal her: https://lading.example/invoice/link-{ids['kari']}-5"
        )
        # No second reminder unless the operator asks for one.
        later = date(2026, 5, 30)
        assert await dunning.queue_reminders(s, settings, link, later, at(later)) == 0
        invoice = await s.get_one(Invoice, ids["kari"])
        assert (invoice.reminders_sent, invoice.fees_ore) == (1, 0)


async def test_the_reminder_day_is_configurable_within_five_to_seven_days(db_url, seller):
    settings = Settings(database_url=db_url, reminder_day=7)
    async with database(db_url) as db, transaction(db) as s:
        ids = await invoiced(s)
        for day in (date(2026, 4, 20), date(2026, 4, 21)):
            assert await dunning.queue_reminders(s, settings, link, day, at(day)) == 0
        day = date(2026, 4, 22)
        assert await dunning.queue_reminders(s, settings, link, day, at(day)) == 2
        assert f"invoice:{ids['ola']}:reminder:7" in await reminders(s)
    for wrong in (4, 8):
        with pytest.raises(ValidationError):
            Settings(reminder_day=wrong)


async def test_a_second_reminder_carries_the_fee_only_from_day_fourteen(db_url, seller):
    settings = Settings(database_url=db_url, second_reminder_day=14, reminder_fee_ore=7000)
    async with database(db_url) as db, transaction(db) as s:
        ids = await invoiced(s)
        day5, day14 = date(2026, 4, 20), date(2026, 4, 29)
        assert await dunning.queue_reminders(s, settings, link, day5, at(day5)) == 2
        assert (await s.get_one(Invoice, ids["kari"])).fees_ore == 0  # no fee before day 14
        assert await dunning.queue_reminders(s, settings, link, day14, at(day14)) == 2
        assert await dunning.queue_reminders(s, settings, link, day14, at(day14)) == 0
        second = (await reminders(s))[f"invoice:{ids['kari']}:reminder:14"]
        assert second.body.startswith(
            "Påminnelse fra Solsiden Lading AS: faktura 1 på kr 130,00 "
            "(inkl. purregebyr kr 70,00) forfalt 15. apr. 2026."
        )
        detail = await get_invoice(s, ids["kari"], None)
        assert detail is not None
        assert (detail.summary.fees_ore, detail.summary.amount_due_ore) == (7000, 13000)
        assert detail.summary.reminders_sent == 2


def test_the_fee_follows_inkassoforskriften():
    settings = Settings(reminder_fee_ore=7000, inkasso_rate_ore=70_000)
    assert [dunning.fee_for(settings, day, 0) for day in (5, 13, 14, 30)] == [0, 0, 7000, 7000]
    assert dunning.fee_for(settings, 30, 2) == 0  # at most two fees per invoice
    assert dunning.fee_for(Settings(), 30, 0) == 0  # no fee unless configured
    with pytest.raises(ValidationError, match="at most 1/10"):
        Settings(reminder_fee_ore=7001, inkasso_rate_ore=70_000)


@pytest.fixture
def fee_configured(monkeypatch):
    """Payment is recorded far from the dunning job (a webhook): it reads the configured fee."""
    monkeypatch.setenv("LADEFLYT_REMINDER_FEE_ORE", "7000")
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


async def test_a_paid_invoice_stops_its_waiting_reminders_and_their_fee(
    db_url, seller, fee_configured
):
    settings = Settings(database_url=db_url, second_reminder_day=14, reminder_fee_ore=7000)
    async with database(db_url) as db, transaction(db) as s:
        ids = await invoiced(s)
        day14 = date(2026, 4, 29)
        assert await dunning.queue_reminders(s, settings, link, day14, at(day14)) == 2
        waiting = await reminders(s)
        held = waiting[f"invoice:{ids['ola']}:reminder:14"]
        held.status = "held"  # e.g. waiting for the night to end
        await mark_paid(s, ids["kari"])
        await mark_paid(s, ids["ola"])
        after = await reminders(s)
        assert {m.status for m in after.values()} == {"suppressed"}
        assert {m.error_code for m in after.values()} == {"paid"}
        assert (await s.get_one(Invoice, ids["kari"])).fees_ore == 0
        later = date(2026, 5, 20)
        assert await dunning.queue_reminders(s, settings, link, later, at(later)) == 0


async def test_the_overdue_list_is_exported_for_a_debt_collector(db_url, seller):
    async with database(db_url) as db, transaction(db) as s:
        ids = await invoiced(s)
        await mark_paid(s, ids["kari"])
        today = date(2026, 5, 15)
        rows = await dunning.overdue(s, today)
        assert [(r.number, r.name, r.days_overdue, r.amount_due_ore) for r in rows] == [
            (2, "Hansen Transport AS", 30, 2100)
        ]
        text = dunning.collection_csv(rows)
        parsed = list(csv.DictReader(io.StringIO(text), delimiter=";"))
        assert parsed == [
            {
                "fakturanummer": "2",
                "kid": rows[0].kid,
                "kundenummer": str(rows[0].customer_number),
                "navn": "Hansen Transport AS",
                "organisasjonsnummer": "974760673",
                "telefon": "+4791000002",
                "epost": "",
                "adresse": "Storgata 1",
                "postnummer": "3475",
                "poststed": "Sætre",
                "fakturadato": "2026-04-01",
                "forfallsdato": "2026-04-15",
                "dager_forfalt": "30",
                "hovedstol": "21.00",
                "purregebyr": "0.00",
                "a_betale": "21.00",
                "purringer": "0",
                "siste_purring": "",
            }
        ]
        assert await dunning.mark_exported(s, [rows[0].invoice_id], at(today)) == 1
        assert await dunning.overdue(s, today, include_exported=False) == []
        assert len(await dunning.overdue(s, today)) == 1


async def test_a_number_that_sent_stopp_gets_no_reminder_and_no_fee(db_url, seller):
    from core.messaging.outbox import opt_out

    settings = Settings(database_url=db_url, second_reminder_day=14, reminder_fee_ore=7000)
    async with database(db_url) as db, transaction(db) as s:
        ids = await invoiced(s)
        await opt_out(s, "+4791000002")  # Ola
        day14 = date(2026, 4, 29)
        assert await dunning.queue_reminders(s, settings, link, day14, at(day14)) == 1
        ola = (await reminders(s))[f"invoice:{ids['ola']}:reminder:14"]
        assert ola.status == "suppressed"
        invoice = await s.get_one(Invoice, ids["ola"])
        assert (invoice.fees_ore, invoice.reminders_sent) == (0, 0)
