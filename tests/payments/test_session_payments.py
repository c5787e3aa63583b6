"""Paying per session with a saved card (sandbox provider): hold before start, capture the
exact cost at stop, cancel for 0 kWh, stop at the hold, declined cards, replays."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select

from core.models import (
    ChargingSession,
    Connector,
    Payment,
    PaymentMethod,
    PaymentOperation,
    Site,
    User,
)
from core.payments.settlement import settle_session
from tests.api.graphql_helpers import gql, sign_in
from tests.api.test_e2e import ChargingCharger
from tests.helpers import add_fleet, arrange, boot16, connect

START = """mutation($c: ID!) { startCharging(connectorId: $c) { __typename
  ... on Problem { message } } }"""


@pytest.fixture
async def client(runtime):
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=runtime.http_app()), base_url="http://test"
    ) as c:
        yield c


async def _setup(runtime, client, card: str = "pm_sandbox_visa", price: int = 500):
    await add_fleet(runtime, "CP-1", invoiced=False)
    token = (await sign_in(client, runtime, "91234567"))["accessToken"]

    async def work(s):
        (await s.execute(select(Site))).scalar_one().list_price_ore_per_kwh = price
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
        return str(
            (await s.execute(select(Connector.id).where(Connector.evse_id == 1))).scalar_one()
        )

    return token, await arrange(runtime, work)


async def _boot(cp) -> None:
    from ocpp.v16 import call as call16

    await cp.call(boot16())
    for n in (1, 2):
        await cp.call(
            call16.StatusNotification(connector_id=n, error_code="NoError", status="Available")
        )


async def _wait(check, timeout: float = 5.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await check()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.05)


async def _session(runtime) -> ChargingSession | None:
    async def work(s):
        return (await s.execute(select(ChargingSession))).scalar_one_or_none()

    return await arrange(runtime, work)


async def _charging(runtime) -> ChargingSession | None:
    """The session, once the charger has reported it (it is STARTING before)."""
    cs = await _session(runtime)
    return cs if cs is not None and cs.status == "active" else None


async def _payment(runtime) -> Payment:
    async def work(s):
        return (await s.execute(select(Payment))).scalar_one()

    return await arrange(runtime, work)


async def test_card_hold_then_exact_capture_at_stop(runtime, client, ocpp_url):
    token, connector = await _setup(runtime, client)
    async with connect(ocpp_url, "CP-1", charger_class=ChargingCharger) as cp:
        await _boot(cp)
        started = await gql(client, START, {"c": connector}, token)
        assert started["data"]["startCharging"]["__typename"] == "ChargingStarted"
        hold = await _payment(runtime)
        assert (hold.status, hold.amount_authorized_ore) == ("authorized", 50_000)
        # The charger started with the hold's own token: session and payment are tied.
        cs = await _wait(lambda: _charging(runtime))
        assert cs.id_token_pk == hold.id_token_pk
        await cp.meter(7_350, 11.0)
        (
            await gql(
                client,
                """mutation($s: ID!) { stopCharging(sessionId: $s) { __typename } }""",
                {"s": str(cs.id)},
                token,
            )
        )

        async def captured():
            p = await _payment(runtime)
            return p if p.status == "captured" else None

        paid = await _wait(captured)
    # 7.35 kWh at kr 5.00 incl. VAT = kr 36.75, captured exactly; the rest is released.
    assert (paid.amount_captured_ore, paid.session_id) == (3_675, cs.id)
    done = await _session(runtime)
    assert (done.cost_ore, done.payment_state) == (3_675, "paid")
    bank = runtime.payments.providers["sandbox-card"].bank
    assert bank.payments[paid.provider_ref].captured_ore == 3_675

    async def operations(s):
        return [
            (o.kind, o.amount_ore, o.outcome)
            for o in (
                await s.execute(select(PaymentOperation).order_by(PaymentOperation.id))
            ).scalars()
        ]

    assert await arrange(runtime, operations) == [
        ("authorize", 50_000, "ok"),
        ("capture", 3_675, "ok"),
    ]
    # Settling again (a replayed stop, a reconcile run) moves no more money.
    assert await settle_session(runtime.payments, cs.id) == "paid"
    assert await arrange(runtime, operations) == [
        ("authorize", 50_000, "ok"),
        ("capture", 3_675, "ok"),
    ]


async def test_zero_kwh_session_cancels_the_hold(runtime, client, ocpp_url):
    token, connector = await _setup(runtime, client)
    async with connect(ocpp_url, "CP-1", charger_class=ChargingCharger) as cp:
        await _boot(cp)
        await gql(client, START, {"c": connector}, token)
        cs = await _wait(lambda: _charging(runtime))
        await gql(
            client,
            """mutation($s: ID!) { stopCharging(sessionId: $s) { __typename } }""",
            {"s": str(cs.id)},
            token,
        )

        async def cancelled():
            p = await _payment(runtime)
            return p if p.status == "cancelled" else None

        payment = await _wait(cancelled)
    assert payment.amount_captured_ore == 0
    assert (await _session(runtime)).payment_state == "nothing_due"


async def test_declined_card_refuses_the_start_and_the_charger_is_never_asked(
    runtime, client, ocpp_url
):
    token, connector = await _setup(runtime, client, card="pm_sandbox_declined")
    async with connect(ocpp_url, "CP-1", charger_class=ChargingCharger) as cp:
        await _boot(cp)
        result = await gql(client, START, {"c": connector}, token)
        assert result["data"]["startCharging"] == {
            "__typename": "PaymentMethodRequired",
            "message": "the card was declined",
        }
        assert [a for a, _ in cp.received] == []
    assert (await _payment(runtime)).status == "failed"


async def test_rejected_start_releases_the_hold(runtime, client, ocpp_url):
    token, connector = await _setup(runtime, client)
    async with connect(ocpp_url, "CP-1", charger_class=ChargingCharger) as cp:
        await _boot(cp)
        cp.answer_status = "Rejected"
        result = await gql(client, START, {"c": connector}, token)
        assert result["data"]["startCharging"]["__typename"] == "NotAllowed"
    assert (await _payment(runtime)).status == "cancelled"


async def test_session_is_stopped_when_the_cost_reaches_the_hold(
    runtime, client, ocpp_url, settings
):
    settings.payment_hold_ore = 2_000  # kr 20
    settings.hold_stop_margin_ore = 100
    token, connector = await _setup(runtime, client)
    async with connect(ocpp_url, "CP-1", charger_class=ChargingCharger) as cp:
        await _boot(cp)
        await gql(client, START, {"c": connector}, token)
        await _wait(lambda: _charging(runtime))
        await cp.meter(2_000, 11.0)  # kr 10: below the hold
        await asyncio.sleep(0.2)
        assert "RemoteStopTransaction" not in [a for a, _ in cp.received]
        await cp.meter(2_000, 11.0)  # kr 20: at the hold

        async def stop_sent():
            return "RemoteStopTransaction" in [a for a, _ in cp.received]

        await _wait(stop_sent)

        async def captured():
            p = await _payment(runtime)
            return p if p.status == "captured" else None

        paid = await _wait(captured)
    assert paid.amount_captured_ore == 2_000


async def test_operator_refund_is_recorded_and_bounded(runtime, client, ocpp_url):
    from core.payments.service import refund
    from core.ports import PaymentDeclined

    token, connector = await _setup(runtime, client)
    async with connect(ocpp_url, "CP-1", charger_class=ChargingCharger) as cp:
        await _boot(cp)
        await gql(client, START, {"c": connector}, token)
        cs = await _wait(lambda: _charging(runtime))
        await cp.meter(2_000, 11.0)
        await gql(
            client,
            """mutation($s: ID!) { stopCharging(sessionId: $s) { __typename } }""",
            {"s": str(cs.id)},
            token,
        )

        async def captured():
            p = await _payment(runtime)
            return p if p.status == "captured" else None

        paid = await _wait(captured)
    assert paid.amount_captured_ore == 1_000
    after = await refund(runtime.payments, paid.reference, 400, "charger fault")
    assert after.amount_refunded_ore == 400
    with pytest.raises(PaymentDeclined):
        await refund(runtime.payments, paid.reference, 700, "more than is left")
    bank = runtime.payments.providers["sandbox-card"].bank
    assert bank.payments[paid.provider_ref].refunded_ore == 400


async def test_unanswered_start_keeps_the_hold_until_reconciliation_frees_it(
    runtime, client, ocpp_url, settings
):
    from datetime import timedelta

    from core.payments.jobs import reconcile
    from core.timeutil import utcnow

    settings.remote_start_timeout_s = 0.3
    token, connector = await _setup(runtime, client)
    async with connect(ocpp_url, "CP-1", charger_class=ChargingCharger) as cp:
        await _boot(cp)
        cp.answer_delay = 2.0  # answers too late: it might still start
        result = await gql(client, START, {"c": connector}, token)
        assert result["data"]["startCharging"]["__typename"] == "ChargerOffline"
        assert (await _payment(runtime)).status == "authorized"  # not released on a guess
        assert (await _session(runtime)).status == "starting"  # it may still start
    # The charger never reported it: the session fails with a reason, the hold is released.
    await reconcile(runtime.payments, utcnow() + timedelta(minutes=15))
    assert (await _payment(runtime)).status == "cancelled"
    failed = await _session(runtime)
    assert failed.status == "failed"
    assert failed.status_reason == "the charger did not start charging in time"


async def test_an_invoice_is_paid_once_even_from_two_links(runtime):
    from datetime import UTC, date, datetime

    from core.models import Invoice
    from core.payments import invoices

    async def invoice(s):
        user = User(phone="+4791234567", name="Kari")
        s.add(user)
        await s.flush()
        now = datetime.now(UTC)
        inv = Invoice(
            number=9,
            user_id=user.id,
            period="2026-10",
            period_start=now,
            period_end=now,
            issue_date=date(2026, 11, 1),
            due_date=date(2026, 11, 5),
            kid="00000090000000090",
            net_ore=800,
            vat_ore=200,
            total_ore=1_000,
        )
        s.add(inv)
        await s.flush()
        return (
            await invoices.create_link(s, inv.id, 30, 5),
            await invoices.create_link(s, inv.id, 30, 12),
        )

    first, second = await arrange(runtime, invoice)
    url = await invoices.pay(runtime.payments, first, "card")
    # The second reminder's link continues the same payment instead of starting another.
    assert await invoices.pay(runtime.payments, second, "card") == url
    ref = url.rsplit("/", 1)[1]
    runtime.payments.providers["sandbox-card"].bank.decide(ref, approve=True)
    await invoices.settle(runtime.payments, second)

    async def payments(s):
        return [
            (p.status, p.amount_captured_ore) for p in (await s.execute(select(Payment))).scalars()
        ]

    assert await arrange(runtime, payments) == [("captured", 1_000)]
    with pytest.raises(invoices.InvoiceLinkError):
        await invoices.pay(runtime.payments, first, "vipps")


async def test_an_expired_guest_checkout_never_starts(runtime, ocpp_url):
    from datetime import timedelta

    from core.models import GuestCheckout
    from core.payments import guest

    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1", charger_class=ChargingCharger) as cp:
        await _boot(cp)
        checkout = await guest.start_checkout(
            runtime.payments, "CP-1", 1, "card", phone=None, email=None, language="nb"
        )
        token = checkout.token
        ref = checkout.redirect_url.rsplit("/", 1)[1]
        runtime.payments.providers["sandbox-card"].bank.decide(ref, True)

        async def expire(s):
            checkout = (await s.execute(select(GuestCheckout))).scalar_one()
            checkout.expires_at = checkout.created_at - timedelta(seconds=1)

        await arrange(runtime, expire)
        await guest.advance(runtime.payments, token)
        assert [a for a, _ in cp.received] == []
    view = await guest.view(runtime.payments, token)
    assert view is not None and view.status == "abandoned"
    assert (await _payment(runtime)).status == "cancelled"
    assert (await _session(runtime)).status == "failed"
