"""Provisioning on a cluster that does not answer for a while: with the meta leader and one more
node frozen (SIGSTOP: no quorum, requests go unanswered, as on a busy machine whose disk stalls),
a service starting up asks again instead of failing on the first timeout, and once the nodes run
again its streams and buckets are created at three replicas, each once."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.devstack.nats_cluster import NatsNode, stream_replicas
from services.mesh.connection import connect_nats
from services.mesh.settings import NatsSettings
from services.mesh.streams import DLQ_STREAM, EVENTS_STREAM, ensure_kv, ensure_streams
from tests.support import three_nats_nodes, unique, wait_until


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[NatsNode]]:
    with three_nats_nodes(tmp_path) as running:
        yield running


def meta_leader(node: NatsNode) -> str:
    """The server name of the JetStream meta leader, as the node's /jsz reports it."""
    with urllib.request.urlopen(f"{node.addresses.monitor_url}/jsz", timeout=2) as reply:
        leader: str = json.load(reply).get("meta_cluster", {}).get("leader", "")
    return leader


def signal_node(node: NatsNode, signum: signal.Signals) -> None:
    assert node.pid is not None
    os.kill(node.pid, signum)


async def test_provisioning_asks_again_until_a_frozen_cluster_answers(
    nodes: list[NatsNode], caplog: pytest.LogCaptureFixture
) -> None:
    leader_name = await wait_until(lambda: meta_leader(nodes[0]), message="a meta leader")
    leader = next(node for node in nodes if node.addresses.name == leader_name)
    others = [node for node in nodes if node is not leader]
    frozen, reachable = [leader, others[0]], others[1]
    settings = NatsSettings(
        servers=(reachable.addresses.client_url,),
        max_deliver=5,
        ack_wait_s=30.0,
        replicas=3,
        event_retention_s=3600.0,
        duplicate_window_s=120.0,
        request_timeout_s=1.0,
    )
    bucket = unique("frozen").replace("-", "_")
    client, js = await connect_nats(settings, "provisioning-test")
    caplog.set_level(logging.WARNING, logger="services.mesh.streams")
    try:
        for node in frozen:
            signal_node(node, signal.SIGSTOP)

        async def provision() -> None:
            await ensure_streams(js, settings)
            await ensure_kv(js, bucket, settings)

        provisioning = asyncio.create_task(provision())
        try:
            await wait_until(
                lambda: "asking again" in caplog.text,
                timeout_s=30,
                message="provisioning to meet an unanswered request and ask again",
            )
            assert not provisioning.done()
        finally:
            for node in frozen:
                signal_node(node, signal.SIGCONT)
        await asyncio.wait_for(provisioning, timeout=90)

        streams = {stream.stream: stream for stream in await stream_replicas(js)}
        assert set(streams) == {EVENTS_STREAM, DLQ_STREAM, f"KV_{bucket}"}
        for stream in streams.values():
            assert stream.replicas == 3 and stream.leader, stream.describe()
    finally:
        await client.close()
