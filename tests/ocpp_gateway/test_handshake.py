"""Who may connect: known ids, Basic auth (security profile 1/2), OCPP subprotocols."""

from __future__ import annotations

import pytest
import websockets
from ocpp.v16 import call as call16
from sqlalchemy import select
from websockets.exceptions import InvalidStatus

from core.models import Charger
from tests.helpers import add_fleet, arrange, basic_auth, boot16, connect

PASSWORD = "correct-horse-battery-staple"


async def _status(url: str, *, protocols=("ocpp1.6",), headers=None) -> int:
    try:
        async with websockets.connect(
            url, subprotocols=list(protocols), additional_headers=headers
        ):
            return 101
    except InvalidStatus as error:
        return error.response.status_code


async def test_unknown_charge_point_is_refused(runtime, ocpp_url):
    assert await _status(f"{ocpp_url}/NOBODY") == 404


async def test_unknown_charge_point_is_registered_pending_when_allowed(runtime, ocpp_url, settings):
    settings.ocpp_accept_unknown = True
    async with connect(ocpp_url, "NEWBIE") as cp:
        result = await cp.call(boot16())
    assert result.status == "Pending"

    async def status(s):
        return (
            await s.execute(
                select(Charger.registration_status).where(Charger.charge_point_id == "NEWBIE")
            )
        ).scalar_one()

    assert await arrange(runtime, status) == "Pending"


async def test_password_protected_charger_needs_basic_auth(runtime, ocpp_url):
    await add_fleet(runtime, "CP-SECURE", password=PASSWORD)
    url = f"{ocpp_url}/CP-SECURE"
    assert await _status(url) == 401
    assert await _status(url, headers=basic_auth("CP-SECURE", "wrong-password-123456")) == 401
    assert await _status(url, headers=basic_auth("OTHER-ID", PASSWORD)) == 401
    assert await _status(url, headers={"Authorization": "Basic !!!notbase64"}) == 401
    async with connect(ocpp_url, "CP-SECURE", password=PASSWORD) as cp:
        assert (await cp.call(call16.Heartbeat())).current_time
    # The second connect is served from the verified-credentials cache; still checked.
    assert await _status(url, headers=basic_auth("CP-SECURE", PASSWORD)) == 101
    assert await _status(url, headers=basic_auth("CP-SECURE", PASSWORD + "x")) == 401


async def test_password_is_stored_only_as_a_hash(runtime):
    await add_fleet(runtime, "CP-SECURE", password=PASSWORD)

    async def stored(s):
        return (await s.execute(select(Charger.password_hash))).scalar_one()

    value = await arrange(runtime, stored)
    assert PASSWORD not in value and value.startswith("scrypt$")


@pytest.mark.parametrize("protocols", [(), ("ocpp1.5",), ("mqtt",)])
async def test_handshake_without_a_supported_subprotocol_is_refused(runtime, ocpp_url, protocols):
    await add_fleet(runtime, "CP-1")
    assert await _status(f"{ocpp_url}/CP-1", protocols=protocols) == 400


async def test_wrong_path_is_refused(runtime, ocpp_url):
    base = ocpp_url.rsplit("/ocpp", 1)[0]
    assert await _status(f"{base}/something/else") == 404


@pytest.mark.parametrize("protocol", ["ocpp1.6", "ocpp2.0.1", "ocpp2.1"])
async def test_each_version_is_negotiated(runtime, ocpp_url, protocol):
    await add_fleet(runtime, "CP-1")
    async with websockets.connect(f"{ocpp_url}/CP-1", subprotocols=[protocol]) as ws:
        assert ws.subprotocol == protocol


async def test_reconnect_replaces_the_old_connection(runtime, ocpp_url):
    await add_fleet(runtime, "CP-1")
    async with connect(ocpp_url, "CP-1") as first:
        await first.call(boot16())
        async with connect(ocpp_url, "CP-1") as second:
            assert (await second.call(call16.Heartbeat())).current_time
            assert runtime.gateway.connections["CP-1"].identity.charge_point_id == "CP-1"
            assert runtime.gateway_ctx.commands.is_connected("CP-1")
