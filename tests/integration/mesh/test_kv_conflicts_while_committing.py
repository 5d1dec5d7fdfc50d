"""Compare-and-set on a replicated bucket while a write cannot commit (its followers frozen with
SIGSTOP, as when their disks stall): the leader refuses every other write to the key until the
pending one commits, and a re-read shows the old revision all that time. Writers back off instead
of spending their attempts at once, and every change lands once the followers run again."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from collections.abc import Awaitable, Iterator
from pathlib import Path

import nats
import pytest
from google.protobuf import struct_pb2

from devstack.nats_cluster import NatsNode
from services.mesh.kv import conflict_pause, read_document, update_document
from services.mesh.streams import ensure_kv
from tests.conftest import settings_for
from tests.support import three_nats_nodes, unique, wait_until

WRITERS = 5
# The fault: how long the followers hang. A writer retrying at once spends its 200 attempts in a
# fraction of a second; backing off, it spends about 20.
STALL_S = 2.0


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[NatsNode]]:
    with three_nats_nodes(tmp_path) as running:
        yield running


def test_the_pause_grows_from_nothing_to_a_quarter_second_with_jitter() -> None:
    assert conflict_pause(0) == 0.0
    assert 0.001 <= conflict_pause(1) <= 0.002
    assert 0.002 <= conflict_pause(2) <= 0.004
    assert all(0.125 <= conflict_pause(n) <= 0.25 for n in range(9, 200))


async def test_writers_outlast_a_write_that_cannot_commit(
    nodes: list[NatsNode], caplog: pytest.LogCaptureFixture
) -> None:
    settings = settings_for(*(node.addresses.client_url for node in nodes), replicas=3)
    bucket = unique("commit").replace("-", "_")
    client = await nats.connect(servers=list(settings.servers))
    js = client.jetstream(timeout=30)
    await ensure_kv(js, bucket, settings)
    info = await js.stream_info(f"KV_{bucket}")
    assert info.cluster is not None and info.cluster.leader
    leader = next(node for node in nodes if node.addresses.name == info.cluster.leader)
    followers = [node for node in nodes if node is not leader]
    await client.close()

    # Every writer talks to the leader, as a service connected anywhere would through routes.
    client = await nats.connect(servers=[leader.addresses.client_url])
    kv = await client.jetstream(timeout=30).key_value(bucket)
    await update_document(kv, "doc", struct_pb2.ListValue, lambda _: struct_pb2.ListValue())
    assert await read_document(kv, "doc", struct_pb2.ListValue) is not None

    def append(writer: int) -> Awaitable[object]:
        def add(doc: struct_pb2.ListValue | None) -> struct_pb2.ListValue:
            doc = doc if doc is not None else struct_pb2.ListValue()
            doc.values.add().string_value = f"w{writer}"
            return doc

        return update_document(kv, "doc", struct_pb2.ListValue, add)

    caplog.set_level(logging.DEBUG, logger="services.mesh.kv")
    try:
        for node in followers:
            assert node.pid is not None
            os.kill(node.pid, signal.SIGSTOP)
        writes = asyncio.gather(*(append(writer) for writer in range(WRITERS)))
        try:
            await wait_until(
                lambda: (
                    caplog.text.count("compare-and-set conflict") >= WRITERS - 1 or writes.done()
                ),
                message="the other writers refused while one write is pending",
            )
            await asyncio.sleep(STALL_S)  # the stall itself, not a wait for a condition
            conflicts = caplog.text.count("compare-and-set conflict")
        finally:
            for node in followers:
                assert node.pid is not None
                os.kill(node.pid, signal.SIGCONT)
        await asyncio.wait_for(writes, timeout=60)
        # Asked of the stream leader: a direct get (read_document) may be answered by a follower
        # just thawed and still catching up, with the revision before the last write.
        last = await client.jetstream().get_last_msg(f"KV_{bucket}", f"$KV.{bucket}.doc")
        found = struct_pb2.ListValue.FromString(last.data or b"")
        assert sorted(value.string_value for value in found.values) == [
            f"w{writer}" for writer in range(WRITERS)
        ]
        assert conflicts >= 5 * (WRITERS - 1), "each waiting writer met several conflicts"
    finally:
        await client.close()
