"""What operators see of a running process: Prometheus metrics, log context, traces.

- Metrics (prometheus_client, one registry per process, served at /metrics): connected
  chargers, OCPP messages and their latency per action and version, group-commit batch
  sizes, command outcomes, GraphQL latency, backlogs of webhooks and outboxes, allocation
  rounds.
- Log context: the request, charger and session a log line is about, in contextvars that
  the JSON log formatter (ladeflyt.logs) adds to every line.
- Traces: an OpenTelemetry tracer (the API alone: a no-op until ladeflyt.observability
  installs the SDK for LADEFLYT_OTEL_ENDPOINT).
"""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from opentelemetry import trace
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest

# ------------------------------------------------------------------------------ metrics

_LATENCY = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

CHARGERS_CONNECTED = Gauge(
    "ladeflyt_chargers_connected", "Chargers connected to this process", ["version"]
)
OCPP_MESSAGES = Counter(
    "ladeflyt_ocpp_messages_total",
    "Charger messages answered, by action, OCPP version and outcome (result/error)",
    ["action", "version", "outcome"],
)
OCPP_LATENCY = Histogram(
    "ladeflyt_ocpp_message_seconds",
    "From a charger message's arrival to its answer (after the durable commit)",
    ["action", "version"],
    buckets=_LATENCY,
)
BATCH_UNITS = Histogram(
    "ladeflyt_db_batch_units",
    "Messages per group commit",
    buckets=(1, 2, 5, 10, 25, 50, 100, 250, 500, 1000),
)
COMMANDS = Counter(
    "ladeflyt_commands_total",
    "Commands to chargers, by command and outcome (charger status or error code)",
    ["command", "outcome"],
)
GRAPHQL_LATENCY = Histogram(
    "ladeflyt_graphql_request_seconds",
    "GraphQL queries and mutations, from parse to result",
    ["operation"],
    buckets=_LATENCY,
)
BACKLOG = Gauge("ladeflyt_backlog", "Work waiting in a queue (webhooks, outboxes)", ["queue"])
ALLOCATION_ROUNDS = Counter(
    "ladeflyt_allocation_rounds_total", "Load-balancing allocation rounds computed"
)


def exposition() -> tuple[bytes, str]:
    """The metrics in Prometheus' text format, and its content type."""
    return generate_latest(), CONTENT_TYPE_LATEST


def command_outcome(command: object, outcome: str) -> None:
    COMMANDS.labels(type(command).__name__, outcome).inc()


# ------------------------------------------------------------------------------ log context

request_id: ContextVar[str | None] = ContextVar("request_id", default=None)
charge_point_id: ContextVar[str | None] = ContextVar("charge_point_id", default=None)
session_id: ContextVar[int | None] = ContextVar("session_id", default=None)

# ------------------------------------------------------------------------------ traces

tracer = trace.get_tracer("ladeflyt")


async def sample_backlogs(session: Any) -> dict[str, int]:
    """Count what waits: unhandled webhooks, queued SMS, queued invoice deliveries."""
    from sqlalchemy import func, select

    from core.models import DocumentDelivery, SmsMessage, WebhookEvent
    from core.models.delivery import DeliveryStatus
    from core.models.messaging import SmsStatus

    queries = {
        "webhooks": select(func.count()).where(WebhookEvent.handled_at.is_(None)),
        "sms": select(func.count()).where(SmsMessage.status == SmsStatus.QUEUED.value),
        "deliveries": select(func.count()).where(
            DocumentDelivery.status == DeliveryStatus.QUEUED.value
        ),
    }
    counts = {}
    for queue, query in queries.items():
        counts[queue] = int((await session.execute(query)).scalar_one())
        BACKLOG.labels(queue).set(counts[queue])
    return counts
