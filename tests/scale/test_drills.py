"""Drills with real processes: two gateways and one API on PostgreSQL and Redis.

Chargers (raw websockets in this process) talk to both gateways; one gateway is killed
with SIGKILL while they send meter values; Redis is stopped and started again. Run only
where PostgreSQL and `redis-server` are available (.ci/run starts PostgreSQL; these tests
start a private Redis on a free port, never the shared one).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import websockets
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool
from websockets.typing import Subprotocol

from core.db import create_engine
from core.migrate import upgrade
from tests.conftest import _PG_URL

REPO = Path(__file__).resolve().parents[2]
REDIS = shutil.which("redis-server")
pytestmark = pytest.mark.skipif(
    _PG_URL is None or REDIS is None, reason="needs PostgreSQL and redis-server"
)
CHARGERS = 8
_REDIS_FLAGS = ("--save", "", "--appendonly", "no", "--dir")
TAG = "DRILLTAG"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _port_open(port: int, deadline: float) -> None:
    loop = asyncio.get_running_loop()
    while True:
        try:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
            return
        except OSError:
            if loop.time() > deadline:
                raise
            await asyncio.sleep(0.1)


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.port = _free_port()
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert REDIS is not None
        self.proc = subprocess.Popen(
            [
                REDIS,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                *_REDIS_FLAGS,
                str(self.workdir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)
            self.proc = None


@dataclass
class Cluster:
    db_url: str
    redis: RedisServer
    gateways: list[subprocess.Popen[bytes]]
    gateway_ports: list[int]
    api: subprocess.Popen[bytes]
    api_port: int
    api_key: str
    charger_ids: dict[str, int]


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "ladeflyt.cli", *args],
        cwd=REPO,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
    )


async def _admin(statement: str) -> None:
    assert _PG_URL is not None
    engine = create_engine(_PG_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _seed(url: str) -> tuple[dict[str, int], str]:
    from core.chargers.service import add_charger
    from core.db import session_factory, transaction
    from core.orgs.apikeys import create_key
    from core.orgs.schemas import ApiKeyIn
    from core.orgs.scope import Actor, Role
    from core.users.service import add_id_token, add_user

    engine = create_engine(url, poolclass=NullPool)
    try:
        async with transaction(session_factory(engine)) as session:
            ids = {}
            for n in range(CHARGERS):
                charger = await add_charger(session, f"DRILL-{n}", site_name="Drill")
                ids[charger.charge_point_id] = charger.id
            user = await add_user(session, "+4790000001", name="Drill")
            await add_id_token(session, TAG, user)
            key = await create_key(
                session, Actor.system(), ApiKeyIn(role=Role.OPERATOR_ADMIN, name="drill")
            )
        return ids, key.key
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    assert _PG_URL is not None
    tmp = tmp_path_factory.mktemp("drill")
    name = f"ladeflyt_drill_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    url = make_url(_PG_URL).set(database=name).render_as_string(hide_password=False)
    asyncio.run(_admin(f'CREATE DATABASE "{name}"'))
    upgrade(url)
    ids, api_key = asyncio.run(_seed(url))
    redis = RedisServer(tmp)
    redis.start()
    env = {
        **os.environ,
        "PYTHONPATH": str(REPO),
        "LADEFLYT_DATABASE_URL": url,
        "LADEFLYT_REDIS_URL": f"redis://127.0.0.1:{redis.port}/0",
        "LADEFLYT_JWT_SECRET": "drill-secret-drill-secret-drill-secret",
        "LADEFLYT_DELIVERY_DIR": str(tmp / "delivery"),
        "LADEFLYT_OCPP_HOST": "127.0.0.1",
        "LADEFLYT_HTTP_HOST": "127.0.0.1",
        "LADEFLYT_JOBS_LEADER_RETRY_S": "1",
        "LADEFLYT_LOG_FORMAT": "text",
    }
    ports = [_free_port(), _free_port()]
    api_port = _free_port()
    gateways = [
        _spawn(["gateway", "--port", str(p)], env, tmp / f"gateway{i}.log")
        for i, p in enumerate(ports)
    ]
    api = _spawn(["api", "--port", str(api_port)], env, tmp / "api.log")

    async def ready() -> None:
        deadline = asyncio.get_running_loop().time() + 60
        for port in [*ports, api_port]:
            await _port_open(port, deadline)

    try:
        asyncio.run(ready())
        yield Cluster(url, redis, gateways, ports, api, api_port, api_key, ids)
    finally:
        for proc in [*gateways, api]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in [*gateways, api]:
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
        redis.stop()
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --------------------------------------------------------------------------- chargers


@dataclass
class Charger:
    """An OCPP 1.6 charger that fails over to the next gateway and resends what was not
    answered, as a real charger keeps its transaction messages until they are."""

    cp_id: str
    urls: list[str]
    which: int = 0
    answered: list[datetime] = field(default_factory=list)
    transaction_id: int | None = None
    status: str = "Available"
    reconnects: int = 0
    commands: list[str] = field(default_factory=list)
    _n: int = 0
    _ws: Any = None
    _waiting: dict[str, asyncio.Future[Any]] = field(default_factory=dict)
    _base: datetime = field(
        default_factory=lambda: datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    )

    async def _connect(self) -> None:
        while True:
            try:
                self._ws = await websockets.connect(
                    f"{self.urls[self.which]}/{self.cp_id}", subprotocols=[Subprotocol("ocpp1.6")]
                )
                asyncio.get_running_loop().create_task(self._reader(self._ws))
                return
            except OSError:
                self.which = (self.which + 1) % len(self.urls)
                await asyncio.sleep(0.05)

    async def _reader(self, ws: Any) -> None:
        try:
            async for raw in ws:
                msg = orjson.loads(raw)
                if msg[0] == 2:  # a command from the CSMS
                    self.commands.append(msg[2])
                    await ws.send(orjson.dumps([3, msg[1], {"status": "Accepted"}]).decode())
                elif msg[1] in self._waiting:
                    self._waiting.pop(msg[1]).set_result(msg)
        except websockets.ConnectionClosed:
            pass
        for fut in self._waiting.values():
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))
        self._waiting.clear()

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send until answered: on a lost connection, fail over and send it again."""
        self._n += 1
        message_id = f"{self.cp_id}-{self._n}"
        while True:
            if self._ws is None:
                await self._connect()
                await self._boot()
            fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._waiting[message_id] = fut
            try:
                await self._ws.send(orjson.dumps([2, message_id, action, payload]).decode())
                answer = await asyncio.wait_for(fut, 20)
            except (ConnectionError, websockets.ConnectionClosed, OSError):
                self._ws = None
                self.reconnects += 1
                self.which = (self.which + 1) % len(self.urls)
                continue
            assert answer[0] == 3, answer
            return dict(answer[2])

    async def _boot(self) -> None:
        self._n += 1
        boot = {"chargePointVendor": "Drill", "chargePointModel": "D1"}
        await self._ws.send(
            orjson.dumps([2, f"{self.cp_id}-b{self._n}", "BootNotification", boot]).decode()
        )

    async def start(self) -> None:
        answer = await self.call(
            "StartTransaction",
            {
                "connectorId": 1,
                "idTag": TAG,
                "meterStart": 0,
                "timestamp": self._base.isoformat().replace("+00:00", "Z"),
            },
        )
        self.transaction_id = int(answer["transactionId"])

    async def meter(self, n: int) -> None:
        at = self._base + timedelta(seconds=n)
        await self.call(
            "MeterValues",
            {
                "connectorId": 1,
                "transactionId": self.transaction_id,
                "meterValue": [
                    {
                        "timestamp": at.isoformat().replace("+00:00", "Z"),
                        "sampledValue": [
                            {"value": str(n * 10), "measurand": "Energy.Active.Import.Register"}
                        ],
                    }
                ],
            },
        )
        self.answered.append(at)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()


