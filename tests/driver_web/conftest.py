"""One server and one browser for a whole module of driver-app tests: the demo data, the
real runtime under uvicorn, a simulated charger on a real OCPP websocket, and a phone-sized
Chromium page that keeps its sign-in from one test to the next (a driver using the app).

Every request the page makes is recorded (`phone.requested`), so a test can check that the
app asks nothing of anyone but this server's /graphql, its own assets and the payment page.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from core.config import Settings
from core.db import transaction
from ladeflyt.demo import seed
from ladeflyt.runtime import Runtime
from ocpp_gateway.simulator import SimulationConfig, run_simulation
from tests.helpers import bound_socket, serving
from tests.pages.conftest import PHONE, browser  # noqa: F401  (the module's browser)

DEMO_CHARGER = "KLOKK-AC-01"
KLOKKARSTUA = {"latitude": 59.6525, "longitude": 10.4338}


@pytest.fixture(scope="module")
def app_socket() -> Iterator[socket.socket]:
    with bound_socket() as sock:
        yield sock


def settings_for(
    sqlite_template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    sock: socket.socket,
    **overrides: Any,
) -> Settings:
    """A database of the module's own (migrated), links naming `sock`, no tile server."""
    folder = tmp_path_factory.mktemp("driver_app")
    shutil.copy(sqlite_template, folder / "ladeflyt.db")
    return Settings(
        database_url=f"sqlite+aiosqlite:///{folder / 'ladeflyt.db'}",
        delivery_dir=str(folder / "delivery"),
        secret_file=str(folder / "secret"),
        ocpp_host="127.0.0.1",
        ocpp_port=0,
        ocpp_heartbeat_interval=300,
        ocpp_call_timeout=5.0,
        ocpp_command_timeout=5.0,
        public_base_url=f"http://127.0.0.1:{sock.getsockname()[1]}",
        app_map_tile_url="",  # no tile server in tests: the map draws on a plain background
        **overrides,
    )


@pytest.fixture(scope="module")
def app_settings(
    sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory, app_socket: socket.socket
) -> Settings:
    return settings_for(sqlite_template, tmp_path_factory, app_socket)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app_runtime(app_settings: Settings) -> AsyncIterator[Runtime]:
    rt = Runtime.build(app_settings)
    async with transaction(rt.gateway_ctx.sessions) as session:
        assert await seed(session)
    await rt.start(ocpp_port=0)
    try:
        yield rt
    finally:
        await rt.stop()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def app_server(app_runtime: Runtime, app_socket: socket.socket) -> AsyncIterator[str]:
    async with serving(app_runtime, app_socket):
        yield app_runtime.settings.public_base_url


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def simulated_charger(app_runtime: Runtime) -> AsyncIterator[str]:
    """The demo charger, played by the simulator over a real OCPP websocket: it obeys
    remote start/stop and meters every 2 s (a simulated minute), no cars of its own."""
    stop = asyncio.Event()
    config = SimulationConfig(
        url=f"ws://127.0.0.1:{app_runtime.gateway.port}/ocpp",
        ids=[DEMO_CHARGER],
        connectors=2,
        max_power_w=22_000,
        initial_occupancy=0.0,
        arrivals_per_hour=0.0,
        meter_interval=60.0,
        speedup=30.0,
        stop=stop,
        call_timeout=5.0,
    )
    task = asyncio.create_task(run_simulation(config))
    try:
        yield DEMO_CHARGER
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 15)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def phone(browser: Any, app_server: str) -> AsyncIterator[Any]:  # noqa: F811
    """The driver's phone: one page for the module, every request it makes recorded."""
    context = await browser.new_context(
        base_url=app_server, geolocation=KLOKKARSTUA, permissions=["geolocation"], **PHONE
    )
    context.set_default_timeout(15_000)
    page = await context.new_page()
    page.requested = []
    page.recording = True  # off while a test visits the server's own pages (the guest page)

    def record(url: str) -> None:
        if page.recording:
            page.requested.append(url)

    context.on("request", lambda request: record(request.url))
    # What the page's Content-Security-Policy refused (the browser says so on the console).
    page.refused = []
    page.on(
        "console",
        lambda message: (
            page.refused.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    page.on("websocket", lambda socket: record(socket.url))
    try:
        yield page
    finally:
        await context.close()
