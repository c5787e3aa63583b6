"""Answers that are true (issue 10): every field of a request sees the signed-in driver, a
mutation's answer comes after its commit, oversized bodies are refused before parsing, and
the log tells a client's mistakes (INFO, one line) from the server's faults (ERROR, traceback).

Through the real ASGI app, and where timing between answer and commit matters, over real
HTTP (uvicorn)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, exc, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from api.app import create_app
from api.deps import Services
from api.graphql.context import DriverServices
from core.config import Settings
from core.db import create_engine, session_factory
from core.models import Charger, ChargingSession, Site, User
from core.tariffs.service import price_session
from ladeflyt.runtime import Runtime
from tests.api.graphql_helpers import gql, http_server, sign_in
from tests.helpers import add_fleet, arrange

pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")

HOME_SCREEN = """{
  me { phone name }
  rfidTags { uid }
  vehicles { id }
  paymentMethods { id }
  invoiceSettings { receiptByEmail }
  activeSession { id }
  sessions(first: 5) { edges { cursor } }
  invoices { number }
}"""


@pytest.fixture
async def http(runtime: Runtime) -> AsyncIterator[httpx.AsyncClient]:
    async with (
        http_server(runtime) as address,
        httpx.AsyncClient(base_url=f"http://{address}") as c,
    ):
        yield c


def _problems(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]


# --------------------------------------------------------------------------- one driver


async def test_several_signed_in_fields_in_one_request_all_see_the_driver(
    client: httpx.AsyncClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    signed = await sign_in(client, runtime, "91234567")
    token = signed["accessToken"]
    added = await gql(
        client,
        'mutation { registerRfidTag(uid: "04A1B2C3", label: "key") { __typename } }',
        token=token,
    )
    assert added["data"]["registerRfidTag"]["__typename"] == "RfidTagRegistered", added
    caplog.clear()
    caplog.set_level(logging.INFO)
    for _ in range(3):
        body = await gql(client, HOME_SCREEN, token=token)
        assert "errors" not in body, body
        assert body["data"]["me"]["phone"] == "+4791234567"
        assert body["data"]["rfidTags"] == [{"uid": "04A1B2C3"}]
    assert _problems(caplog) == []


# --------------------------------------------------------------------------- commit, then answer


class _AnswerOrder:
    """ASGI wrapper noting when the response starts, beside the database's commits."""

    def __init__(self, app: Any, events: list[str]) -> None:
        self.app, self.events = app, events

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        async def noting_send(message: Any) -> None:
            if message["type"] == "http.response.start":
                self.events.append("answer")
            await send(message)

        await self.app(scope, receive, noting_send)


@contextlib.contextmanager
def _on_commit_of_user_writes(runtime: Runtime, then: Callable[[], None]) -> Iterator[None]:
    """Call `then` as the database is about to commit a transaction that wrote to users."""
    engine = runtime.engine.sync_engine

    def noted(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        if statement.lstrip().upper().startswith("UPDATE USERS"):
            conn.info["wrote_users"] = True

    def committing(conn: Connection) -> None:
        if conn.info.pop("wrote_users", False):
            then()

    def rolled_back(conn: Connection) -> None:
        conn.info.pop("wrote_users", None)

    listeners: list[tuple[str, Callable[..., None]]] = [
        ("before_cursor_execute", noted),
        ("commit", committing),
        ("rollback", rolled_back),
    ]
    for name, listener in listeners:
        event.listen(engine, name, listener)
    try:
        yield
    finally:
        for name, listener in listeners:
            event.remove(engine, name, listener)


@pytest.fixture
def user_writes(runtime: Runtime) -> Iterator[list[str]]:
    """'commit' for every committed transaction that wrote to users."""
    events: list[str] = []
    with _on_commit_of_user_writes(runtime, lambda: events.append("commit")):
        yield events


UPDATE_NAME = """mutation($n: String!) { updateProfile(name: $n) {
  __typename ... on ProfileUpdated { me { name } } } }"""


async def test_mutation_is_committed_before_its_answer_is_sent(
    runtime: Runtime, user_writes: list[str]
) -> None:
    app = _AnswerOrder(runtime.http_app(), user_writes)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://test"
    ) as c:
        token = (await sign_in(c, runtime, "91234567"))["accessToken"]
        user_writes.clear()
        done = await gql(c, UPDATE_NAME, {"n": "Kari Nordmann"}, token)
    assert done["data"]["updateProfile"]["__typename"] == "ProfileUpdated"
    assert user_writes == ["commit", "answer"]


