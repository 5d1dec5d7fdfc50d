"""The mesh's KV compare-and-set on a bucket replicated over three nodes: writers that create the
same key at once all get their change in (a create that loses the race on an R3 bucket surfaces
from nats-py as KeyNotFoundError, not KeyWrongLastSequenceError)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from google.protobuf import struct_pb2
from nats.aio.client import Client

from devstack.cluster_layout import NodeAddresses
from devstack.nats_cluster import stream_replicas
from services.mesh.kv import read_document, update_document
from services.mesh.streams import ensure_kv
from tests.conftest import settings_for
from tests.support import three_nats_nodes, unique

WRITERS = 6
# Three more nats-server processes and racing R3 elections: part of `make test-cluster`, not of the
# quick suite, where a loaded 2-core machine makes its timing flaky.
pytestmark = [pytest.mark.cluster, pytest.mark.slow]


@pytest.fixture(scope="module")
def nats_nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[NodeAddresses]]:
    """Three bare nats-server nodes with routes (no services)."""
    with three_nats_nodes(Path(tmp_path_factory.mktemp("nats-cluster"))) as nodes:
        yield [node.addresses for node in nodes]


@pytest.fixture
async def clients(nats_nodes: list[NodeAddresses]) -> AsyncIterator[list[Client]]:
    """One connection per node."""
    connected = [await nats.connect(servers=[node.client_url]) for node in nats_nodes]
    yield connected
    await asyncio.gather(*(client.close() for client in connected))


async def test_concurrent_creates_of_one_key_on_an_r3_bucket_all_land(
    nats_nodes: list[NodeAddresses], clients: list[Client]
) -> None:
    settings = settings_for(*(node.client_url for node in nats_nodes), replicas=3)
    bucket = unique("r3").replace("-", "_")
    buckets = [await ensure_kv(client.jetstream(), bucket, settings) for client in clients]
    keys = [f"doc{n}" for n in range(10)]

    async def append(writer: int, key: str) -> None:
        def add(doc: struct_pb2.ListValue | None) -> struct_pb2.ListValue:
            doc = doc if doc is not None else struct_pb2.ListValue()
            doc.values.add().string_value = f"w{writer}"
            return doc

        await update_document(buckets[writer % 3], key, struct_pb2.ListValue, add)

    for key in keys:  # every writer creates the key at the same moment
        await asyncio.gather(*(append(writer, key) for writer in range(WRITERS)))

    for key in keys:
        found = await read_document(buckets[0], key, struct_pb2.ListValue)
        assert found is not None
        assert sorted(v.string_value for v in found[0].values) == [
            f"w{writer}" for writer in range(WRITERS)
        ]
    streams = await stream_replicas(clients[0].jetstream())
    [info] = [stream for stream in streams if stream.stream == f"KV_{bucket}"]
    assert info.replicas == 3 and info.leader
