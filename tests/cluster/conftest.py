"""The cluster suite: three nats-server nodes with routes (R3) and the services as processes,
started by devstack.cluster_stack on free ports with a temporary run directory, authentication
on as `make cluster-up` runs it (calls carry `teacher_token(cluster)`).

Tests marked `cluster` take minutes and most of a small machine, so they run only when asked for
(`make test-cluster`, i.e. `pytest -m cluster`, or HULEEDU_CLUSTER_TESTS=1); `make test` skips
them."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.cluster_layout import ClusterLayout, any_free_ports
from devstack.cluster_stack import ClusterStack
from devstack.stack import RunDir
from services.mesh.auth import create_dev_keys, mint_token

# Killed handlers' messages come back after the ack wait: short, so a run does not wait 30 s.
CLUSTER_TEST_ENV = {"NATS_ACK_WAIT_S": "10", "LOG_LEVEL": "INFO"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "cluster: needs a three-node NATS cluster and ten service processes"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    asked = "cluster" in (config.option.markexpr or "")
    if asked or os.environ.get("HULEEDU_CLUSTER_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="the cluster suite runs with `make test-cluster`")
    for item in items:
        if item.get_closest_marker("cluster") is not None:
            item.add_marker(skip)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[ClusterStack]:
    """Three NATS nodes and two instances of every service, on free ports; stopped after the
    test (logs stay under the test's tmp_path)."""
    run_dir = RunDir(tmp_path / "cluster")
    stack = ClusterStack(
        run_dir,
        ClusterLayout.build(ports=any_free_ports),
        extra_env=CLUSTER_TEST_ENV,
        auth_env=create_dev_keys(run_dir.auth),
        report=print,
    )
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def teacher_token(cluster: ClusterStack) -> str:
    """A token for a teacher of the tenant demo, signed with the cluster's development issuer."""
    return mint_token(cluster.run_dir.auth / "issuer.pem", tenant="demo", subject="cluster-test")


@pytest.fixture
async def nats_js(cluster: ClusterStack) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    """A client of all three nodes, reconnecting as they die and come back."""
    client = await nats.connect(
        servers=cluster.nats_url.split(","),  # as the operator: every node, logged in
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        name="cluster-test",
    )
    yield client, client.jetstream(timeout=10)
    await client.close()
