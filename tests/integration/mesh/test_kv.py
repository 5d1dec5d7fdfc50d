"""Compare-and-set updates of one KV document from two connections."""

from __future__ import annotations

import asyncio

from huleedu.batch.v1 import batch_service_pb2
from services.mesh.connection import connect_nats
from services.mesh.kv import read_document, update_document
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_kv
from tests.support import unique


async def test_concurrent_updates_from_two_connections_all_land(
    nats_settings: NatsSettings,
) -> None:
    bucket = unique("cas").replace("-", "_")
    connections = [await connect_nats(nats_settings, f"cas-{n}") for n in range(2)]
    try:
        stores = [await ensure_kv(js, bucket, nats_settings) for _, js in connections]
        key = "batch-1"

        async def add_essay(n: int) -> None:
            def mutate(doc: batch_service_pb2.Batch | None) -> batch_service_pb2.Batch:
                batch = doc or batch_service_pb2.Batch(batch_id=key)
                batch.essay_ids.append(f"essay-{n}")
                return batch

            await update_document(stores[n % 2], key, batch_service_pb2.Batch, mutate)

        await asyncio.gather(*(add_essay(n) for n in range(50)))
        stored = await read_document(stores[0], key, batch_service_pb2.Batch)
    finally:
        for client, _ in connections:
            await client.drain()
    assert stored is not None
    doc, revision = stored
    assert sorted(doc.essay_ids) == sorted(f"essay-{n}" for n in range(50))
    assert revision >= 50


async def test_mutate_returning_none_writes_nothing(nats_settings: NatsSettings) -> None:
    client, js = await connect_nats(nats_settings, "cas-none")
    try:
        kv = await ensure_kv(js, unique("cas").replace("-", "_"), nats_settings)
        created = await update_document(
            kv, "k", batch_service_pb2.Batch, lambda doc: batch_service_pb2.Batch(batch_id="k")
        )
        unchanged = await update_document(kv, "k", batch_service_pb2.Batch, lambda doc: None)
    finally:
        await client.drain()
    assert created.changed
    assert not unchanged.changed
    assert unchanged.revision == created.revision
    assert unchanged.doc == batch_service_pb2.Batch(batch_id="k")


async def test_a_document_stored_as_an_empty_value_reads_back_and_takes_updates(
    nats_settings: NatsSettings,
) -> None:
    client, js = await connect_nats(nats_settings, "cas-empty")
    try:
        kv = await ensure_kv(js, unique("cas").replace("-", "_"), nats_settings)
        empty = await update_document(
            kv, "k", batch_service_pb2.Batch, lambda doc: batch_service_pb2.Batch()
        )
        assert empty.changed
        assert await read_document(kv, "k", batch_service_pb2.Batch) == (
            batch_service_pb2.Batch(),
            empty.revision,
        )

        def name(doc: batch_service_pb2.Batch | None) -> batch_service_pb2.Batch:
            assert doc is not None, "the empty document reads as absent"
            return batch_service_pb2.Batch(batch_id="k")

        named = await update_document(kv, "k", batch_service_pb2.Batch, name)
    finally:
        await client.drain()
    assert named.changed and named.revision == empty.revision + 1