async def test_query_right_after_update_profile_sees_the_change(
    http: httpx.AsyncClient, runtime: Runtime
) -> None:
    token = (await sign_in(http, runtime, "91234567"))["accessToken"]
    for name in ("Kari", "Kari Nordmann", "Ola"):
        done = await gql(http, UPDATE_NAME, {"n": name}, token)
        assert done["data"]["updateProfile"]["me"]["name"] == name
        # A new connection: nothing shared with the mutation's but the database.
        async with httpx.AsyncClient(base_url=str(http.base_url)) as other:
            seen = await gql(other, "{ me { name } }", token=token)
        assert seen["data"]["me"]["name"] == name


@pytest.fixture
def failing_user_commits(runtime: Runtime) -> Iterator[None]:
    """The database refuses to commit any transaction that wrote to users (as a full disk
    or a lost connection would)."""

    def fail() -> None:
        raise exc.OperationalError("COMMIT", {}, Exception("disk I/O error"))

    with _on_commit_of_user_writes(runtime, fail):
        yield


async def test_failed_commit_is_an_error_result_not_success(
    http: httpx.AsyncClient, runtime: Runtime, request: pytest.FixtureRequest
) -> None:
    token = (await sign_in(http, runtime, "91234567"))["accessToken"]
    assert (await gql(http, UPDATE_NAME, {"n": "Kari"}, token))["data"]["updateProfile"]
    request.getfixturevalue("failing_user_commits")
    failed = await gql(http, UPDATE_NAME, {"n": "Ola"}, token)
    assert failed["data"] is None, failed
    assert [e["extensions"]["code"] for e in failed["errors"]] == ["NOT_SAVED"]
    assert (await gql(http, "{ me { name } }", token=token))["data"]["me"]["name"] == "Kari"


# --------------------------------------------------------------------------- body limit


def test_body_limit_defaults_to_64_kib() -> None:
    assert Settings().http_max_body_bytes == 64 * 1024


async def _chunks(total: int, size: int = 8192) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        part = min(size, total - sent)
        sent += part
        yield b" " * part


def _padded(size: int) -> bytes:
    """A valid GraphQL request of about `size` bytes."""
    head = b'{"query": "{ __typename }", "variables": {"pad": "'
    return head + b"x" * max(size - len(head) - 3, 0) + b'"}}'


