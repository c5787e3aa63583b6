"""Invoicing in Chromium, as the operator's admin: a month's preview keeps nothing, a run
shows its progress to the end, an invoice is marked paid, another credited, the list is
exported, the schedule set (all audited); an organisation admin is refused everywhere."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
import pytest_asyncio
from sqlalchemy import select, update

from core.db import transaction
from core.models import AuditEntry, User
from tests.dashboard.conftest import OPERATOR_EMAIL, add_sessions, screenshot, signed_in_page
from tests.pages.flows import until

pytestmark = pytest.mark.asyncio(loop_scope="module")

FEB = datetime(2026, 2, 10, 12, tzinfo=UTC)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def arranged(live, world):
    a, b = world.a.ids, world.b.ids
    await add_sessions(live, a["charger_id"], 3, user_id=a["driver_id"], start=FEB)
    await add_sessions(live, b["charger_id"], 2, user_id=b["driver_id"], start=FEB)
    async with transaction(live.gateway_ctx.sessions) as s:
        await s.execute(
            update(User)
            .where(User.id.in_((a["driver_id"], b["driver_id"])))
            .values(invoice_billing=True)
        )


def rows_of(text: str) -> list[str]:
    return [" ".join(line.split()) for line in text.splitlines() if line.strip()]


async def test_preview_run_pay_credit_export_and_schedule(
    chromium, site_url, live, world, arranged
):
    page = await signed_in_page(chromium, site_url, live, OPERATOR_EMAIL)
    try:
        await page.goto("/dashboard/invoicing")
        await page.get_by_role("heading", name="Fakturering", exact=True).wait_for()
        await page.fill("#r-period", "2026-02")
        await page.get_by_role("button", name="Forhåndsvis").click()
        await page.locator("#preview-invoices").wait_for()
        assert await page.locator("#preview-count").inner_text() == "2"
        assert await page.locator("#preview-total").inner_text() == "kr 125,00"
        await screenshot(page, "invoicing-preview")
        kept = await page.request.get(f"{site_url}/dashboard/invoicing?period=2026-02")
        assert "Driver Klokkarstua" not in await kept.text()  # the preview kept nothing

        await page.get_by_role("button", name="Kjør faktureringen").click()
        progress = page.locator("#run-progress")

        async def finished() -> bool:
            return await progress.get_attribute("data-status") == "done"

        await until(finished, "the run to finish")
        assert await page.locator("#run-invoices").inner_text() == "2"
        assert await page.locator("#run-total").inner_text() == "kr 125,00"
        await screenshot(page, "invoicing-run")

        await page.locator("#run-invoices-link").click()
        invoices = rows_of(await page.locator("#invoices tbody").inner_text())
        assert len(invoices) == 2 and all("Åpen" in r for r in invoices)
        await screenshot(page, "invoicing")

        await page.get_by_role("link", name=invoices[0].split()[0], exact=True).click()
        await page.get_by_role("button", name="Merk som betalt").click()
        await page.locator("#flash-ok").wait_for()
        assert (await page.locator("#invoice-status").inner_text()).startswith("Betalt")

        await page.goto("/dashboard/invoicing?period=2026-02")
        await page.get_by_role("link", name=invoices[1].split()[0], exact=True).click()
        await page.fill("#c-reason", "Feil tariff")
        await page.get_by_role("button", name="Lag kreditnota").click()
        await page.locator("#flash-ok").wait_for()
        assert await page.locator("#invoice-status").inner_text() == "Kreditert"
        assert "Feil tariff" in await page.locator("#credit-notes").inner_text()
        href = await page.locator("#invoice-pdf").get_attribute("href")
        pdf = await page.request.get(f"{site_url}{href}")
        assert pdf.headers["content-type"] == "application/pdf"

        export = await page.request.get(f"{site_url}/dashboard/invoicing.csv?period=2026-02")
        rows = list(
            csv.DictReader(io.StringIO((await export.body()).decode("utf-8-sig")), delimiter=";")
        )
        assert sorted(r["status"] for r in rows) == ["credited", "paid"]

        await page.goto("/dashboard/invoicing")
        await page.fill("#sc-day", "5")
        await page.fill("#sc-hour", "7")
        await page.get_by_role("button", name="Lagre").click()
        await page.locator("#flash-ok").wait_for()
        assert "den 5. hver måned kl. 07" in await page.locator("#schedule-now").inner_text()
        async with live.gateway_ctx.sessions() as s:
            actions = set(
                (await s.execute(select(AuditEntry.action).where(AuditEntry.actor_kind == "staff")))
                .scalars()
                .all()
            )
        assert {"invoices.run", "invoice.paid", "invoice.credit", "invoice_schedule.set"} <= actions
    finally:
        await page.context.close()


async def test_an_organisation_admin_may_not_see_invoicing(
    chromium, site_url, live, world, arranged
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        await page.goto("/dashboard")
        assert "Fakturering" not in await page.locator("nav").inner_text()
        csrf = await page.locator("input[name=csrf_token]").first.get_attribute("value")
        for path in (
            "/dashboard/invoicing",
            "/dashboard/invoicing.csv",
            "/dashboard/invoicing/preview?period=2026-02",
            "/dashboard/invoicing/1",
            "/dashboard/invoicing/1.pdf",
            "/dashboard/invoicing/runs/1",
        ):
            response = await page.request.get(f"{site_url}{path}")
            assert response.status == 403, path
        for path, form in (
            ("/dashboard/invoicing/runs", {"period": "2026-02"}),
            ("/dashboard/invoicing/1/paid", {}),
            ("/dashboard/invoicing/1/credit", {"reason": "x"}),
            ("/dashboard/invoicing/schedule", {"day_of_month": "1", "hour": "1"}),
        ):
            response = await page.request.post(
                f"{site_url}{path}", form={**form, "csrf_token": csrf}, max_redirects=0
            )
            assert response.status == 403, path
    finally:
        await page.context.close()
