"""docker compose's `cluster` profile without a Docker engine: three real nats-server processes run
docker/nats-cluster.conf with the environment compose gives each node, form one JetStream cluster,
and the mesh, connecting with the instances' NATS_URL and NATS_REPLICAS, provisions its streams,
buckets and Object Store at three current replicas (the streams as a service's own NATS user, the
rest as the operator). Only what a container supplies differs: the
store directory (the container's /data volume) and loopback ports and routes instead of the compose
names, given as nats-server's own command-line flags."""

from __future__ import annotations

import dataclasses
import re
import shutil
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nats
import nats.errors
import pytest
import yaml

from devstack.nats_cluster import wait_streams_current
from devstack.nats_server import free_port, nats_server_binary
from devstack.processes import ManagedProcess, spawn, stop
from devstack.stack import port_in_use
from services.mesh.connection import connect_nats
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_kv, ensure_object_store, ensure_streams
from tests.support import REPO_ROOT, unique, wait_until

PASSWORD = "cluster-test-password"
NODES = ("nats-1", "nats-2", "nats-3")
STORE_LINE = 'store_dir: "/data"'


def interpolate(value: str) -> str:
    """What compose makes of `${VARIABLE:-default}` when NATS_PASSWORD is set and nothing else
    is (e.g. NATS_MAX_FILE_STORE takes its default)."""
    value = re.sub(r"\$\{NATS_PASSWORD:-[^}]*\}", PASSWORD, value)
    return re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", value)


def healthz(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return int(error.code)
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return 0


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return document


@pytest.fixture
def cluster(compose: dict[str, Any], tmp_path: Path) -> Iterator[dict[str, tuple[int, int]]]:
    """The three nodes, running; name → (client port, monitor port)."""
    template = (REPO_ROOT / "docker" / "nats-cluster.conf").read_text()
    assert template.count(STORE_LINE) == 1
    ports = {name: (free_port(), free_port(), free_port()) for name in NODES}
    routes = ",".join(f"nats://127.0.0.1:{route}" for _, route, _ in ports.values())
    processes: list[ManagedProcess] = []
    # Once, before any node starts: copied again beside each node, it was truncated and
    # rewritten while the node started before it read it, and that node, including an empty
    # file, ran with no users at all (a client without a password got in).
    shutil.copy(REPO_ROOT / "docker" / "nats-users.conf", tmp_path)
    try:
        for name, (client, route, monitor) in ports.items():
            service = compose["services"][name]
            config = tmp_path / f"{name}.conf"
            config.write_text(template.replace(STORE_LINE, f'store_dir: "{tmp_path / name}"'))
            env = {key: interpolate(str(value)) for key, value in service["environment"].items()}
            argv = [
                nats_server_binary(),
                *("-c", str(config), "-a", "127.0.0.1", "-p", str(client), "-m", str(monitor)),
                *("--cluster", f"nats://127.0.0.1:{route}", "--routes", routes),
            ]
            processes.append(
                spawn(
                    name,
                    argv,
                    log_path=tmp_path / f"{name}.log",
                    env=env,
                    cwd=tmp_path,
                    marker=str(config),
                )
            )
        yield {name: (client, monitor) for name, (client, _, monitor) in ports.items()}
    finally:
        for process in processes:
            stop(process, timeout_s=10)


def instance_servers(compose: dict[str, Any], ports: dict[str, tuple[int, int]]) -> list[str]:
    """A cluster instance's NATS_URL (the Spell Checker's), each compose name replaced by its
    node's loopback port."""
    url = interpolate(compose["services"]["spell-checker-b"]["environment"]["NATS_URL"])
    for name, (client, _) in ports.items():
        url = url.replace(f"@{name}:4222", f"@127.0.0.1:{client}")
    return url.split(",")


def as_operator(servers: list[str]) -> list[str]:
    """The same servers, logged in as the operator (NATS_PASSWORD)."""
    return [f"nats://huleedu:{PASSWORD}@{server.rpartition('@')[2]}" for server in servers]


async def test_the_compose_cluster_nodes_form_one_jetstream_cluster_with_three_replicas(
    compose: dict[str, Any], cluster: dict[str, tuple[int, int]], monkeypatch: pytest.MonkeyPatch
) -> None:
    await wait_until(
        lambda: all(healthz(monitor) == 200 for _, monitor in cluster.values()),
        timeout_s=120,
        message="every node healthy (JetStream current, a meta leader elected)",
    )
    spell_checker = instance_servers(compose, cluster)
    assert len(spell_checker) == 3 and all("spell_checker:" in url for url in spell_checker)
    servers = as_operator(spell_checker)
    env = compose["services"]["essay-lifecycle-a"]["environment"]
    monkeypatch.setenv("NATS_URL", ",".join(spell_checker))
    monkeypatch.setenv("NATS_REPLICAS", str(env["NATS_REPLICAS"]))
    settings = NatsSettings.from_env()
    assert settings.replicas == 3

    client, js = await connect_nats(settings, "compose-cluster-test")
    try:
        await ensure_streams(js, settings)
    finally:
        await client.close()
    settings = dataclasses.replace(settings, servers=tuple(servers))
    client, js = await connect_nats(settings, "compose-cluster-test")
    try:
        bucket = await ensure_kv(js, unique("compose-kv"), settings)
        await bucket.put("essay", b"slot")
        store = await ensure_object_store(js, unique("compose-obj"), settings)
        await store.put("essay.txt", b"Dear teacher, here is my essay.")
        ack = await js.publish("huleedu.test.compose", b"x", stream="HULEEDU_EVENTS")
        assert ack.stream == "HULEEDU_EVENTS"
    finally:
        await client.close()

    streams = await wait_streams_current(servers, 60, name="compose-cluster-test")
    assert len(streams) == 4, [stream.stream for stream in streams]
    for stream in streams:
        assert stream.replicas == 3
        assert {stream.leader, *(peer.name for peer in stream.peers)} == set(NODES)


async def test_a_client_without_the_password_is_refused_by_every_node(
    cluster: dict[str, tuple[int, int]],
) -> None:
    await wait_until(
        lambda: all(port_in_use(f"127.0.0.1:{client}") for client, _ in cluster.values()),
        timeout_s=60,
        message="every node listening for clients",
    )
    for client_port, _ in cluster.values():
        for url in (
            f"nats://127.0.0.1:{client_port}",
            f"nats://huleedu:wrong@127.0.0.1:{client_port}",
        ):
            with pytest.raises(nats.errors.Error):
                await nats.connect(url, allow_reconnect=False, connect_timeout=2)