@pytest.mark.parametrize("path", ["/graphql", "/api/v1/tariffs"])
async def test_request_body_over_the_limit_is_refused_with_413(
    http: httpx.AsyncClient, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    limit = 64 * 1024
    headers = {"content-type": "application/json"}
    declared = await http.post(path, content=_padded(limit + 1), headers=headers)
    assert declared.status_code == 413
    # No Content-Length: counted as the chunks arrive.
    streamed = await http.post(path, content=_chunks(limit + 10_000), headers=headers)
    assert streamed.status_code == 413
    assert "transfer-encoding" in streamed.request.headers
    refusals = [r for r in caplog.records if "over the limit" in r.getMessage()]
    assert len(refusals) == 2 and all(r.levelno == logging.INFO for r in refusals)
    assert _problems(caplog) == []


async def test_request_body_at_the_limit_is_parsed(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", content=_padded(64 * 1024), headers={"content-type": "application/json"}
    )
    assert response.status_code == 200
    assert response.json() == {"data": {"__typename": "Query"}}


# --------------------------------------------------------------------------- logging


async def test_client_mistakes_are_logged_at_info_without_traceback(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    not_valid = await gql(client, "{ noSuchField }")
    assert not_valid["errors"]
    not_signed_in = await gql(client, "{ me { phone } rfidTags { uid } }")
    codes = {e["extensions"]["code"] for e in not_signed_in["errors"]}
    assert codes == {"UNAUTHENTICATED"}
    aliases = " ".join(f"a{i}: __typename" for i in range(Settings().graphql_max_aliases + 1))
    over_limit = await gql(client, "{ " + aliases + " }")
    assert over_limit["errors"]
    bad_argument = await gql(client, "{ chargersNear(lat: 91, lon: 10) { totalCount } }")
    assert bad_argument["errors"][0]["message"].startswith("lat must be")
    not_json = await client.post(
        "/graphql", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    no_key = await client.get("/api/v1/chargers")
    assert no_key.status_code == 401

    assert _problems(caplog) == []
    mistakes = [r for r in caplog.records if r.name in ("api.graphql", "api.http")]
    assert len(mistakes) == 6
    assert all(r.levelno == logging.INFO and r.exc_info is None for r in mistakes)


async def test_server_faults_keep_their_traceback(
    client: httpx.AsyncClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    token = (await sign_in(client, runtime, "91234567"))["accessToken"]
    async with runtime.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE vehicles RENAME TO vehicles_gone"))
    try:
        caplog.clear()
        broken = await gql(client, "{ vehicles { id } }", token=token)
    finally:
        async with runtime.engine.begin() as conn:
            await conn.execute(text("ALTER TABLE vehicles_gone RENAME TO vehicles"))
    assert [e["message"] for e in broken["errors"]] == ["Internal server error"]
    faults = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(faults) == 1 and faults[0].exc_info is not None
    assert "vehicles" in str(faults[0].exc_info[1])


# --------------------------------------------------------------------------- history


HISTORY = """query($first: Int!) { sessions(first: $first) {
  pageInfo { hasNextPage }
  edges { cursor node { id state chargerCode energyKwh cost { amountOre } receiptUrl } } } }"""


async def _history(runtime: Runtime, phone: str, finished: int) -> None:
    """`finished` sessions of this driver at three chargers (one in five a failed start,
    the rest completed and priced as at their stop), and one still charging."""

    async def work(s: AsyncSession) -> None:
        user = (await s.execute(select(User).where(User.phone == phone))).scalar_one()
        chargers = list((await s.execute(select(Charger.id).order_by(Charger.id))).scalars())
        start = datetime(2026, 3, 2, 6, tzinfo=UTC)
        completed = []
        for i in range(finished + 1):
            at = start + timedelta(hours=3 * i)
            status = "active" if i == finished else "failed" if i % 5 == 4 else "completed"
            cs = ChargingSession(
                charger_id=chargers[i % len(chargers)],
                transaction_id=f"{phone}-{i}",
                user_id=user.id,
                status=status,
                channel="app",
                started_at=at,
                stopped_at=None if status == "active" else at + timedelta(hours=1),
                meter_start_wh=0,
                energy_wh=0 if status == "failed" else 1000 + 250 * i,
                flags=[],
            )
            s.add(cs)
            if status == "completed":
                completed.append(cs)
        await s.flush()
        for cs in completed:
            await price_session(s, cs)

    await arrange(runtime, work)


async def test_session_history_loads_a_page_in_the_same_queries_for_50_sessions_as_for_5(
    runtime: Runtime,
) -> None:
    await add_fleet(runtime, "CP-H1", "CP-H2", "CP-H3")

    async def list_price(s: AsyncSession) -> None:
        site = (await s.execute(select(Site).where(Site.name == "Klokkarstua"))).scalar_one()
        site.list_price_ore_per_kwh = 450

    await arrange(runtime, list_price)
    # The API on an engine of its own, so only its statements are counted.
    engine = create_engine(runtime.settings.database_url)
    statements: list[str] = []

    def count(conn: Connection, cursor: Any, statement: str, *_: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    ctx = runtime.gateway_ctx
    api = session_factory(engine)
    app = create_app(
        Services(runtime.settings, api, ctx.commands),
        DriverServices(runtime.settings, api, ctx.commands, ctx.events, runtime.auth, ctx.payments),
    )
    counts = {}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as c:
            for phone, finished in (("+4791111111", 5), ("+4792222222", 50)):
                token = (await sign_in(c, runtime, phone))["accessToken"]
                await _history(runtime, phone, finished)
                statements.clear()
                body = await gql(c, HISTORY, {"first": 100}, token)
                edges = body["data"]["sessions"]["edges"]
                assert len(edges) == finished + 1, body
                nodes = [e["node"] for e in edges]
                assert {n["chargerCode"] for n in nodes} == {"CP-H1", "CP-H2", "CP-H3"}
                completed = [n for n in nodes if n["state"] == "COMPLETED"]
                assert all(n["cost"]["amountOre"] > 0 and n["receiptUrl"] for n in completed)
                assert all(n["cost"] == {"amountOre": 0} for n in nodes if n["state"] == "FAILED")
                counts[finished] = len(statements)
    finally:
        await engine.dispose()
    assert counts[50] == counts[5], counts
