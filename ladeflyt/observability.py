"""Logs and traces for a long-running process (serve, gateway, api).

Logs: one JSON object per line by default (`LADEFLYT_LOG_FORMAT=json`), with the request,
charger and session ids of core.observe's context on every line; `text` for people
(`make run`). Traces: with LADEFLYT_OTEL_ENDPOINT, spans go to that OTLP/HTTP collector.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import orjson

from core import observe
from core.config import Settings

_CONTEXT = (
    ("request_id", observe.request_id),
    ("charge_point_id", observe.charge_point_id),
    ("session_id", observe.session_id),
)


def _context() -> dict[str, Any]:
    return {name: value for name, var in _CONTEXT if (value := var.get()) is not None}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **_context(),
        }
        span = observe.trace.get_current_span().get_span_context()
        if span.is_valid:
            line["trace_id"] = f"{span.trace_id:032x}"
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        context = _context()
        if context:
            text += " [" + " ".join(f"{k}={v}" for k, v in context.items()) + "]"
        return text


def configure_logging(settings: Settings, *, verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if settings.log_format == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else settings.log_level.upper())
    logging.getLogger("websockets").setLevel(logging.WARNING)


def setup_tracing(settings: Settings, exporter: Any = None) -> bool:
    """Install the OpenTelemetry SDK when a collector (or a test's exporter) is given."""
    if not settings.otel_endpoint and exporter is None:
        return False
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    provider = TracerProvider(
        resource=Resource.create({"service.name": settings.otel_service_name})
    )
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        endpoint = settings.otel_endpoint.rstrip("/")
        if not endpoint.endswith("/v1/traces"):
            endpoint += "/v1/traces"
        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
    trace.set_tracer_provider(provider)
    return True


def setup(settings: Settings, *, verbose: bool = False) -> None:
    """For `serve`, `gateway` and `api`: their logs, and traces if a collector is set."""
    configure_logging(settings, verbose=verbose)
    setup_tracing(settings)
