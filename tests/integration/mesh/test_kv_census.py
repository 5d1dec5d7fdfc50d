"""The KV census on a real bucket: the watch carries key names only, a changed document is read
once per refresh however often it was rewritten, and deleted keys stop counting."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from nats.js.kv import KeyValue
from prometheus_client import CollectorRegistry, Gauge

from services.mesh.connection import connect_nats
from services.mesh.kv_census import KvCensus
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_kv
from tests.support import unique, wait_until

REGISTRY = CollectorRegistry()
GAUGE = Gauge("test_census_things", "test", ["state"], registry=REGISTRY)
NEVER_S = 3600.0  # no timed refresh: the test refreshes itself


def _states(_key: str, value: bytes) -> Counter[str]:
    return Counter(value.decode().split(",")[:3])


Bucket = tuple[KeyValue, KeyValue, Client]


@pytest.fixture
async def bucket(nats_settings: NatsSettings) -> AsyncIterator[Bucket]:
    """A fresh bucket, as the test writes it and as the census (on its own connection) reads it;
    and the census's connection, whose byte count says what the census received."""
    writer, writer_js = await connect_nats(nats_settings, "census-writer")
    watcher, watcher_js = await connect_nats(nats_settings, "census-watcher")
    name = unique("census").replace("-", "_")
    try:
        yield (
            await ensure_kv(writer_js, name, nats_settings),
            await ensure_kv(watcher_js, name, nats_settings),
            watcher,
        )
    finally:
        await writer.drain()
        await watcher.drain()


@contextlib.asynccontextmanager
async def following(census: KvCensus) -> AsyncIterator[None]:
    """The census following its bucket for the body of the `async with`."""
    task = asyncio.create_task(census.follow())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def test_a_census_reads_each_changed_key_once_and_drops_deleted_ones(
    bucket: Bucket,
) -> None:
    kv, census_kv, _ = bucket
    for revision in range(12):
        await kv.put("batch-1", b"A" if revision < 11 else b"B,B")
    await kv.put("batch-2", b"A")
    decoded: list[bytes] = []

    def classify(key: str, value: bytes) -> Counter[str]:
        decoded.append(value)
        return _states(key, value)

    census = KvCensus(
        census_kv,
        classify,
        GAUGE,
        ["A", "B"],
        refresh_s=NEVER_S,
    )
    async with following(census):
        await wait_until(lambda: census.totals() == {"A": 1, "B": 2}, message="first count")
        assert sorted(decoded) == [b"A", b"B,B"], "each key read once, at its last revision"
        assert REGISTRY.get_sample_value("test_census_things", {"state": "B"}) == 2

        await kv.delete("batch-2")
        await kv.put("batch-1", b"C")

        async def counted() -> bool:
            await census.refresh()
            return census.totals() == {"A": 0, "B": 0, "C": 1}

        await wait_until(counted, message="the delete and the change counted")


async def test_the_watch_carries_no_document(bucket: Bucket) -> None:
    kv, census_kv, watcher = bucket
    large = b"A," + b"x" * 200_000
    await kv.put("batch", b"B")
    census = KvCensus(
        census_kv,
        _states,
        GAUGE,
        ["A", "B"],
        refresh_s=NEVER_S,
    )
    async with following(census):
        await wait_until(lambda: census.totals()["B"] == 1, message="first count")
        received = watcher.stats["in_bytes"]
        for _ in range(20):
            await kv.put("batch", large)

        async def counted() -> bool:
            await census.refresh()
            return census.totals()["A"] == 1

        await wait_until(counted, message="the large document counted")
        # Twenty revisions of 200 KB went by; the census read the document a few times at
        # most (once per refresh that found it changed), never every revision.
        assert watcher.stats["in_bytes"] - received < 5 * len(large)