@pytest.fixture
async def chargers(cluster: Cluster) -> AsyncIterator[list[Charger]]:
    urls = [f"ws://127.0.0.1:{p}/ocpp" for p in cluster.gateway_ports]
    fleet = [
        Charger(cp_id, urls, which=i % 2) for i, cp_id in enumerate(sorted(cluster.charger_ids))
    ]
    await asyncio.gather(*(c.start() for c in fleet))
    yield fleet
    await asyncio.gather(*(c.close() for c in fleet))


async def _query(url: str, sql: str) -> list[Any]:
    engine = create_engine(url, poolclass=NullPool)
    try:
        async with engine.connect() as conn:
            return list((await conn.execute(text(sql))).all())
    finally:
        await engine.dispose()


async def _command(cluster: Cluster, charger_id: int) -> httpx.Response:
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{cluster.api_port}") as http:
        return await http.post(
            f"/api/v1/chargers/{charger_id}/commands",
            json={"command": "reset", "kind": "soft"},
            headers={"Authorization": f"Bearer {cluster.api_key}"},
            timeout=30,
        )


# --------------------------------------------------------------------------- drills


async def test_killed_gateway_loses_no_answered_message_and_duplicates_no_session(
    cluster: Cluster, chargers: list[Charger]
) -> None:
    # Under load: half the chargers on each gateway, then gateway 0 is killed mid-stream.
    warmed = asyncio.Event()

    async def load(charger: Charger, start: int, count: int) -> None:
        for n in range(start, start + count):
            await charger.meter(n)
            if sum(len(c.answered) for c in chargers) >= CHARGERS * 10:
                warmed.set()

    running = [asyncio.create_task(load(c, 1, 60)) for c in chargers]
    await warmed.wait()
    cluster.gateways[0].send_signal(signal.SIGKILL)
    cluster.gateways[0].wait(10)
    await asyncio.gather(*running)

    moved = [c for c in chargers if c.reconnects]
    assert moved, "no charger was on the killed gateway"
    stored = await _query(
        cluster.db_url,
        "SELECT c.charge_point_id, s.sampled_at FROM meter_samples s "
        "JOIN chargers c ON c.id = s.charger_id",
    )
    have = {(cp, at) for cp, at in stored}
    lost = [(c.cp_id, at) for c in chargers for at in c.answered if (c.cp_id, at) not in have]
    assert lost == []
    sessions = await _query(
        cluster.db_url,
        "SELECT c.charge_point_id, count(*) FROM charging_sessions s "
        "JOIN chargers c ON c.id = s.charger_id GROUP BY 1",
    )
    assert sorted(n for _, n in sessions) == [1] * CHARGERS
    # The moved chargers are online, held by the surviving gateway.
    online = await _query(
        cluster.db_url,
        "SELECT charge_point_id FROM chargers WHERE online AND charge_point_id LIKE 'DRILL-%'",
    )
    assert {c.cp_id for c in moved} <= {cp for (cp,) in online}


