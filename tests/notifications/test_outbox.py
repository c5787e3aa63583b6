"""The SMS outbox: dedup keys, quiet hours, opt-outs, forward-only statuses, dispatching."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from core.db import create_engine, session_factory, transaction
from core.messaging import outbox
from core.messaging.dispatcher import SmsDispatcher
from core.models import SmsMessage
from core.ports import OutboundSms, SmsRejected
from notifications.console import ConsoleSmsSender

NOON = datetime(2026, 6, 15, 10, 0, tzinfo=UTC)  # 12:00 in Oslo (summer time)
NIGHT = datetime(2026, 6, 15, 20, 30, tzinfo=UTC)  # 22:30 in Oslo


@pytest.fixture
async def sessions(db_url):
    engine = create_engine(db_url)
    yield session_factory(engine)
    await engine.dispose()


async def _messages(sessions) -> list[SmsMessage]:
    async with sessions() as s:
        return list((await s.execute(select(SmsMessage).order_by(SmsMessage.id))).scalars())


def test_quiet_hours_follow_oslo_time_across_daylight_saving():
    assert outbox.in_quiet_hours(NIGHT) and not outbox.in_quiet_hours(NOON)
    # 06:30 UTC is 07:30 in winter (quiet) but 08:30 in summer (not quiet).
    assert outbox.in_quiet_hours(datetime(2026, 1, 15, 6, 30, tzinfo=UTC))
    assert not outbox.in_quiet_hours(datetime(2026, 7, 15, 6, 30, tzinfo=UTC))
    # Held on the night the clocks go back: released at 08:00 local = 07:00 UTC.
    end = outbox.quiet_hours_end(datetime(2026, 10, 24, 22, 0, tzinfo=UTC))
    assert end == datetime(2026, 10, 25, 7, 0, tzinfo=UTC)


async def test_same_dedup_key_queues_one_message(sessions):
    async with transaction(sessions) as s:
        first = await outbox.queue_sms(
            s, to="+4791234567", kind="receipt", body="A", dedup_key="session:1:finished", at=NOON
        )
        second = await outbox.queue_sms(
            s, to="+4791234567", kind="receipt", body="B", dedup_key="session:1:finished", at=NOON
        )
    assert (first, second) == (True, False)
    assert [m.body for m in await _messages(sessions)] == ["A"]


async def test_non_urgent_is_held_at_night_and_sent_in_the_morning(sessions):
    sender = ConsoleSmsSender()
    dispatcher = SmsDispatcher(sessions, sender)
    async with transaction(sessions) as s:
        await outbox.queue_sms(
            s, to="+4791234567", kind="reminder", body="Betal", dedup_key="r1", at=NIGHT
        )
        await outbox.queue_sms(
            s, to="+4791234567", kind="code", body="Kode", dedup_key="c1", urgent=True, at=NIGHT
        )
    assert await dispatcher.run_once(NIGHT) == 1
    assert [m.body for m in sender.sent] == ["Kode"]
    morning = datetime(2026, 6, 16, 6, 0, tzinfo=UTC)  # 08:00 in Oslo
    assert await dispatcher.run_once(morning) == 1
    assert [m.body for m in sender.sent] == ["Kode", "Betal"]
    # Run again (a retried job): nothing is sent twice.
    assert await dispatcher.run_once(morning) == 0


async def test_opted_out_numbers_get_only_essential_messages(sessions):
    sender = ConsoleSmsSender()
    async with transaction(sessions) as s:
        await outbox.opt_out(s, "+4791234567")
        await outbox.opt_out(s, "+4791234567")
        await outbox.queue_sms(
            s, to="+4791234567", kind="car_full", body="Flytt bilen", dedup_key="f1", at=NOON
        )
        await outbox.queue_sms(
            s,
            to="+4791234567",
            kind="receipt",
            body="Kvittering",
            dedup_key="k1",
            essential=True,
            at=NOON,
        )
    await SmsDispatcher(sessions, sender).run_once(NOON)
    assert [m.body for m in sender.sent] == ["Kvittering"]
    statuses = {m.dedup_key: m.status for m in await _messages(sessions)}
    assert statuses == {"f1": "suppressed", "k1": "accepted"}
    async with transaction(sessions) as s:
        await outbox.opt_in(s, "+4791234567")
        assert not await outbox.is_opted_out(s, "+4791234567")


async def test_status_callbacks_only_move_forward(sessions):
    async with transaction(sessions) as s:
        await outbox.queue_sms(s, to="+4791234567", kind="x", body="x", dedup_key="s1", at=NOON)
    await SmsDispatcher(sessions, ConsoleSmsSender()).run_once(NOON)
    (message,) = await _messages(sessions)
    sid = message.provider_sid
    assert sid and message.status == "accepted"
    async with transaction(sessions) as s:
        assert await outbox.apply_status(s, sid, "sent")
        assert await outbox.apply_status(s, sid, "delivered")
        assert not await outbox.apply_status(s, sid, "sending")  # late, out of order
        assert not await outbox.apply_status(s, sid, "sent")
        assert not await outbox.apply_status(s, sid, "read")  # not a state we track
        assert not await outbox.apply_status(s, "SMunknown", "delivered")
    assert (await _messages(sessions))[0].status == "delivered"


class _Refusing:
    async def send(self, message: OutboundSms) -> str:
        raise SmsRejected("21614", "not a mobile number")


class _Flaky:
    def __init__(self) -> None:
        self.calls = 0

    async def send(self, message: OutboundSms) -> str:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("provider unreachable")
        return "SM123"


async def test_rejected_message_fails_for_good_and_transient_errors_retry(sessions):
    async with transaction(sessions) as s:
        await outbox.queue_sms(s, to="+4722222222", kind="x", body="x", dedup_key="land", at=NOON)
    await SmsDispatcher(sessions, _Refusing()).run_once(NOON)
    (landline,) = await _messages(sessions)
    assert (landline.status, landline.error_code) == ("failed", "21614")
    async with transaction(sessions) as s:
        await outbox.queue_sms(s, to="+4791234567", kind="x", body="y", dedup_key="flaky", at=NOON)
    flaky = _Flaky()
    dispatcher = SmsDispatcher(sessions, flaky)
    assert await dispatcher.run_once(NOON) == 0
    assert await dispatcher.run_once(NOON) == 0  # backing off
    assert await dispatcher.run_once(NOON + timedelta(seconds=31)) == 1
    retried = (await _messages(sessions))[1]
    assert (retried.status, retried.provider_sid, retried.attempts) == ("accepted", "SM123", 2)


class _Broken:
    async def send(self, message: OutboundSms) -> str:
        raise ConnectionError("still down")


async def test_a_message_that_keeps_failing_is_given_up_after_a_few_attempts(sessions):
    async with transaction(sessions) as s:
        await outbox.queue_sms(s, to="+4791234567", kind="x", body="z", dedup_key="dead", at=NOON)
    dispatcher = SmsDispatcher(sessions, _Broken())
    at = NOON
    for _ in range(10):
        await dispatcher.run_once(at)
        at += timedelta(hours=1)
    (message,) = await _messages(sessions)
    assert (message.status, message.attempts, message.error_code) == ("failed", 6, "attempts")
