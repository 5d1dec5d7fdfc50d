"""The Content Service on an R3 object stream with one replica paused (SIGSTOP, as a stalled
disk would) and then lagging. Direct gets go to any replica: the paused one answers none of its
share, and once it runs again it answers "not there" for objects it has not caught up with yet.
Neither may fail a put or a read."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from devstack.nats_cluster import NatsNode
from services.content_service.adapters.object_store import CONTENT_BUCKET, ObjectStoreRepository
from services.content_service.domain.content import ContentKind, ContentLibrary
from services.mesh.connection import connect_nats
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_object_store
from tests.conftest import settings_for
from tests.support import three_nats_nodes, unique

ROUNDS = 3
OBJECTS = 300  # per round: enough that the replica is still catching up while the reads arrive
PAUSE_S = 0.5  # the replica falls behind far enough to catch up for a while


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[NatsNode]]:
    with three_nats_nodes(tmp_path) as running:
        yield running


@asynccontextmanager
async def _library(settings: NatsSettings) -> AsyncIterator[ContentLibrary]:
    """The Content Service's library and repository on its own connection to `settings`."""
    client, js = await connect_nats(settings, unique("content"))
    try:
        yield ContentLibrary(ObjectStoreRepository(js), max_object_bytes=1 << 20)
    finally:
        await client.close()


async def test_a_paused_then_lagging_replica_fails_no_put_and_no_read(
    nodes: list[NatsNode],
) -> None:
    everywhere = settings_for(*(node.addresses.client_url for node in nodes), replicas=3)
    client, js = await connect_nats(everywhere, unique("provision"))
    await ensure_object_store(js, CONTENT_BUCKET, everywhere)
    cluster = (await js.stream_info(f"OBJ_{CONTENT_BUCKET}")).cluster
    await client.close()
    assert cluster is not None and cluster.leader
    leader = next(node for node in nodes if node.addresses.name == cluster.leader)
    lagging = next(node for node in nodes if node is not leader)
    assert lagging.pid is not None

    async with (
        _library(settings_for(leader.addresses.client_url, replicas=3)) as writer,
        _library(settings_for(lagging.addresses.client_url, replicas=3)) as reader,
    ):
        for _ in range(ROUNDS):
            texts = [f"{unique('replica')} {'essay ' * 3000}".encode() for _ in range(OBJECTS)]
            os.kill(lagging.pid, signal.SIGSTOP)
            try:
                puts = await asyncio.gather(
                    *(writer.put(text, ContentKind.EXTRACTED_TEXT, "text/plain") for text in texts)
                )
                await asyncio.sleep(PAUSE_S)
            finally:
                os.kill(lagging.pid, signal.SIGCONT)
            # the last written first: the likeliest not caught up with
            got = await asyncio.gather(*(reader.get(put.storage_id) for put in reversed(puts)))
            again = await asyncio.gather(
                *(reader.put(text, ContentKind.EXTRACTED_TEXT, "text/plain") for text in texts)
            )

            assert [stored.content for stored in got] == list(reversed(texts))
            assert not any(put.already_stored for put in puts)
            assert all(put.already_stored for put in again)
