"""The publisher and the consumer runner against a real nats-server."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
from typing import Any

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.events.v1 import events_pb2
from services.mesh.consumer import (
    Delivery,
    EventConsumer,
    Handler,
    PermanentError,
    TransientError,
)
from services.mesh.event_ids import derived_event_id, new_metadata
from services.mesh.nats_internals import subscription_of
from services.mesh.publisher import HEADER_MSG_ID, HEADER_TYPE, EventPublisher
from services.mesh.streams import DLQ_STREAM, EVENTS_STREAM, ConsumerSpec
from tests.support import unique, wait_until

JS = tuple[Client, JetStreamContext]


def registered(batch_id: str, *, event_id: str | None = None) -> events_pb2.BatchEssaysRegistered:
    return events_pb2.BatchEssaysRegistered(
        metadata=new_metadata("test", correlation_id=batch_id, event_id=event_id),
        batch_id=batch_id,
        essay_ids=["e1"],
        expected_essay_count=1,
    )


def fresh_subject() -> str:
    return f"huleedu.test.{unique('s').replace('-', '_')}.v1"


async def count_on(js: JetStreamContext, stream: str, subject: str) -> int:
    info = await js.stream_info(stream, subjects_filter=subject)
    return int((info.state.subjects or {}).get(subject, 0))


async def dlq_messages(js: JetStreamContext, subject: str) -> list[dict[str, str]]:
    dlq_subject = f"dlq.{subject}"
    if await count_on(js, DLQ_STREAM, dlq_subject) == 0:
        return []
    found = []
    sub = await js.subscribe(dlq_subject, ordered_consumer=True)
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=0.5)
            except TimeoutError:
                break
            found.append(dict(msg.headers or {}))
    finally:
        await sub.unsubscribe()
    return found


async def test_same_event_id_is_stored_once_and_reported_duplicate(nats_js: JS) -> None:
    _, js = nats_js
    subject = fresh_subject()
    publisher = EventPublisher(js, "test")
    event = registered(unique("batch"), event_id=derived_event_id(subject, "registered"))

    first = await publisher.publish(event, subject=subject)
    second = await publisher.publish(event, subject=subject)

    assert not first.duplicate
    assert second.duplicate
    assert second.seq == first.seq
    assert await count_on(js, EVENTS_STREAM, subject) == 1


async def test_headers_carry_id_type_and_correlation(nats_js: JS) -> None:
    _, js = nats_js
    subject = fresh_subject()
    event = registered("b-headers")
    await EventPublisher(js, "test").publish(event, subject=subject)
    stored = await js.get_last_msg(EVENTS_STREAM, subject)
    assert stored.headers is not None
    assert stored.headers[HEADER_MSG_ID] == event.metadata.event_id
    assert stored.headers[HEADER_TYPE] == "huleedu.events.v1.BatchEssaysRegistered"
    assert stored.headers["Huleedu-Correlation-Id"] == "b-headers"


async def run_consumer(
    js: JetStreamContext, subject: str, handler: Handler, **spec_args: Any
) -> EventConsumer:
    spec = ConsumerSpec(
        durable=unique("durable").replace("-", "_"), filter_subjects=[subject], **spec_args
    )
    consumer = EventConsumer(
        js, spec, {events_pb2.BatchEssaysRegistered: handler}, service="test", concurrency=4
    )
    await consumer.start()
    return consumer


async def test_transient_error_is_redelivered_after_its_delay_then_succeeds(nats_js: JS) -> None:
    _, js = nats_js
    subject = fresh_subject()
    attempts: list[tuple[int, float]] = []
    handled = asyncio.Event()

    async def flaky(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        attempts.append((delivery.num_delivered, asyncio.get_running_loop().time()))
        if delivery.num_delivered < 3:
            raise TransientError("content service unavailable", delay_s=0.4)
        handled.set()

    consumer = await run_consumer(js, subject, flaky, max_deliver=5)
    try:
        await EventPublisher(js, "test").publish(registered("b-flaky"), subject=subject)
        await asyncio.wait_for(handled.wait(), timeout=20)
    finally:
        await consumer.stop()
    assert [n for n, _ in attempts] == [1, 2, 3]
    gaps = [b - a for (_, a), (_, b) in itertools.pairwise(attempts)]
    assert all(gap >= 0.3 for gap in gaps), gaps
    assert await dlq_messages(js, subject) == []


async def test_always_failing_message_ends_in_dlq_and_the_next_is_served(nats_js: JS) -> None:
    _, js = nats_js
    subject = fresh_subject()
    served: list[str] = []

    async def picky(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        if event.batch_id == "poison":
            raise TransientError("always fails", delay_s=0.1)
        served.append(event.batch_id)

    consumer = await run_consumer(js, subject, picky, max_deliver=3)
    publisher = EventPublisher(js, "test")
    try:
        await publisher.publish(registered("poison"), subject=subject)
        await publisher.publish(registered("good"), subject=subject)
        dead = await wait_until(lambda: dlq_messages(js, subject), message="poison in DLQ")
        await wait_until(lambda: served == ["good"], message="the next message served")
    finally:
        await consumer.stop()
    assert len(dead) == 1
    assert "gave up after 3 deliveries" in dead[0]["Huleedu-Dlq-Reason"]
    assert "always fails" in dead[0]["Huleedu-Dlq-Reason"]
    assert dead[0]["Huleedu-Dlq-Original-Subject"] == subject
    assert dead[0][HEADER_TYPE] == "huleedu.events.v1.BatchEssaysRegistered"


async def test_permanent_error_goes_to_dlq_at_once(nats_js: JS) -> None:
    _, js = nats_js
    subject = fresh_subject()
    calls = 0

    async def refuse(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        nonlocal calls
        calls += 1
        raise PermanentError("batch does not exist")

    consumer = await run_consumer(js, subject, refuse, max_deliver=5)
    try:
        await EventPublisher(js, "test").publish(registered("b-perm"), subject=subject)
        dead = await wait_until(lambda: dlq_messages(js, subject), message="DLQ entry")
    finally:
        await consumer.stop()
    assert calls == 1
    assert "batch does not exist" in dead[0]["Huleedu-Dlq-Reason"]


async def test_garbage_and_unknown_types_go_to_dlq_at_once(nats_js: JS) -> None:
    _, js = nats_js
    subject = fresh_subject()
    served: list[str] = []

    async def record(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        served.append(event.batch_id)

    consumer = await run_consumer(js, subject, record, max_deliver=5)
    type_header = {HEADER_TYPE: "huleedu.events.v1.BatchEssaysRegistered"}
    try:
        await js.publish(subject, os.urandom(64) + b"\xff\xff", headers=type_header)
        await js.publish(subject, b"\x0a\x02hi", headers={HEADER_TYPE: "huleedu.events.v1.Nope"})
        await js.publish(subject, b"no type header at all")
        no_metadata = events_pb2.BatchEssaysRegistered(batch_id="b-nometa")
        await js.publish(subject, no_metadata.SerializeToString(), headers=type_header)
        await EventPublisher(js, "test").publish(registered("after-garbage"), subject=subject)
        dead = await wait_until(lambda: dlq_at_least(js, subject, 4), message="4 DLQ entries")
        await wait_until(lambda: served == ["after-garbage"], message="good message served")
    finally:
        await consumer.stop()
    reasons = sorted(headers["Huleedu-Dlq-Reason"] for headers in dead)
    assert any(r.startswith("cannot decode") for r in reasons), reasons
    assert any("no handler for Huleedu-Type 'huleedu.events.v1.Nope'" in r for r in reasons)
    assert any("no handler for Huleedu-Type ''" in r for r in reasons)
    assert any("has no metadata.event_id" in r for r in reasons)
    assert all(h["Huleedu-Dlq-Deliveries"] == "1" for h in dead)


async def dlq_at_least(js: JetStreamContext, subject: str, n: int) -> list[dict[str, str]]:
    found = await dlq_messages(js, subject)
    return found if len(found) >= n else []


async def test_message_that_ran_out_of_deliveries_unanswered_goes_to_dlq(nats_js: JS) -> None:
    """A message whose handlers died without answering is moved by the max-deliveries advisory."""
    _, js = nats_js
    subject = fresh_subject()
    durable = unique("durable").replace("-", "_")
    spec = ConsumerSpec(durable=durable, filter_subjects=[subject], max_deliver=2, ack_wait_s=1.0)

    async def never_called(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        raise AssertionError("a message past max_deliver must not be handed out again")

    consumer = EventConsumer(
        js, spec, {events_pb2.BatchEssaysRegistered: never_called}, service="test"
    )
    await consumer.start()
    await consumer.stop()
    crashed = await js.pull_subscribe_bind(durable=durable, stream=EVENTS_STREAM)
    await EventPublisher(js, "test").publish(registered("b-crash"), subject=subject)
    for _ in range(2):  # two instances take it and die without answering
        (msg,) = await crashed.fetch(1, timeout=5)
        assert msg.metadata.num_delivered in (1, 2)
    await crashed.unsubscribe()
    survivor = EventConsumer(
        js, spec, {events_pb2.BatchEssaysRegistered: never_called}, service="test"
    )
    await survivor.start()
    try:
        dead = await wait_until(lambda: dlq_messages(js, subject), message="advisory DLQ copy")
    finally:
        await survivor.stop()
    assert "ran out of deliveries" in dead[0]["Huleedu-Dlq-Reason"]


async def test_stop_finishes_in_flight_work(nats_js: JS) -> None:
    _, js = nats_js
    subject = fresh_subject()
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[str] = []

    async def slow(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        started.set()
        await release.wait()
        finished.append(event.batch_id)

    consumer = await run_consumer(js, subject, slow)
    await EventPublisher(js, "test").publish(registered("b-slow"), subject=subject)
    await asyncio.wait_for(started.wait(), timeout=10)
    stopping = asyncio.create_task(consumer.stop())
    await asyncio.sleep(0)
    assert not stopping.done()
    release.set()
    await asyncio.wait_for(stopping, timeout=10)
    assert finished == ["b-slow"]
    info = await js.consumer_info(EVENTS_STREAM, consumer._spec.durable)
    assert info.num_ack_pending == 0


async def test_stop_hands_back_late_deliveries_and_leaves_no_pull_request_open(
    nats_js: JS, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A pull request can outlive the fetch that sent it (the server's expiry runs from when it
    got the request). What it delivers after the last fetch is naked at stop, and from the
    stop's first round trip to the server on, the instance's inbox takes nothing more: a message
    published then goes to the next instance at its first delivery, not after ack_wait."""
    nc, js = nats_js
    subject = fresh_subject()
    spec = ConsumerSpec(durable=unique("durable").replace("-", "_"), filter_subjects=[subject])
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        started.set()
        await release.wait()

    consumer = EventConsumer(
        js, spec, {events_pb2.BatchEssaysRegistered: slow}, service="test", concurrency=1
    )
    await consumer.start()
    publisher = EventPublisher(js, "test")
    await publisher.publish(registered("b-held"), subject=subject)
    await asyncio.wait_for(started.wait(), timeout=10)
    # the one slot is busy, so the consumer fetches nothing: a pull request of its own, still
    # open for 30 s, stands for one that outlived its fetch
    assert consumer._pull_sub is not None
    inbox = subscription_of(consumer._pull_sub).subject
    await nc.publish(
        f"$JS.API.CONSUMER.MSG.NEXT.{EVENTS_STREAM}.{spec.durable}",
        json.dumps({"batch": 2, "expires": 30_000_000_000}).encode(),
        reply=inbox,
    )
    await publisher.publish(registered("b-late"), subject=subject)
    await wait_until(
        lambda: consumer._pull_sub is not None and consumer._pull_sub.pending_msgs == 1,
        message="the late delivery waiting in the inbox",
    )
    flush = nc.flush

    async def publish_then_flush(*args: Any, **kwargs: Any) -> None:
        # a message published while the consumer stops, as its first round trip begins: when
        # the stop looked for late deliveries before it withdrew the inbox's interest, this one
        # reached the inbox in between, was dropped with it, and waited out ack_wait
        monkeypatch.setattr(nc, "flush", flush)
        await publisher.publish(registered("b-during"), subject=subject)
        await flush(*args, **kwargs)

    monkeypatch.setattr(nc, "flush", publish_then_flush)
    stopping = asyncio.create_task(consumer.stop())
    release.set()
    await asyncio.wait_for(stopping, timeout=10)
    await publisher.publish(registered("b-after"), subject=subject)

    seen: dict[str, int] = {}

    async def record(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        seen[event.batch_id] = delivery.num_delivered

    successor = EventConsumer(js, spec, {events_pb2.BatchEssaysRegistered: record}, service="test")
    await successor.start()
    try:
        await wait_until(lambda: len(seen) == 3, timeout_s=10, message="every message handled")
    finally:
        await successor.stop()
    assert seen == {"b-late": 2, "b-during": 1, "b-after": 1}


async def test_a_handler_slower_than_ack_wait_keeps_its_message(nats_js: JS) -> None:
    """While a handler works, the consumer tells JetStream so (in_progress, every third of
    ack_wait): a handler running longer than ack_wait is not redelivered meanwhile."""
    _, js = nats_js
    subject = fresh_subject()
    durable = unique("durable").replace("-", "_")
    spec = ConsumerSpec(durable=durable, filter_subjects=[subject], max_deliver=3, ack_wait_s=1.0)
    deliveries: list[int] = []

    async def slow(event: events_pb2.BatchEssaysRegistered, delivery: Delivery) -> None:
        deliveries.append(delivery.num_delivered)
        await asyncio.sleep(3.0)  # the work itself: three times ack_wait

    consumer = EventConsumer(js, spec, {events_pb2.BatchEssaysRegistered: slow}, service="test")
    await consumer.start()
    try:
        await EventPublisher(js, "test").publish(registered("b-long"), subject=subject)

        async def settled() -> bool:
            info = await js.consumer_info(EVENTS_STREAM, durable)
            return bool(deliveries) and info.num_ack_pending == 0

        await wait_until(settled, message="the slow message acknowledged")
        info = await js.consumer_info(EVENTS_STREAM, durable)
    finally:
        await consumer.stop()
    assert deliveries == [1]
    assert info.num_redelivered == 0
