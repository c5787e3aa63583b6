"""schemathesis' GraphQL mode against the checked-in schema: generated queries and
mutations (signed in as a driver) never make the server fail."""

from __future__ import annotations

import asyncio
import shutil

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from sqlalchemy.pool import NullPool

from core.config import Settings
from core.db import create_engine, transaction
from core.users.service import add_user
from ladeflyt.contracts import GRAPHQL_PATH
from ladeflyt.runtime import Runtime


@pytest.fixture
def graphql_schema(sqlite_template, tmp_path):
    path = tmp_path / "graphql.db"
    shutil.copy(sqlite_template, path)
    cfg = Settings(database_url=f"sqlite+aiosqlite:///{path}", secret_file=str(tmp_path / "s"))
    # Each schemathesis call runs the app in a fresh event loop: pool nothing across them.
    runtime = Runtime.build(cfg, engine=create_engine(cfg.database_url, poolclass=NullPool))

    async def token() -> str:
        async with transaction(runtime.gateway_ctx.sessions) as session:
            await add_user(session, "+4791234567", name="Kari")
            return (await runtime.auth.access_token_for(session, "+4791234567")).access_token

    access = asyncio.run(token())
    schema = schemathesis.graphql.from_dict(
        {
            "data": __import__("graphql").introspection_from_schema(
                __import__("graphql").build_schema(GRAPHQL_PATH.read_text())
            )
        }
    )
    schema.app = runtime.http_app()
    schema.config.update(base_url="http://test/graphql")
    return schema, access


def test_generated_graphql_operations_never_fail_the_server(graphql_schema):
    schema, access = graphql_schema
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:
        if operation.definition.root_type.name == "Subscription":  # not over HTTP
            continue

        @given(case=operation.as_strategy())
        @settings(
            max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case):
            response = case.call(headers={"Authorization": f"Bearer {access}"})
            assert response.status_code < 500, response.text
            body = response.json()
            for error in body.get("errors") or []:
                assert error.get("message") != "Internal server error", (case.body, error)

        check()
