"""Shared steps for the page tests: a priced charger played by the `ocpp` package, invoices
to pay, the sandbox bank, and polling with a deadline (never a fixed sleep)."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
from collections.abc import AsyncIterator, Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from ocpp.routing import after
from ocpp.v16 import call as call16
from sqlalchemy import select

from core.billing.kid import make_kid
from core.models import GuestCheckout, IdToken, Invoice, InvoiceLine, Site, SmsMessage, User
from ladeflyt.runtime import Runtime
from payments.sandbox import SandboxBank, SandboxProvider
from tests.api.test_e2e import ChargingCharger
from tests.helpers import add_fleet, arrange, boot16, connect

CODE = "KLOKK-1"
PRICE_ORE_PER_KWH = 500  # kr 5,00 per kWh incl. VAT: 2 kWh cost kr 10,00


async def until(check: Callable[[], Any], what: str, timeout: float = 15.0) -> Any:
    """Poll `check` (sync or async) until it returns something truthy; fail after
    `timeout` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        result = check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def priced_site(runtime: Runtime, *codes: str) -> None:
    """Chargers with two connectors at a site with a list price."""
    await add_fleet(runtime, *(codes or (CODE,)))

    async def price(s: Any) -> None:
        site = (await s.execute(select(Site))).scalar_one()
        site.address, site.list_price_ore_per_kwh = "Klokkarveien 2", PRICE_ORE_PER_KWH

    await arrange(runtime, price)


class PageCharger(ChargingCharger):
    """A charging charger that can sit on a RemoteStop (`hold_stop`) until `finish_stop()`,
    so a test sees the pages between the command and the charger's report."""

    hold_stop = False
    held_transaction: int | None = None

    @after("RemoteStopTransaction")
    async def end(self, transaction_id: int, **_: Any) -> None:
        if self.hold_stop:
            self.held_transaction = transaction_id
            return
        await ChargingCharger.end(self, transaction_id)

    async def finish_stop(self) -> None:
        """Report the held stop (StopTransaction and the connector free again)."""
        assert self.held_transaction is not None, "no RemoteStop was held"
        transaction, self.held_transaction = self.held_transaction, None
        await ChargingCharger.end(self, transaction)


@contextlib.asynccontextmanager
async def online(
    ocpp_url: str, code: str = CODE, statuses: tuple[str, ...] = ("Available", "Available")
) -> AsyncIterator[PageCharger]:
    """The charger connected, booted and reporting each connector's status."""
    async with connect(ocpp_url, code, charger_class=PageCharger) as charger:
        await charger.call(boot16())
        for connector, status in enumerate(statuses, start=1):
            await charger.call(
                call16.StatusNotification(
                    connector_id=connector, error_code="NoError", status=status
                )
            )
        yield charger


def remote_starts(charger: Any) -> list[dict[str, Any]]:
    return [kw for action, kw in charger.received if action == "RemoteStartTransaction"]


def remote_stops(charger: Any) -> list[dict[str, Any]]:
    return [kw for action, kw in charger.received if action == "RemoteStopTransaction"]


def bank(runtime: Runtime) -> SandboxBank:
    provider = runtime.payments.providers["sandbox-card"]
    assert isinstance(provider, SandboxProvider)
    return provider.bank


async def guest_id_tokens(runtime: Runtime) -> list[str]:
    """The id tokens of the guest checkouts, oldest first."""

    async def work(s: Any) -> list[str]:
        rows = await s.execute(
            select(IdToken.token)
            .join(GuestCheckout, GuestCheckout.id_token_pk == IdToken.id)
            .order_by(GuestCheckout.id)
        )
        return list(rows.scalars())

    result: list[str] = await arrange(runtime, work)
    return result


async def sms(runtime: Runtime, kind: str) -> list[SmsMessage]:
    async def work(s: Any) -> list[SmsMessage]:
        rows = await s.execute(select(SmsMessage).where(SmsMessage.kind == kind))
        return list(rows.scalars())

    result: list[SmsMessage] = await arrange(runtime, work)
    return result


async def customer(runtime: Runtime, phone: str = "+4791112222") -> int:
    async def work(s: Any) -> int:
        user = User(phone=phone, name="Kari Nordmann", customer_group="member")
        s.add(user)
        await s.flush()
        return int(user.id)

    result: int = await arrange(runtime, work)
    return result


async def open_invoice(
    runtime: Runtime, user_id: int, number: int, due: date, total_ore: int
) -> int:
    """An issued, unpaid invoice with one session line."""
    net = total_ore * 4 // 5
    start = datetime(due.year, due.month, 1, tzinfo=UTC) - timedelta(days=30)

    async def work(s: Any) -> int:
        invoice = Invoice(
            number=number,
            user_id=user_id,
            period=f"{start:%Y-%m}",
            period_start=start,
            period_end=start + timedelta(days=30),
            issue_date=due - timedelta(days=14),
            due_date=due,
            kid=make_kid(user_id, number),
            net_ore=net,
            vat_ore=total_ore - net,
            total_ore=total_ore,
            buyer={"name": "Kari Nordmann"},
            seller={"name": "Ladeflyt"},
        )
        s.add(invoice)
        await s.flush()
        s.add(
            InvoiceLine(
                invoice_id=invoice.id,
                position=1,
                description=f"Lading Klokkarstua, {CODE} #1",
                energy_wh=total_ore * 1000 // PRICE_ORE_PER_KWH,
                net_ore=net,
                vat_ore=total_ore - net,
                total_ore=total_ore,
            )
        )
        return int(invoice.id)

    result: int = await arrange(runtime, work)
    return result


async def invoice_status(runtime: Runtime, invoice_id: int) -> str:
    async def work(s: Any) -> str:
        return str((await s.get(Invoice, invoice_id)).status)

    result: str = await arrange(runtime, work)
    return result


# --------------------------------------------------------------------------- in the browser


async def text(where: Any, selector: str) -> str:
    """The visible text of `selector` in a page or locator, trimmed."""
    return str(await where.locator(selector).inner_text()).strip()


async def follow(page: Any, target: Any) -> str:
    """Click a button or link, wait for the page it leads to (after redirects) and check it
    came with 200; returns that page's path and query."""
    async with page.expect_navigation() as navigation:
        await target.click()
    response = await navigation.value
    assert response is not None and response.status == 200, (
        f"{response.status if response else None} at {page.url}: {await page.content()}"
    )
    url = urlsplit(page.url)
    return url.path + (f"?{url.query}" if url.query else "")
