"""Listing the `bos_batches` bucket on a real nats-server, many times over and many at once:
nats-py can queue its end-of-values marker ahead of values still in flight, and a listing that
trusted the marker came back short now and then (an empty ListBatches page); and every listing's
watch consumer must be deleted, or a busy BOS hits the stream's limit of 1,000 consumers."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.adapters.kv_batches import KvBatchRepository
from services.batch_orchestrator.domain.registration import (
    BatchRequest,
    RegistrationPolicy,
    new_batch,
    validate_registration,
)
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_kv
from tests.support import unique

JS = tuple[Client, JetStreamContext]
REGISTRATION = validate_registration(
    BatchRequest(expected_essay_count=1, course_code="ENG5", language="en"), RegistrationPolicy()
)
START = datetime(2026, 11, 28, tzinfo=UTC)
BATCHES = 6
ROUNDS = 100
AT_ONCE = 10


async def stored(repository: KvBatchRepository, now: datetime) -> BatchRecord:
    """A new one-essay batch, added to the repository."""
    batch = new_batch(
        REGISTRATION,
        batch_id=unique("batch"),
        essay_ids=[unique("essay")],
        correlation_id=unique("correlation"),
        now=now,
    )
    await repository.add(batch)
    return batch


async def test_every_listing_finds_every_batch_and_every_mark(
    nats_js: JS, nats_settings: NatsSettings
) -> None:
    _, js = nats_js
    bucket = unique("bos-listing")
    repository = KvBatchRepository(js, await ensure_kv(js, bucket, nats_settings), bucket)
    ids = [
        (await stored(repository, START + timedelta(seconds=n))).batch_id for n in range(BATCHES)
    ]
    await repository.mark_announced(ids[0])  # one mark purged: its subject has no message left

    for _ in range(ROUNDS):
        # Listings at once keep the event loop busy, as a BOS under load does: the window in
        # which the marker overtakes the values.
        pages = await asyncio.gather(
            *(
                repository.list_newest_first(tenant_id="", after="", limit=BATCHES)
                for _ in range(AT_ONCE)
            )
        )
        for page in pages:
            assert [batch.batch_id for batch in page.batches] == ids[::-1]
        marks = await asyncio.gather(*(repository.unannounced() for _ in range(AT_ONCE)))
        for marked in marks:
            assert sorted(mark.batch_id for mark in marked) == sorted(ids[1:])
    # Each listing deleted its watch's consumer: 2 × 10 × 100 of them would be over the
    # stream's limit of 1,000 consumers had they waited for the server to expire them.
    info = await js.stream_info(f"KV_{bucket}")
    assert info.state.consumer_count == 0


async def test_a_finished_watch_leaves_no_consumer_behind(
    nats_js: JS, nats_settings: NatsSettings
) -> None:
    _, js = nats_js
    bucket = unique("bos-watch")
    repository = KvBatchRepository(js, await ensure_kv(js, bucket, nats_settings), bucket)
    batch = await stored(repository, START)
    watch = await repository.watch(batch.batch_id)
    async for state in watch:
        assert state.batch_id == batch.batch_id
        break
    assert (await js.stream_info(f"KV_{bucket}")).state.consumer_count == 1
    await watch.stop()
    assert (await js.stream_info(f"KV_{bucket}")).state.consumer_count == 0
