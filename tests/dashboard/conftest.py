"""One running server, one browser and one arranged world per test module: the dashboard's
browser tests share them (signing in once per person), so a module takes seconds.

The world is tests/orgs/world.py's: two organisations (Klokkarstua borettslag, Tofte sameie),
each with a site, charger, member, tag, tariff, a session and an org admin, and the
operator's own station; plus an operator admin (with TOTP) and operator support here.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select

from core.config import Settings
from core.db import transaction
from core.models import Role, StaffMember
from core.orgs import staff, totp
from core.orgs.scope import Actor
from core.users.auth import load_secret
from delivery.email import ConsoleMailSender
from ladeflyt.runtime import Runtime
from notifications.console import ConsoleSmsSender
from tests.conftest import _BACKENDS, empty_postgres
from tests.helpers import bound_socket, serving
from tests.orgs.world import World, build_world
from tests.pages.conftest import CHROMIUM_ARGS, PHONE, _missing_browser

OPERATOR_EMAIL = "drift@ladeflyt.example"
SUPPORT_EMAIL = "kundeservice@ladeflyt.example"
DESKTOP = {"viewport": {"width": 1280, "height": 900}, "locale": "nb-NO"}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="module", params=_BACKENDS)
def module_db(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The module's database: a copy of the migrated SQLite template, and the run's
    PostgreSQL when there is one (like tests/conftest.py's db_url, once per module),
    emptied afterwards for the tests that come next."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("dashboard-db") / "ladeflyt.db"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_migrated")
    yield url
    asyncio.run(empty_postgres(url))


@pytest.fixture(scope="module")
def module_socket(module_db: str) -> Iterator[socket.socket]:
    # One per database: a server that stops closes its listening socket.
    with bound_socket() as sock:
        yield sock


@pytest.fixture(scope="module")
def module_settings(
    module_db: str, tmp_path_factory: pytest.TempPathFactory, module_socket: socket.socket
) -> Settings:
    where = tmp_path_factory.mktemp("dashboard")
    return Settings(
        database_url=module_db,
        delivery_dir=str(where / "delivery"),
        secret_file=str(where / "secret"),
        public_base_url=f"http://127.0.0.1:{module_socket.getsockname()[1]}",
        ocpp_host="127.0.0.1",
        ocpp_port=0,
        ocpp_call_timeout=5.0,
        ocpp_command_timeout=5.0,
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def live(module_settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.build(
        module_settings,
        sms=ConsoleSmsSender(),
        mail=ConsoleMailSender("Ladeflyt <test@ladeflyt.invalid>"),
    )
    await rt.start(ocpp_port=0)
    try:
        yield rt
    finally:
        await rt.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(live: Runtime) -> World:
    async with transaction(live.gateway_ctx.sessions) as s:
        built = await build_world(s)
        actor = Actor.cli("test")
        await staff.add_staff(s, actor, OPERATOR_EMAIL, Role.OPERATOR_ADMIN, name="Drift")
        await staff.add_staff(s, actor, SUPPORT_EMAIL, Role.OPERATOR_SUPPORT, name="Support")
    return built


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def site_url(live: Runtime, module_socket: socket.socket) -> AsyncIterator[str]:
    async with serving(live, module_socket):
        yield f"http://127.0.0.1:{module_socket.getsockname()[1]}"


@pytest.fixture(scope="module")
def ocpp(live: Runtime) -> str:
    return f"ws://127.0.0.1:{live.gateway.port}/ocpp"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def chromium() -> AsyncIterator[Any]:
    import os

    missing = _missing_browser()
    if missing:
        if os.environ.get("LADEFLYT_REQUIRE_BROWSER", "") not in ("", "0"):
            pytest.fail(f"LADEFLYT_REQUIRE_BROWSER is set but {missing}")
        pytest.skip(missing)
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


CHROMIUM = "/usr/bin/chromium"


def mailed_code(runtime: Runtime, to: str) -> str:
    mail = runtime.staff_auth.email if runtime.staff_auth else None
    assert isinstance(mail, ConsoleMailSender)
    sent = [m for m in mail.sent if m.to == to]
    assert sent, f"no code mailed to {to}"
    match = re.search(r"\b(\d{6})\b", sent[-1].text)
    assert match is not None
    return match.group(1)


async def totp_now(runtime: Runtime, email: str) -> str:
    async with transaction(runtime.gateway_ctx.sessions) as s:
        person = (
            await s.execute(select(StaffMember).where(StaffMember.email == email))
        ).scalar_one()
        # A code is accepted once per 30 s step: a second sign-in soon after the first
        # uses the next step's code (one step of drift is allowed).
        now = time.time()
        if person.totp_last_step is not None and person.totp_last_step >= int(now // 30):
            now = (person.totp_last_step + 1) * 30
        return totp.current_code(load_secret(runtime.settings), person, at=now)


async def signed_in_page(
    browser: Any, server: str, runtime: Runtime, email: str, *, phone: bool = False
) -> Any:
    """A new browser context signed in as `email` through a one-time link (and TOTP)."""
    context = await browser.new_context(base_url=server, **(PHONE if phone else DESKTOP))
    context.set_default_timeout(10_000)
    page = await context.new_page()
    assert runtime.staff_auth is not None
    async with transaction(runtime.gateway_ctx.sessions) as s:
        code = await runtime.staff_auth.link_code(s, email, 600)
    await page.goto(f"/dashboard/sign-in/code?identity={email}&code={code}")
    await page.get_by_role("button", name="Logg inn").click()
    if await page.locator("#totp").count():
        await page.fill("#totp", await totp_now(runtime, email))
        await page.get_by_role("button", name="Fortsett").click()
    try:
        await page.locator("#who").wait_for()
    except Exception:
        raise AssertionError(await page.locator("main").inner_text()) from None
    return page


async def screenshot(page: Any, name: str) -> None:
    """docs/screenshots/<name>-desktop.png and -phone.png of the page as it is now."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-desktop.png"), full_page=True)
    await page.set_viewport_size({"width": 390, "height": 844})
    # On a phone the menu starts closed (it opened itself at desktop width).
    menu = "document.querySelector('details.menu')"
    was_open = await page.evaluate(f"!!{menu}?.open")
    await page.evaluate(f"{menu}?.removeAttribute('open')")
    await page.screenshot(path=str(SCREENSHOTS / f"{name}-phone.png"), full_page=True)
    await page.set_viewport_size(size)
    if was_open:
        await page.evaluate(f"{menu}?.setAttribute('open', '')")


