"""Atomic batches against a real nats-server: stored all or nothing, refused batches stored one
by one with each message's own outcome, and the event publisher storing what one turn of the
event loop publishes as one batch."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import APIError, BucketNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from services.mesh.atomic_batch import (
    MIN_MESSAGES,
    Outgoing,
    kv_entry,
    publish_batch,
    store_together,
)
from services.mesh.publisher import EventPublisher
from services.mesh.settings import NatsSettings
from services.mesh.streams import EVENTS_STREAM, ensure_kv, ensure_object_store
from tests.integration.mesh.test_publish_consume import count_on, fresh_subject, registered
from tests.support import unique

JS = tuple[Client, JetStreamContext]


@pytest.fixture
async def atomic_bucket(nats_js: JS, nats_settings: NatsSettings) -> tuple[str, KeyValue]:
    """A fresh KV bucket (name, bucket) that takes atomic batches."""
    name = unique("atomic").replace("-", "_")
    return name, await ensure_kv(nats_js[1], name, nats_settings)


async def last_seq(js: JetStreamContext) -> int:
    return int((await js.stream_info(EVENTS_STREAM)).state.last_seq)


async def test_a_batch_is_stored_in_order_with_one_commit(nats_js: JS) -> None:
    client, js = nats_js
    subject = fresh_subject()
    before = await last_seq(js)

    ack = await publish_batch(client, [Outgoing(subject, str(n).encode()) for n in range(10)])

    assert (ack.stream, ack.first_seq, ack.count) == (EVENTS_STREAM, before + 1, 10)
    stored = [await js.get_msg(EVENTS_STREAM, seq) for seq in range(before + 1, before + 11)]
    assert [m.data for m in stored] == [str(n).encode() for n in range(10)]


async def test_a_refused_batch_stores_nothing(
    nats_js: JS, atomic_bucket: tuple[str, KeyValue]
) -> None:
    client, _ = nats_js
    bucket, kv = atomic_bucket
    await kv.create("k3", b"first")
    creates = [kv_entry(bucket, f"k{n}", b"new", create=True) for n in range(10)]

    with pytest.raises(APIError):
        await publish_batch(client, creates)

    assert (await kv.get("k3")).value == b"first"
    assert await kv.keys() == ["k3"]


async def test_refused_units_are_stored_one_by_one_each_with_its_outcome(
    nats_js: JS, atomic_bucket: tuple[str, KeyValue]
) -> None:
    client, _ = nats_js
    bucket, kv = atomic_bucket
    await kv.create("k3", b"first")
    keys = [f"k{n}" for n in range(10)]

    outcomes = await store_together(
        client,
        [[kv_entry(bucket, key, b"new", create=True)] for key in keys],
        alone=lambda index: kv.create(keys[index], b"alone"),
        together=lambda where, _index: where.seq,
    )

    assert isinstance(outcomes[3], KeyWrongLastSequenceError)
    assert all(isinstance(o, int) for n, o in enumerate(outcomes) if n != 3)
    assert (await kv.get("k3")).value == b"first"
    assert {(await kv.get(key)).value for key in keys if key != "k3"} == {b"alone"}


async def test_enough_units_go_together_and_few_go_alone(
    nats_js: JS, atomic_bucket: tuple[str, KeyValue]
) -> None:
    client, _ = nats_js
    bucket, kv = atomic_bucket
    alone: list[int] = []

    async def one(index: int) -> str:
        alone.append(index)
        await kv.create(f"few{index}", b"v")
        return "alone"

    few = await store_together(
        client,
        [[kv_entry(bucket, f"few{n}", b"v", create=True)] for n in range(MIN_MESSAGES - 1)],
        alone=one,
        together=lambda _where, _index: "together",
    )
    # Units of two messages (chunk and meta): half as many units make a batch.
    pairs = await store_together(
        client,
        [
            [Outgoing(f"$KV.{bucket}.a{n}", b"a"), Outgoing(f"$KV.{bucket}.b{n}", b"b")]
            for n in range(MIN_MESSAGES // 2)
        ],
        alone=one,
        together=lambda where, _index: where.seq,
    )

    assert few == ["alone"] * (MIN_MESSAGES - 1)
    assert sorted(alone) == list(range(MIN_MESSAGES - 1))
    assert all(isinstance(seq, int) for seq in pairs)
    # Each unit's result names where its last message went: the b of each pair.
    entries = [await kv.get(f"b{n}") for n in range(MIN_MESSAGES // 2)]
    assert [e.revision for e in entries] == pairs


async def test_events_published_in_one_turn_are_stored_as_one_batch(nats_js: JS) -> None:
    _, js = nats_js
    subject = fresh_subject()
    publisher = EventPublisher(js, "test")
    events = [registered(unique("b")) for _ in range(12)]

    results = await asyncio.gather(*(publisher.publish(e, subject=subject) for e in events))

    seqs = [r.seq for r in results]
    assert seqs == list(range(seqs[0], seqs[0] + 12))  # consecutive: one commit
    assert not any(r.duplicate for r in results)
    assert await count_on(js, EVENTS_STREAM, subject) == 12


async def test_republished_events_are_dropped_as_duplicates_one_by_one(nats_js: JS) -> None:
    """A redelivered handler publishes the same event ids again: the batch is refused as a
    whole, and each event, published alone, is dropped as the duplicate it is."""
    _, js = nats_js
    subject = fresh_subject()
    publisher = EventPublisher(js, "test")
    events = [registered(unique("b")) for _ in range(10)]
    first = await asyncio.gather(*(publisher.publish(e, subject=subject) for e in events))
    extra = registered(unique("b"))

    again = await asyncio.gather(*(publisher.publish(e, subject=subject) for e in [*events, extra]))

    assert [r.duplicate for r in again] == [True] * 10 + [False]
    assert [r.seq for r in again[:10]] == [r.seq for r in first]
    assert await count_on(js, EVENTS_STREAM, subject) == 11


async def test_one_publish_that_fails_fails_only_its_caller(nats_js: JS) -> None:
    _, js = nats_js
    publisher = EventPublisher(js, "test")
    subject = fresh_subject()
    events = [registered(unique("b")) for _ in range(9)]

    outcomes = await asyncio.gather(
        *(publisher.publish(e, subject=subject) for e in events),
        publisher.publish(registered(unique("b")), subject="nowhere.no.stream"),
        return_exceptions=True,
    )

    assert all(not isinstance(o, BaseException) for o in outcomes[:9])
    assert isinstance(outcomes[9], Exception)
    assert await count_on(js, EVENTS_STREAM, subject) == 9


class LookupTooEarly:
    """A JetStream context whose first bucket lookup misses: another instance created the bucket
    just after this one looked."""

    def __init__(self, js: JetStreamContext) -> None:
        self._js = js
        self._looked = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._js, name)

    def _miss_once(self) -> None:
        if not self._looked:
            self._looked = True
            raise BucketNotFoundError

    async def key_value(self, bucket: str) -> KeyValue:
        self._miss_once()
        return await self._js.key_value(bucket)

    async def object_store(self, bucket: str) -> ObjectStore:
        self._miss_once()
        return await self._js.object_store(bucket)


async def test_an_instance_that_looked_too_early_binds_the_bucket_another_created(
    nats_js: JS, nats_settings: NatsSettings
) -> None:
    """The first instance created the bucket and let it take atomic batches, so its configuration
    is no longer nats-py's: the second instance's create is refused, and it binds instead."""
    _, js = nats_js
    kv_bucket = unique("late").replace("-", "_")
    object_bucket = unique("late").replace("-", "_")
    await ensure_kv(js, kv_bucket, nats_settings)
    await ensure_object_store(js, object_bucket, nats_settings)

    kv = await ensure_kv(cast(JetStreamContext, LookupTooEarly(js)), kv_bucket, nats_settings)
    store = await ensure_object_store(
        cast(JetStreamContext, LookupTooEarly(js)), object_bucket, nats_settings
    )

    await kv.put("k", b"v")
    await store.put("o", b"bytes")
    assert (await js.stream_info(f"KV_{kv_bucket}")).config.allow_atomic
    assert (await js.stream_info(f"OBJ_{object_bucket}")).config.allow_atomic
