"""Provisioning against a JetStream that does not answer. On a cluster for a while: with the meta
leader and one more node frozen (SIGSTOP: no quorum, requests go unanswered, as on a busy machine
whose disk stalls), a service starting up asks again instead of failing on the first timeout, and
once the nodes run again its streams and buckets are created at three replicas, each once. On a
server without JetStream, never: after NATS_PROVISION_WAIT_S the error says what to check."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import nats.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.nats_cluster import NatsNode, stream_replicas
from devstack.nats_server import free_port, nats_server_binary
from devstack.processes import spawn, stop
from services.mesh.connection import connect_nats
from services.mesh.settings import NatsSettings
from services.mesh.streams import (
    DLQ_STREAM,
    EVENTS_STREAM,
    ProvisioningError,
    ensure_kv,
    ensure_streams,
)
from tests.conftest import settings_for
from tests.support import three_nats_nodes, unique, wait_until


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[list[NatsNode]]:
    with three_nats_nodes(tmp_path) as running:
        yield running


def quick_settings(*urls: str, replicas: int, wait_s: float) -> NatsSettings:
    """Settings with a 1 s request timeout, so that unanswered requests come round quickly."""
    return settings_for(*urls, replicas=replicas, request_timeout_s=1.0, provision_wait_s=wait_s)


async def connect_or_none(settings: NatsSettings) -> tuple[Client, JetStreamContext] | None:
    try:
        return await connect_nats(settings, "provisioning-test")
    except (nats.errors.Error, OSError):
        return None


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
    settings = quick_settings(reachable.addresses.client_url, replicas=3, wait_s=60.0)
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
            assert stream.messages == 0, "the write probe is refused, never stored"
    finally:
        await client.close()


async def test_a_server_without_jetstream_fails_provisioning_with_what_to_check(
    tmp_path: Path,
) -> None:
    port = free_port()
    server = spawn(
        "nats-no-jetstream",
        [nats_server_binary(), "-a", "127.0.0.1", "-p", str(port), "-n", unique("no-js")],
        log_path=tmp_path / "nats.log",
        env={},
        cwd=tmp_path,
        marker=str(port),
    )
    try:
        settings = quick_settings(f"nats://127.0.0.1:{port}", replicas=1, wait_s=2.0)
        client, js = await wait_until(
            lambda: connect_or_none(settings), timeout_s=20, message="the server accepts clients"
        )
        try:
            with pytest.raises(ProvisioningError) as raised:
                await ensure_streams(js, settings)
        finally:
            await client.close()
    finally:
        stop(server, timeout_s=10)
    message = str(raised.value)
    assert f"stream {EVENTS_STREAM}" in message and "for 2 s" in message
    assert "JetStream enabled (nats-server -js)" in message
    assert "NATS_PROVISION_WAIT_S" in message
