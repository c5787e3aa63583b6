"""Test helpers: chargers played by the `ocpp` package over real websockets."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import socket
from collections.abc import AsyncIterator, Iterator
from typing import Any

import orjson
import uvicorn
import websockets
from ocpp.routing import on
from ocpp.v16 import ChargePoint as CP16
from ocpp.v16 import call as call16
from ocpp.v16 import call_result as result16
from ocpp.v201 import ChargePoint as CP201
from ocpp.v201 import call_result as result201
from sqlalchemy.ext.asyncio import AsyncSession
from websockets.typing import Subprotocol

from core.chargers.service import add_charger
from core.db import transaction
from core.models import Membership, Organisation, Site, User
from core.users.service import add_id_token, add_user
from ladeflyt.runtime import Runtime


class Charger16(CP16):
    """A 1.6 charger that accepts remote commands and remembers them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.answer_status = "Accepted"
        self.answer_delay = 0.0

    async def _answer(self, action: str, kwargs: dict[str, Any]) -> None:
        self.received.append((action, kwargs))
        if self.answer_delay:
            await asyncio.sleep(self.answer_delay)

    @on("RemoteStartTransaction")
    async def on_remote_start(self, **kwargs: Any) -> Any:
        await self._answer("RemoteStartTransaction", kwargs)
        return result16.RemoteStartTransaction(status=self.answer_status)

    @on("RemoteStopTransaction")
    async def on_remote_stop(self, **kwargs: Any) -> Any:
        await self._answer("RemoteStopTransaction", kwargs)
        return result16.RemoteStopTransaction(status=self.answer_status)

    @on("Reset")
    async def on_reset(self, **kwargs: Any) -> Any:
        await self._answer("Reset", kwargs)
        return result16.Reset(status=self.answer_status)

    @on("ChangeConfiguration")
    async def on_change_configuration(self, **kwargs: Any) -> Any:
        await self._answer("ChangeConfiguration", kwargs)
        return result16.ChangeConfiguration(status=self.answer_status)

    @on("GetConfiguration")
    async def on_get_configuration(self, **kwargs: Any) -> Any:
        await self._answer("GetConfiguration", kwargs)
        return result16.GetConfiguration(
            configuration_key=[{"key": "HeartbeatInterval", "readonly": False, "value": "300"}]
        )

    @on("UnlockConnector")
    async def on_unlock(self, **kwargs: Any) -> Any:
        await self._answer("UnlockConnector", kwargs)
        return result16.UnlockConnector(status="Unlocked")

    @on("ChangeAvailability")
    async def on_change_availability(self, **kwargs: Any) -> Any:
        await self._answer("ChangeAvailability", kwargs)
        return result16.ChangeAvailability(status=self.answer_status)

    @on("TriggerMessage")
    async def on_trigger(self, **kwargs: Any) -> Any:
        await self._answer("TriggerMessage", kwargs)
        return result16.TriggerMessage(status=self.answer_status)

    @on("SetChargingProfile")
    async def on_set_profile(self, **kwargs: Any) -> Any:
        await self._answer("SetChargingProfile", kwargs)
        return result16.SetChargingProfile(status=self.answer_status)

    @on("ClearChargingProfile")
    async def on_clear_profile(self, **kwargs: Any) -> Any:
        await self._answer("ClearChargingProfile", kwargs)
        return result16.ClearChargingProfile(status=self.answer_status)


class Charger201(CP201):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[str, dict[str, Any]]] = []

    @on("RequestStartTransaction")
    async def on_request_start(self, **kwargs: Any) -> Any:
        self.received.append(("RequestStartTransaction", kwargs))
        return result201.RequestStartTransaction(status="Accepted", transaction_id=None)

    @on("RequestStopTransaction")
    async def on_request_stop(self, **kwargs: Any) -> Any:
        self.received.append(("RequestStopTransaction", kwargs))
        return result201.RequestStopTransaction(status="Accepted")

    @on("GetVariables")
    async def on_get_variables(self, get_variable_data: list[dict[str, Any]], **kw: Any) -> Any:
        self.received.append(("GetVariables", {"get_variable_data": get_variable_data}))
        return result201.GetVariables(
            get_variable_result=[
                {
                    "attribute_status": "Accepted",
                    "attribute_value": "300",
                    "component": d["component"],
                    "variable": d["variable"],
                }
                for d in get_variable_data
            ]
        )

    @on("Reset")
    async def on_reset(self, **kwargs: Any) -> Any:
        self.received.append(("Reset", kwargs))
        return result201.Reset(status="Accepted")


