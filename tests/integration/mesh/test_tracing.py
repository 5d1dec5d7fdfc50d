"""One trace across a gRPC call and a NATS hop: the W3C traceparent travels in metadata/headers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from huleedu.events.v1 import events_pb2
from services.mesh import tracing
from services.mesh.consumer import Delivery, EventConsumer
from services.mesh.event_ids import new_metadata
from services.mesh.grpc_channel import grpc_channel
from services.mesh.grpc_server import start_grpc_server
from services.mesh.publisher import EventPublisher
from services.mesh.streams import ConsumerSpec
from tests.support import unique


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure_tracing("test", exporter=exporter)
    yield exporter
    tracing._state["enabled"] = False


def current_trace_id() -> int:
    return int(trace.get_current_span().get_span_context().trace_id)


async def test_trace_follows_a_grpc_call_and_a_nats_hop(
    spans: InMemorySpanExporter, nats_js: tuple[Client, JetStreamContext]
) -> None:
    _, js = nats_js
    subject = f"huleedu.test.{unique('t').replace('-', '_')}.v1"
    seen: dict[str, int] = {}
    handled = asyncio.Event()
    publisher = EventPublisher(js, "test")

    class Content(content_service_pb2_grpc.ContentServiceServicer):
        async def GetContent(self, request: Any, context: Any) -> Any:
            seen["grpc"] = current_trace_id()
            event = events_pb2.BatchEssaysRegistered(
                metadata=new_metadata("test", correlation_id="c"), batch_id="b"
            )
            await publisher.publish(event, subject=subject)
            return content_service_pb2.GetContentResponse(storage_id=request.storage_id)

    async def handler(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        seen["nats"] = current_trace_id()
        handled.set()

    server = await start_grpc_server(
        "127.0.0.1:0",
        lambda s: content_service_pb2_grpc.add_ContentServiceServicer_to_server(Content(), s),
        ["huleedu.content.v1.ContentService"],
    )
    consumer = EventConsumer(
        js,
        ConsumerSpec(durable=unique("trace").replace("-", "_"), filter_subjects=[subject]),
        {events_pb2.BatchEssaysRegistered: handler},
        service="test",
    )
    await consumer.start()
    try:
        with tracing.span("client submit"):
            root = current_trace_id()
            async with grpc_channel(f"127.0.0.1:{server.port}") as channel:
                stub = content_service_pb2_grpc.ContentServiceStub(channel)
                await stub.GetContent(content_service_pb2.GetContentRequest(storage_id="x"))
        await asyncio.wait_for(handled.wait(), timeout=10)
    finally:
        await consumer.stop()
        await server.stop(0)
    assert root != 0
    assert seen == {"grpc": root, "nats": root}
    trace.get_tracer_provider().force_flush()  # type: ignore[attr-defined]
    names = {span.name for span in spans.get_finished_spans()}
    assert {"client submit", "/huleedu.content.v1.ContentService/GetContent"} <= names
    assert "handle BatchEssaysRegistered" in names


def test_tracing_off_injects_nothing() -> None:
    carrier: dict[str, str] = {}
    enabled = tracing._state["enabled"]
    tracing._state["enabled"] = False
    try:
        tracing.inject(carrier)
    finally:
        tracing._state["enabled"] = enabled
    assert carrier == {}
