"""The nats-py internals the mesh reaches (services.mesh.nats_internals), checked against the
installed nats-py with a real server: an upgrade that moves one fails here, by name."""

from __future__ import annotations

import pytest
from nats.aio.client import Client
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.errors import KeyWrongLastSequenceError

from services.mesh.nats_internals import (
    bucket_context,
    connection_of,
    subscription_of,
    update_with_ttl,
    watch_consumer_name,
    watch_subscription,
    withdraw_interest,
)
from services.mesh.settings import NatsSettings
from services.mesh.streams import EVENTS_STREAM, ConsumerSpec, ensure_consumer, ensure_kv
from tests.integration.mesh.test_publish_consume import fresh_subject
from tests.support import unique

JS = tuple[Client, JetStreamContext]


async def test_the_connection_under_a_jetstream_context(nats_js: JS) -> None:
    client, js = nats_js
    assert connection_of(js) is client


async def test_the_subscription_under_a_pull_subscription(nats_js: JS) -> None:
    _, js = nats_js
    durable = unique("internals").replace("-", "_")
    await ensure_consumer(js, ConsumerSpec(durable, [fresh_subject()]))
    pull = await js.pull_subscribe_bind(durable=durable, stream=EVENTS_STREAM)
    try:
        subscription = subscription_of(pull)
        assert isinstance(subscription, Subscription)
        assert subscription.pending_msgs == pull.pending_msgs == 0
    finally:
        await pull.unsubscribe()


async def test_a_subscription_without_interest_keeps_what_came_before(nats_js: JS) -> None:
    client, _ = nats_js
    subject = unique("internals.withdrawn")
    subscription = await client.subscribe(subject)
    try:
        await client.publish(subject, b"before")
        await withdraw_interest(subscription)
        await client.publish(subject, b"after")
        await client.flush()
        assert (await subscription.next_msg(timeout=5)).data == b"before"
        assert subscription.pending_msgs == 0  # `after` found no interest
    finally:
        await subscription.unsubscribe()


async def test_a_watch_names_its_subscription_and_consumer(
    nats_js: JS, nats_settings: NatsSettings
) -> None:
    _, js = nats_js
    bucket = unique("internals").replace("-", "_")
    kv = await ensure_kv(js, bucket, nats_settings)
    await kv.put("k", b"v")
    watcher = await kv.watchall()
    try:
        subscription = watch_subscription(watcher)
        name = watch_consumer_name(watcher)
        assert subscription is not None
        info = await subscription.consumer_info()
        assert name is not None and info.name == name
        assert info.stream_name == f"KV_{bucket}"
    finally:
        await watcher.stop()  # type: ignore[no-untyped-call]


async def test_a_bucket_names_its_context_and_stream(
    nats_js: JS, nats_settings: NatsSettings
) -> None:
    _, js = nats_js
    bucket = unique("internals").replace("-", "_")
    kv = await ensure_kv(js, bucket, nats_settings)
    context, stream = bucket_context(kv)
    assert stream == f"KV_{bucket}"
    assert (await context.stream_info(stream)).config.name == stream
    assert connection_of(context) is nats_js[0]


async def test_an_update_with_a_ttl_writes_it_and_keeps_compare_and_set(
    nats_js: JS, nats_settings: NatsSettings
) -> None:
    _, js = nats_js
    bucket = unique("ttl").replace("-", "_")
    kv = await ensure_kv(js, bucket, nats_settings, message_ttls=True)
    first = await kv.create("doc", b"one")
    second = await update_with_ttl(kv, "doc", b"two", last=first, msg_ttl=60)
    stored = await js.get_last_msg(f"KV_{bucket}", f"$KV.{bucket}.doc")
    assert stored.seq == second and stored.data == b"two"
    assert (stored.headers or {}).get("Nats-TTL") == "60"
    with pytest.raises(KeyWrongLastSequenceError):
        await update_with_ttl(kv, "doc", b"three", last=first, msg_ttl=60)