def basic_auth(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@contextlib.asynccontextmanager
async def connect(
    ocpp_url: str,
    cp_id: str,
    protocol: str = "1.6",
    *,
    password: str | None = None,
    charger_class: type | None = None,
) -> AsyncIterator[Any]:
    """A charger (ocpp package) connected over a real websocket, its loop running."""
    subprotocol = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}[protocol]
    headers = basic_auth(cp_id, password) if password else None
    async with websockets.connect(
        f"{ocpp_url}/{cp_id}",
        subprotocols=[Subprotocol(subprotocol)],
        additional_headers=headers,
    ) as ws:
        cls = charger_class or (Charger16 if protocol == "1.6" else Charger201)
        cp: Any = cls(cp_id, ws)
        task = asyncio.create_task(cp.start())
        try:
            yield cp
        finally:
            task.cancel()
            with contextlib.suppress(BaseException):
                await task


@contextlib.asynccontextmanager
async def raw(ocpp_url: str, cp_id: str, protocol: str = "1.6") -> AsyncIterator[Any]:
    subprotocol = {"1.6": "ocpp1.6", "2.0.1": "ocpp2.0.1", "2.1": "ocpp2.1"}[protocol]
    async with websockets.connect(
        f"{ocpp_url}/{cp_id}", subprotocols=[Subprotocol(subprotocol)]
    ) as ws:
        yield ws


async def send_raw(ws: Any, frame: Any) -> Any:
    await ws.send(frame if isinstance(frame, str | bytes) else orjson.dumps(frame).decode())
    return orjson.loads(await asyncio.wait_for(ws.recv(), 5))


async def arrange(runtime: Runtime, work: Any) -> Any:
    async with transaction(runtime.gateway_ctx.sessions) as session:
        return await work(session)


async def add_fleet(
    runtime: Runtime,
    *ids: str,
    connectors: int = 2,
    password: str | None = None,
    tags: tuple[str, ...] = ("TAG-OK",),
    invoiced: bool = True,
) -> None:
    """Chargers at Klokkarstua and Kari with her tags. Kari is invoiced monthly unless
    `invoiced=False` (a driver who can charge only once she has a payment method)."""

    async def work(session: AsyncSession) -> None:
        for cp_id in ids:
            await add_charger(
                session, cp_id, site_name="Klokkarstua", connectors=connectors, password=password
            )
        user = await add_user(session, "+4791234567", name="Kari")
        await enrol(session, user, "Klokkarstua", "member")
        user.invoice_billing = invoiced
        for tag in tags:
            await add_id_token(session, tag, user)

    await arrange(runtime, work)


def boot16() -> Any:
    return call16.BootNotification(charge_point_vendor="Zaptec", charge_point_model="Go")


async def owned_site(session: AsyncSession, site_name: str) -> Organisation:
    """The organisation that owns a site; if none does, one named like the site (both are
    made if missing)."""
    from sqlalchemy import select

    site = (await session.execute(select(Site).where(Site.name == site_name))).scalar_one_or_none()
    if site is not None and site.organisation_id is not None:
        return await session.get_one(Organisation, site.organisation_id)
    org = (
        await session.execute(select(Organisation).where(Organisation.name == site_name))
    ).scalar_one_or_none()
    if org is None:
        org = Organisation(name=site_name)
        session.add(org)
        await session.flush()
    if site is None:
        site = Site(name=site_name)
        session.add(site)
    site.organisation_id = org.id
    await session.flush()
    return org


async def enrol(session: AsyncSession, user: User, site_name: str, group: str) -> Membership:
    """Make a driver a member in `group` of the organisation owning `site_name` (always)."""
    org = await owned_site(session, site_name)
    membership = Membership(user_id=user.id, organisation_id=org.id, group=group)
    session.add(membership)
    await session.flush()
    return membership


@contextlib.contextmanager
def bound_socket() -> Iterator[socket.socket]:
    """A listening socket on a free port of 127.0.0.1, bound now so that its address is
    known before the runtime (links, the sandbox's return URLs) is built."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    sock.setblocking(False)
    try:
        yield sock
    finally:
        sock.close()


@contextlib.asynccontextmanager
async def serving(runtime: Runtime, sock: socket.socket) -> AsyncIterator[None]:
    """The runtime's real HTTP stack (uvicorn) on `sock`, until the block ends."""
    uv = uvicorn.Server(
        uvicorn.Config(
            runtime.http_app(), lifespan="off", log_level="warning", timeout_graceful_shutdown=2
        )
    )
    task = asyncio.create_task(uv.serve(sockets=[sock]))
    for _ in range(500):
        if uv.started or task.done():
            break
        await asyncio.sleep(0.01)
    assert uv.started, "the test server did not start"
    try:
        yield
    finally:
        uv.should_exit = True
        await task