async def test_commands_and_subscriptions_cross_processes_after_failover(
    cluster: Cluster, chargers: list[Charger]
) -> None:
    charger = chargers[0]
    charger_id = cluster.charger_ids[charger.cp_id]
    # A GraphQL subscription on the API process sees what a gateway process hears.
    ws = await websockets.connect(
        f"ws://127.0.0.1:{cluster.api_port}/graphql",
        subprotocols=[Subprotocol("graphql-transport-ws")],
    )
    await ws.send(orjson.dumps({"type": "connection_init", "payload": {}}).decode())
    assert orjson.loads(await ws.recv())["type"] == "connection_ack"
    query = "subscription($id: ID!) { connectorStatus(chargerId: $id) { evseId status online } }"
    await ws.send(
        orjson.dumps(
            {
                "id": "1",
                "type": "subscribe",
                "payload": {"query": query, "variables": {"id": str(charger_id)}},
            }
        ).decode()
    )
    first = orjson.loads(await asyncio.wait_for(ws.recv(), 20))
    assert first["type"] == "next", first
    # The API learns there is a listener elsewhere within a second or so: keep reporting
    # until the change arrives (the report is idempotent).
    seen = None
    for attempt in range(40):
        await charger.call(
            "StatusNotification",
            {
                "connectorId": 1,
                "errorCode": "NoError",
                "status": "Charging",
                "timestamp": (datetime.now(UTC) + timedelta(milliseconds=attempt))
                .isoformat()
                .replace("+00:00", "Z"),
            },
        )
        try:
            msg = orjson.loads(await asyncio.wait_for(ws.recv(), 0.5))
        except TimeoutError:
            continue
        if msg["payload"]["data"]["connectorStatus"]["status"] is not None:
            seen = msg["payload"]["data"]["connectorStatus"]["status"]
            break
    await ws.close()
    assert seen == "CHARGING"

    # A command from the API process reaches the gateway that now holds the charger.
    response = await _command(cluster, charger_id)
    assert response.status_code == 200, response.text
    assert "Reset" in charger.commands


async def test_commands_fail_cleanly_while_redis_is_down_and_work_after(
    cluster: Cluster, chargers: list[Charger]
) -> None:
    charger_id = cluster.charger_ids[chargers[1].cp_id]
    cluster.redis.stop()
    try:
        down = await _command(cluster, charger_id)
        assert down.status_code == 503, down.text
        assert "bus" in down.json()["detail"].lower()
    finally:
        cluster.redis.start()
    # Back: processes reconnect and owners are claimed again by themselves.
    for _ in range(100):
        up = await _command(cluster, charger_id)
        if up.status_code == 200:
            break
        await asyncio.sleep(0.2)
    assert up.status_code == 200, up.text
