"""The consumer runner when a handler's dependency does not answer, on a real nats-server: the
message is kept and handled again without counting a delivery, the service answers NOT_SERVING
while a message waits, a dependency failure counts only once the horizon is spent, and stop()
hands a waiting message back at once."""

from __future__ import annotations

import asyncio
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2

from huleedu.events.v1 import events_pb2
from services.mesh import consumer as consumer_module
from services.mesh.consumer import Delivery, EventConsumer, Handler
from services.mesh.grpc_server import start_grpc_server
from services.mesh.outage import DependencyUnavailable
from services.mesh.publisher import EventPublisher
from services.mesh.streams import ConsumerSpec
from tests.integration.mesh.test_consumer_recovery import JS, health_of
from tests.integration.mesh.test_publish_consume import dlq_messages, fresh_subject, registered
from tests.support import unique, wait_until


def spec_for(subject: str, max_deliver: int) -> ConsumerSpec:
    durable = unique("waits").replace("-", "_")
    return ConsumerSpec(durable, [subject], max_deliver=max_deliver, ack_wait_s=5.0)


def consumer_for(js: JS, spec: ConsumerSpec, handler: Handler, horizon_s: float) -> EventConsumer:
    return EventConsumer(
        js[1],
        spec,
        {events_pb2.BatchEssaysRegistered: handler},
        service="test",
        dependency_horizon_s=horizon_s,
    )


async def test_a_message_outlives_more_dependency_failures_than_it_has_deliveries(
    nats_js: JS,
) -> None:
    subject = fresh_subject()
    seen: list[int] = []
    handled = asyncio.Event()

    async def handler(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        seen.append(delivery.num_delivered)
        if len(seen) <= 5:
            raise DependencyUnavailable("content service: UNAVAILABLE")
        handled.set()

    spec = spec_for(subject, max_deliver=2)
    consumer = consumer_for(nats_js, spec, handler, horizon_s=300.0)
    await consumer.start()
    try:
        await EventPublisher(nats_js[1], "test").publish(registered("waits"), subject=subject)
        await asyncio.wait_for(handled.wait(), timeout=60)
        info = await nats_js[1].consumer_info(spec.stream, spec.durable)
        await wait_until(lambda: consumer.dependency_wait_s == 0.0, message="no wait left")
    finally:
        await consumer.stop()
    assert seen == [1] * 6  # six runs of the handler, one delivery
    assert info.num_redelivered == 0
    assert await dlq_messages(nats_js[1], subject) == []


async def test_health_is_not_serving_while_a_message_waits_and_serving_after(
    nats_js: JS, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(consumer_module, "DEPENDENCY_WAIT_NOT_SERVING_S", 0.5)
    subject = fresh_subject()
    dependency_back = asyncio.Event()
    handled = asyncio.Event()

    async def handler(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        if not dependency_back.is_set():
            raise DependencyUnavailable("nats: timeout")
        handled.set()

    consumer = consumer_for(nats_js, spec_for(subject, max_deliver=2), handler, horizon_s=300.0)
    await consumer.start()
    server = await start_grpc_server("127.0.0.1:0", lambda s: None, [])
    server.follow([consumer])
    serving = health_pb2.HealthCheckResponse.SERVING
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            await EventPublisher(nats_js[1], "test").publish(registered("h"), subject=subject)
            await wait_until(
                lambda: _health_is(channel, health_pb2.HealthCheckResponse.NOT_SERVING),
                timeout_s=30,
                message="NOT_SERVING while the message waits for its dependency",
            )
            dependency_back.set()
            await asyncio.wait_for(handled.wait(), timeout=30)
            await wait_until(
                lambda: _health_is(channel, serving), timeout_s=30, message="SERVING again"
            )
    finally:
        await server.stop(grace_s=1.0)
        await consumer.stop()


async def _health_is(channel: grpc.aio.Channel, status: int) -> bool:
    return await health_of(channel) == status


async def test_past_the_horizon_a_dependency_failure_counts_a_delivery(nats_js: JS) -> None:
    subject = fresh_subject()
    runs: list[tuple[int, bool]] = []

    async def handler(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        runs.append((delivery.num_delivered, delivery.gives_up_on_dependencies))
        raise DependencyUnavailable("content service: UNAVAILABLE")

    consumer = consumer_for(nats_js, spec_for(subject, max_deliver=2), handler, horizon_s=0.5)
    await consumer.start()
    try:
        await EventPublisher(nats_js[1], "test").publish(registered("gone"), subject=subject)
        dead = await wait_until(
            lambda: dlq_messages(nats_js[1], subject), timeout_s=60, message="DLQ entry"
        )
    finally:
        await consumer.stop()
    # Each delivery waits out the horizon; only its last run, on the last delivery, gives up.
    assert {delivery for delivery, _ in runs} == {1, 2}
    assert runs[-1] == (2, True)
    assert [give_up for _, give_up in runs].count(True) == 1
    assert "dependency unavailable past the horizon" in dead[0]["Huleedu-Dlq-Reason"]


async def test_stop_hands_a_waiting_message_back_at_once(nats_js: JS) -> None:
    subject = fresh_subject()
    waiting = asyncio.Event()

    async def unavailable(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        waiting.set()
        raise DependencyUnavailable("nats: timeout")

    spec = spec_for(subject, max_deliver=5)
    first = consumer_for(nats_js, spec, unavailable, horizon_s=300.0)
    await first.start()
    await EventPublisher(nats_js[1], "test").publish(registered("handed-back"), subject=subject)
    await asyncio.wait_for(waiting.wait(), timeout=30)
    began = time.monotonic()
    await first.stop()
    stop_s = time.monotonic() - began

    handled: list[int] = []

    async def working(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        handled.append(delivery.num_delivered)

    second = consumer_for(nats_js, spec, working, horizon_s=300.0)
    await second.start()
    try:
        await wait_until(lambda: handled, timeout_s=30, message="handled after the hand-back")
    finally:
        await second.stop()
    assert stop_s < 30.0  # not the 300 s horizon (a bound, not a timing assertion)
    assert len(handled) == 1 and handled[0] >= 2  # redelivered, once
