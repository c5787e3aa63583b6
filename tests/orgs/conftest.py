"""An HTTP client on the composed app (not started: no charger is connected) and a world
of two organisations arranged through the core services."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from core.config import Settings
from core.db import transaction
from delivery.email import ConsoleMailSender
from ladeflyt.runtime import Runtime
from notifications.console import ConsoleSmsSender
from tests.orgs.world import World, build_world


@pytest.fixture
async def app_runtime(settings: Settings, tmp_path) -> AsyncIterator[Runtime]:
    settings.secret_file = str(tmp_path / "secret")
    rt = Runtime.build(
        settings, sms=ConsoleSmsSender(), mail=ConsoleMailSender("Ladeflyt <test@ladeflyt.invalid>")
    )
    try:
        yield rt
    finally:
        await rt.engine.dispose()


@pytest.fixture
async def client(app_runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    app = app_runtime.http_app()
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        yield c


@pytest.fixture
async def world(app_runtime: Runtime) -> World:
    async with transaction(app_runtime.gateway_ctx.sessions) as s:
        return await build_world(s)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}
