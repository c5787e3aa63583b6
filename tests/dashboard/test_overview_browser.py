"""Sign-in and the Overview in headless Chromium: the code flow (e-mail code, TOTP for the
operator), each person sees only their organisation's sites, and a connector's status
changes on screen, without a reload, when a charger reports it over a real OCPP socket."""

from __future__ import annotations

import pytest
from ocpp.v16 import call as call16

from tests.dashboard.conftest import (
    OPERATOR_EMAIL,
    mailed_code,
    screenshot,
    signed_in_page,
    totp_now,
)
from tests.helpers import boot16, connect
from tests.pages.flows import until

pytestmark = pytest.mark.asyncio(loop_scope="module")


def shows(locator, name: str, value: str):
    async def check() -> bool:
        return await locator.get_attribute(name) == value

    return check


async def test_staff_sign_in_with_a_mailed_code_and_the_authenticator(
    chromium, site_url, live, world
):
    context = await chromium.new_context(base_url=site_url, locale="nb-NO")
    context.set_default_timeout(10_000)
    page = await context.new_page()
    try:
        await page.goto("/dashboard")
        assert page.url.endswith("/dashboard/sign-in?next=/dashboard")
        await page.fill("#identity", OPERATOR_EMAIL)
        await page.get_by_role("button", name="Send kode").click()
        await page.locator("#sent").wait_for()
        await page.fill("#code", "000000")
        await page.get_by_role("button", name="Logg inn").click()
        assert await page.locator("#error").inner_text() == "wrong code"
        await page.fill("#code", mailed_code(live, OPERATOR_EMAIL))
        await page.get_by_role("button", name="Logg inn").click()
        await page.fill("#totp", await totp_now(live, OPERATOR_EMAIL))
        await page.get_by_role("button", name="Fortsett").click()
        await page.locator("#who").wait_for()
        assert page.url.endswith("/dashboard")
        cookies = {c["name"]: c for c in await context.cookies()}
        assert cookies["ladeflyt_staff"]["httpOnly"]
        # Signing out ends the session: the dashboard asks to sign in again.
        await page.get_by_role("button", name="Logg ut").click()
        await page.locator("#identity").wait_for()
        await page.goto("/dashboard")
        assert "/dashboard/sign-in" in page.url
    finally:
        await context.close()


async def test_a_form_posted_without_the_csrf_token_is_refused(chromium, site_url, live, world):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        answer = await page.request.post(f"{site_url}/dashboard/sign-out", form={})
        assert answer.status == 403
        await page.goto("/dashboard")
        assert await page.locator("#who").count() == 1  # still signed in
    finally:
        await page.context.close()


async def test_overview_shows_live_status_of_the_organisations_own_chargers(
    chromium, site_url, live, world, ocpp
):
    page = await signed_in_page(chromium, site_url, live, world.a.staff_email)
    try:
        await page.goto("/dashboard")
        await page.get_by_role("heading", name="Oversikt").wait_for()
        body = await page.locator("main").inner_text()
        assert "Klokkarstua" in body and "KLOKK-1" in body
        for marker in [*world.b.markers, "Røykenbadet", "ROYK-1"]:
            assert marker not in body, marker
        cell = page.locator(f"[sse-swap='c-{world.a.ids['charger_id']}-1-1'] .badge")
        assert await cell.inner_text() == "Ukjent"
        online = page.locator(f"[sse-swap='o-{world.a.ids['charger_id']}'] .badge")
        assert await online.inner_text() == "Frakoblet"
        async with connect(ocpp, "KLOKK-1") as charger:
            await charger.call(boot16())
            await until(shows(online, "data-online", "yes"), "online on screen", 10)
            for status in ("Available", "Charging"):
                await charger.call(
                    call16.StatusNotification(connector_id=1, error_code="NoError", status=status)
                )
            await until(shows(cell, "data-status", "Charging"), "Charging on screen", 10)
            assert await cell.inner_text() == "Lader"
            await charger.call(
                call16.StatusNotification(
                    connector_id=2, error_code="GroundFailure", status="Faulted"
                )
            )
            faulted = page.locator(f"[sse-swap='c-{world.a.ids['charger_id']}-2-1'] .badge")
            await until(shows(faulted, "data-status", "Faulted"), "fault", 10)
            assert "fault" in (await faulted.get_attribute("class") or "")
            await page.reload()
            assert await page.locator("#total-faults").inner_text() == "1"
            await screenshot(page, "overview")
    finally:
        await page.context.close()


async def test_the_operator_sees_every_organisation_and_english(chromium, site_url, live, world):
    page = await signed_in_page(chromium, site_url, live, OPERATOR_EMAIL)
    try:
        await page.goto("/dashboard?lang=en")
        await page.get_by_role("heading", name="Overview").wait_for()
        body = await page.locator("main").inner_text()
        for name in ("Klokkarstua", "Tofte", "Røykenbadet"):
            assert name in body
        assert "Invoicing" in await page.locator("nav").inner_text()
        await page.goto("/dashboard?lang=nb")
    finally:
        await page.context.close()
