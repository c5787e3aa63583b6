"""Operators can see it run: metrics at /metrics (HTTP and the OCPP port), JSON log lines
with the charger's id, and a trace from a GraphQL operation to the OCPP call it makes."""

from __future__ import annotations

import io
import logging

import httpx
import orjson
import pytest
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from api.graphql.schema import build_schema
from core import bus, observe
from core.config import Settings
from ladeflyt.observability import JsonFormatter, setup_tracing
from tests.helpers import add_fleet, boot16, connect

sqlite_only = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
SPANS = InMemorySpanExporter()
setup_tracing(Settings(), exporter=SPANS)


@sqlite_only
async def test_gateway_metrics_on_the_ocpp_port_count_messages_commands_and_batches(
    runtime, ocpp_url
):
    await add_fleet(runtime, "OBS-1")
    async with connect(ocpp_url, "OBS-1") as cp:
        await cp.call(boot16())
        await runtime.gateway_ctx.commands.send("OBS-1", bus.Reset())
        port = runtime.gateway.port
        async with httpx.AsyncClient() as http:
            text = (await http.get(f"http://127.0.0.1:{port}/metrics")).text
    assert (
        'ladeflyt_ocpp_messages_total{action="BootNotification",outcome="result",version="1.6"}'
        in text
    )
    assert 'ladeflyt_commands_total{command="Reset",outcome="Accepted"}' in text
    assert 'ladeflyt_chargers_connected{version="1.6"} 1.0' in text
    assert "ladeflyt_db_batch_units_count" in text
    assert 'ladeflyt_ocpp_message_seconds_bucket{action="BootNotification"' in text


@sqlite_only
async def test_http_metrics_show_graphql_latency_and_answers_carry_a_request_id(runtime):
    transport = httpx.ASGITransport(app=runtime.http_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        answer = await http.post(
            "/graphql", json={"query": "{ __typename }"}, headers={"X-Request-ID": "req-42"}
        )
        assert answer.headers["x-request-id"] == "req-42"
        text = (await http.get("/metrics")).text
    assert 'ladeflyt_graphql_request_seconds_count{operation="query"}' in text
    assert "ladeflyt_backlog" in text or "ladeflyt_allocation_rounds_total" in text


@sqlite_only
async def test_json_log_lines_name_the_charger_they_are_about(runtime, ocpp_url):
    await add_fleet(runtime, "OBS-2")
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("ocpp_gateway")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        async with connect(ocpp_url, "OBS-2") as cp:
            await cp.call(boot16())
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    lines = [orjson.loads(line) for line in out.getvalue().splitlines()]
    about = [line for line in lines if "connected" in line["msg"]]
    assert about, lines
    assert all(line["charge_point_id"] == "OBS-2" for line in about)
    assert {"ts", "level", "logger", "msg"} <= about[0].keys()


@sqlite_only
async def test_the_ocpp_call_is_a_child_of_the_operation_that_sent_it(runtime, ocpp_url):
    await add_fleet(runtime, "OBS-3")
    SPANS.clear()
    async with connect(ocpp_url, "OBS-3") as cp:
        await cp.call(boot16())
        with observe.tracer.start_as_current_span("GraphQL Mutation") as parent:
            await runtime.gateway_ctx.commands.send("OBS-3", bus.Reset())
    spans = {s.name: s for s in SPANS.get_finished_spans()}
    call = spans["ocpp Reset"]
    assert call.parent is not None
    assert call.parent.span_id == parent.get_span_context().span_id
    assert call.attributes["ocpp.charge_point_id"] == "OBS-3"


async def test_graphql_operations_are_traced_when_a_collector_is_set():
    SPANS.clear()
    schema = build_schema(Settings(otel_endpoint="http://127.0.0.1:4318"))
    result = await schema.execute("query Probe { __typename }")
    assert result.errors is None
    assert any("GraphQL" in s.name for s in SPANS.get_finished_spans())
