"""The consumer runner when JetStream stops answering its pull requests, on a real nats-server: it
never stops fetching, re-creates a durable consumer deleted on the server, and while it cannot
fetch for longer than its stall limit the service's gRPC health answers NOT_SERVING."""

from __future__ import annotations

import asyncio
import contextlib

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import StreamConfig
from nats.js.errors import NotFoundError
from prometheus_client import REGISTRY

from huleedu.events.v1 import events_pb2
from services.mesh.consumer import Delivery, EventConsumer
from services.mesh.event_ids import new_metadata
from services.mesh.grpc_server import start_grpc_server
from services.mesh.publisher import EventPublisher
from services.mesh.streams import ConsumerSpec
from tests.support import unique, wait_until

JS = tuple[Client, JetStreamContext]


def registered(batch_id: str) -> events_pb2.BatchEssaysRegistered:
    return events_pb2.BatchEssaysRegistered(
        metadata=new_metadata("test", correlation_id=batch_id),
        batch_id=batch_id,
        essay_ids=["e1"],
        expected_essay_count=1,
    )


def metric(name: str, durable: str) -> float:
    return REGISTRY.get_sample_value(name, {"consumer": durable}) or 0.0


async def test_a_deleted_durable_is_created_again_and_its_messages_are_handled(
    nats_js: JS,
) -> None:
    _, js = nats_js
    subject = f"huleedu.test.{unique('gone').replace('-', '_')}.v1"
    spec = ConsumerSpec(durable=unique("gone").replace("-", "_"), filter_subjects=[subject])
    handled: list[str] = []

    async def handler(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        handled.append(event.batch_id)

    consumer = EventConsumer(
        js,
        spec,
        {events_pb2.BatchEssaysRegistered: handler},
        service="test",
        reprovision_after_s=0.5,
    )
    await consumer.start()
    publisher = EventPublisher(js, "test")
    try:
        await publisher.publish(registered("before"), subject=subject)
        await wait_until(lambda: "before" in handled, message="the first message handled")
        failures_before = metric("huleedu_consumer_fetch_failures_total", spec.durable)

        await js.delete_consumer(spec.stream, spec.durable)
        await publisher.publish(registered("while-gone"), subject=subject)

        await wait_until(
            lambda: "while-gone" in handled,
            timeout_s=30,
            message="the durable re-created and the message published meanwhile handled",
        )
        info = await js.consumer_info(spec.stream, spec.durable)
        assert info.config.filter_subjects == [subject] or info.config.filter_subject == subject
        assert metric("huleedu_consumer_fetch_failures_total", spec.durable) > failures_before
        assert not consumer.stalled
    finally:
        await consumer.stop()
    # Re-created with deliver-all, the durable sees "before" again: handlers are idempotent.
    assert set(handled) == {"before", "while-gone"}


async def health_of(channel: grpc.aio.Channel) -> int:
    reply = await health_pb2_grpc.HealthStub(channel).Check(
        health_pb2.HealthCheckRequest(service=""), timeout=5
    )
    return int(reply.status)


async def test_health_is_not_serving_while_the_consumer_cannot_fetch_and_serving_after(
    nats_js: JS,
) -> None:
    _, js = nats_js
    stream = unique("STALL").replace("-", "_").upper()
    subject = f"stall.{stream.lower()}.v1"
    config = StreamConfig(name=stream, subjects=[f"stall.{stream.lower()}.>"])
    await js.add_stream(config)
    spec = ConsumerSpec(durable="stall", filter_subjects=[subject], stream=stream)
    handled = asyncio.Event()

    async def handler(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        handled.set()

    consumer = EventConsumer(
        js,
        spec,
        {events_pb2.BatchEssaysRegistered: handler},
        service="test",
        stall_after_s=1.0,
        reprovision_after_s=0.5,
    )
    await consumer.start()
    server = await start_grpc_server("127.0.0.1:0", lambda s: None, [])
    server.follow([consumer])
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            assert await health_of(channel) == health_pb2.HealthCheckResponse.SERVING

            # Without its stream the consumer cannot be fetched from or created again.
            await js.delete_stream(stream)
            await wait_until(
                lambda: _is(channel, health_pb2.HealthCheckResponse.NOT_SERVING),
                timeout_s=30,
                message="NOT_SERVING while the consumer is stalled",
            )
            assert consumer.stalled
            assert metric("huleedu_consumer_stalled", "stall") == 1.0

            await js.add_stream(config)
            await wait_until(
                lambda: _is(channel, health_pb2.HealthCheckResponse.SERVING),
                timeout_s=30,
                message="SERVING once the stream is back and the durable re-created",
            )
            assert not consumer.stalled
            assert metric("huleedu_consumer_stalled", "stall") == 0.0
            await EventPublisher(js, "test").publish(registered("after"), subject=subject)
            await asyncio.wait_for(handled.wait(), timeout=20)
    finally:
        await server.stop(grace_s=1.0)
        await consumer.stop()
        with contextlib.suppress(NotFoundError):
            await js.delete_stream(stream)


async def _is(channel: grpc.aio.Channel, status: int) -> bool:
    return await health_of(channel) == status
