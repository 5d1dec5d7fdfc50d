"""Prometheus metrics every service shares, the HTTP endpoint that serves them, and the gRPC
server interceptor that counts, times and traces calls.

Labels have bounded cardinality only: event types, outcomes, gRPC methods and codes, consumer
names — never batch or essay ids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

import grpc
from opentelemetry.trace import SpanKind
from prometheus_client import Counter, Gauge, Histogram, start_http_server

from services.mesh import tracing
from services.mesh.settings import env_addr, env_bool

log = logging.getLogger(__name__)

DEFAULT_METRICS_ADDRS: dict[str, str] = {
    "CONTENT_SERVICE_METRICS_ADDR": "127.0.0.1:9101",
    "FILE_SERVICE_METRICS_ADDR": "127.0.0.1:9102",
    "BATCH_ORCHESTRATOR_METRICS_ADDR": "127.0.0.1:9103",
    "ESSAY_LIFECYCLE_METRICS_ADDR": "127.0.0.1:9104",
    "SPELL_CHECKER_METRICS_ADDR": "127.0.0.1:9105",
}
_LATENCY_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)

EVENTS_HANDLED = Counter(
    "huleedu_events_handled_total",
    "Messages handled by a consumer, by event type and outcome (ack, nak, dlq; wait: a handler "
    "run that met an unavailable dependency and will run again).",
    ["consumer", "event_type", "outcome"],
)
HANDLER_SECONDS = Histogram(
    "huleedu_event_handler_seconds",
    "Time a handler took for one message.",
    ["consumer", "event_type"],
    buckets=_LATENCY_BUCKETS,
)
GRPC_REQUESTS = Counter(
    "huleedu_grpc_requests_total",
    "gRPC calls served, by method and status code.",
    ["method", "code"],
)
GRPC_SECONDS = Histogram(
    "huleedu_grpc_request_seconds",
    "Time to answer a gRPC call.",
    ["method"],
    buckets=_LATENCY_BUCKETS,
)
CONSUMER_PENDING = Gauge(
    "huleedu_consumer_pending_messages",
    "Messages of the stream not yet delivered to the durable consumer (read from JetStream).",
    ["consumer"],
)
CONSUMER_ACK_PENDING = Gauge(
    "huleedu_consumer_ack_pending_messages",
    "Messages delivered to the durable consumer and not yet answered (read from JetStream).",
    ["consumer"],
)
CONSUMER_REDELIVERED = Gauge(
    "huleedu_consumer_redelivered_messages",
    "Messages the durable consumer is redelivering (read from JetStream).",
    ["consumer"],
)
CONSUMER_FETCH_FAILURES = Counter(
    "huleedu_consumer_fetch_failures_total",
    "Pull requests to the durable consumer that failed (no stream leader, no connection, "
    "the consumer missing on the server).",
    ["consumer"],
)
CONSUMER_STALLED = Gauge(
    "huleedu_consumer_stalled",
    "1 while the durable consumer's pull requests have failed for longer than its stall limit, "
    "or a message has waited 5 s or longer for an unavailable dependency (the service's gRPC "
    "health answers NOT_SERVING meanwhile).",
    ["consumer"],
)
CONSUMER_DEPENDENCY_WAITS = Gauge(
    "huleedu_consumer_dependency_waits",
    "Messages held while their handler waits for an unavailable dependency (NATS, another "
    "service) to answer again; they count no delivery.",
    ["consumer"],
)
STORAGE_UNAVAILABLE = Gauge(
    "huleedu_storage_unavailable",
    "1 while JetStream stores none of this service's writes to the stream (its storage limit "
    "or disk is full); the service's gRPC health answers NOT_SERVING meanwhile.",
    ["stream"],
)


@dataclass(frozen=True)
class MetricsSettings:
    """Where a service serves /metrics, if at all."""

    enabled: bool
    addr: str

    @classmethod
    def from_env(cls, variable: str) -> MetricsSettings:
        """METRICS_ENABLED (default true) and the service's *_METRICS_ADDR."""
        return cls(
            enabled=env_bool("METRICS_ENABLED", True),
            addr=env_addr(variable, DEFAULT_METRICS_ADDRS[variable]),
        )


# No /metrics: what settings built in-process (tests) carry; from_env() turns it on.
METRICS_OFF = MetricsSettings(enabled=False, addr="127.0.0.1:0")


def start_metrics_server(settings: MetricsSettings) -> int | None:
    """Serve /metrics over HTTP on the configured address; returns the bound port."""
    if not settings.enabled:
        return None
    host, _, port = settings.addr.rpartition(":")
    server, _thread = start_http_server(int(port), addr=host.strip("[]") or "0.0.0.0")
    bound = int(server.server_port)
    log.info("metrics served", extra={"addr": f"{host}:{bound}", "path": "/metrics"})
    return bound


class GrpcMetricsInterceptor(grpc.aio.ServerInterceptor):  # type: ignore[type-arg]
    """Counts, times and traces every unary and client-streaming call."""

    async def intercept_service(
        self,
        continuation: Callable[
            [grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any]]
        ],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any]:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method
        if handler is None or method.startswith("/grpc."):
            return handler
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _timed_unary(handler.unary_unary, method),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                _timed_unary(
                    cast(Callable[[Any, Any], Awaitable[Any]], handler.stream_unary), method
                ),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler


def _timed_unary(
    behaviour: Callable[[Any, Any], Awaitable[Any]], method: str
) -> Callable[[Any, Any], Awaitable[Any]]:
    async def timed(request: Any, context: Any) -> Any:
        started = time.perf_counter()
        code = grpc.StatusCode.OK
        try:
            if tracing.tracing_enabled():
                metadata = {key: str(value) for key, value in context.invocation_metadata() or ()}
                with tracing.span_from(metadata, method, SpanKind.SERVER):
                    response = await behaviour(request, context)
            else:
                response = await behaviour(request, context)
        except grpc.aio.AbortError:
            code = context.code() or grpc.StatusCode.UNKNOWN
            raise
        except Exception:
            code = grpc.StatusCode.UNKNOWN
            raise
        else:
            code = context.code() or grpc.StatusCode.OK
            return response
        finally:
            GRPC_SECONDS.labels(method).observe(time.perf_counter() - started)
            GRPC_REQUESTS.labels(method, _code_name(code)).inc()

    return timed


def _code_name(code: grpc.StatusCode | int) -> str:
    return code.name if isinstance(code, grpc.StatusCode) else str(code)
