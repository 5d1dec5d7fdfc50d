"""OpenTelemetry tracing across gRPC calls and NATS hops (W3C `traceparent` in headers).

Off by default, and then free: nothing is created, injected or extracted. `HULEEDU_TRACING=otlp`
exports spans over OTLP/gRPC to `OTEL_EXPORTER_OTLP_ENDPOINT` (default http://127.0.0.1:4317).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any

import grpc
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

from services.mesh.settings import SettingsError, env_str

log = logging.getLogger(__name__)

_state = {"enabled": False}
_TRACER_NAME = "huleedu"


def tracing_enabled() -> bool:
    """True once tracing was configured with an exporter."""
    return _state["enabled"]


def configure_tracing(service: str, exporter: SpanExporter | None = None) -> None:
    """Install a tracer provider for the process when HULEEDU_TRACING (or `exporter`) asks."""
    mode = env_str("HULEEDU_TRACING", "off").lower()
    if exporter is None:
        if mode == "off":
            return
        if mode != "otlp":
            raise SettingsError(f"HULEEDU_TRACING={mode!r} is not one of: off, otlp")
        # Imported only when asked for: tracing off costs nothing, not even this import.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # noqa: PLC0415
            OTLPSpanExporter,
        )

        exporter = OTLPSpanExporter(
            endpoint=env_str("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317")
        )
    # The SDK only when tracing is on: a process that never traces (the CLI, by default) does
    # not pay for loading it.
    from opentelemetry.sdk.resources import Resource  # noqa: PLC0415
    from opentelemetry.sdk.trace import TracerProvider  # noqa: PLC0415
    from opentelemetry.sdk.trace.export import BatchSpanProcessor  # noqa: PLC0415

    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _state["enabled"] = True
    log.info("tracing on", extra={"exporter": type(exporter).__name__})


def inject(carrier: MutableMapping[str, str]) -> None:
    """Write the current trace context (`traceparent`) into message headers or call metadata."""
    if _state["enabled"]:
        propagate.inject(carrier)


@contextlib.contextmanager
def span_from(
    carrier: Mapping[str, str], name: str, kind: trace.SpanKind, **attributes: str
) -> Iterator[None]:
    """Run the block in a span whose parent is the trace context found in `carrier`."""
    if not _state["enabled"]:
        yield
        return
    parent = propagate.extract(dict(carrier))
    token = otel_context.attach(parent)
    try:
        tracer = trace.get_tracer(_TRACER_NAME)
        with tracer.start_as_current_span(name, kind=kind, attributes=attributes):
            yield
    finally:
        otel_context.detach(token)


@contextlib.contextmanager
def span(name: str, **attributes: str) -> Iterator[None]:
    """Run the block in a new span, child of the current one (a root span when there is none)."""
    if not _state["enabled"]:
        yield
        return
    with trace.get_tracer(_TRACER_NAME).start_as_current_span(name, attributes=attributes):
        yield


class TracingClientInterceptor(
    grpc.aio.UnaryUnaryClientInterceptor,  # type: ignore[type-arg]
    grpc.aio.StreamUnaryClientInterceptor,  # type: ignore[type-arg]
):
    """Adds the current `traceparent` to the metadata of every outgoing call."""

    async def intercept_unary_unary(
        self, continuation: Any, client_call_details: grpc.aio.ClientCallDetails, request: Any
    ) -> Any:
        return await continuation(_with_trace(client_call_details), request)

    async def intercept_stream_unary(
        self,
        continuation: Any,
        client_call_details: grpc.aio.ClientCallDetails,
        request_iterator: Any,
    ) -> Any:
        return await continuation(_with_trace(client_call_details), request_iterator)


def _with_trace(details: grpc.aio.ClientCallDetails) -> grpc.aio.ClientCallDetails:
    carrier: dict[str, str] = {}
    inject(carrier)
    metadata = grpc.aio.Metadata(*(details.metadata or ()))
    for key, value in carrier.items():
        metadata.add(key, value)
    return grpc.aio.ClientCallDetails(
        method=details.method,
        timeout=details.timeout,
        metadata=metadata,
        credentials=details.credentials,
        wait_for_ready=details.wait_for_ready,
    )


def client_interceptors() -> list[grpc.aio.ClientInterceptor]:
    """The interceptors a channel needs: none while tracing is off."""
    return [TracingClientInterceptor()] if _state["enabled"] else []  # type: ignore[list-item]