async def add_sessions(
    runtime: Runtime,
    charger_id: int,
    count: int,
    *,
    user_id: int | None = None,
    samples: bool = False,
    start: Any = None,
) -> list[int]:
    """Completed, priced sessions on a charger, one an hour back from `start` (default: two
    days ago), each 10 kWh for kr 25 (a breakdown of one energy line); with meter samples
    every 10 minutes when asked."""
    from datetime import timedelta
    from decimal import Decimal

    from core.models import ChargingSession, MeterSample
    from core.tariffs.schemas import CostBreakdown, CostLine
    from core.timeutil import utcnow

    first = start or utcnow() - timedelta(days=2)
    line = CostLine(
        "energy", "Energi", "Energy", Decimal("10.000"), "kWh", Decimal(200), 2000, 500, 2500
    )
    breakdown = CostBreakdown([line], 2000, 500, 2500, tariff_name="Pris", final=True)
    ids = []
    async with transaction(runtime.gateway_ctx.sessions) as s:
        for n in range(count):
            began = first - timedelta(hours=n)
            cs = ChargingSession(
                charger_id=charger_id,
                evse_id=1,
                connector_id=1,
                transaction_id=f"t-{charger_id}-{began.timestamp()}-{n}",
                user_id=user_id,
                id_token="KARITAG" if user_id else None,
                status="completed",
                started_at=began,
                stopped_at=began + timedelta(minutes=50),
                meter_start_wh=100_000,
                meter_stop_wh=110_000,
                energy_wh=10_000,
                cost_ore=2500,
                vat_ore=500,
                cost_breakdown=breakdown.to_json(),
                price_group="member" if user_id else "public",
                payment_state="to_invoice" if user_id else "paid",
                flags=[],
            )
            s.add(cs)
            await s.flush()
            ids.append(cs.id)
            if samples:
                for k in range(6):
                    s.add(
                        MeterSample(
                            session_id=cs.id,
                            charger_id=charger_id,
                            connector_id=1,
                            sampled_at=began + timedelta(minutes=10 * k),
                            energy_wh=100_000 + 2_000 * k,
                            power_w=11_000 if k < 5 else 0,
                        )
                    )
    return ids
