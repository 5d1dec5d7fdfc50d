"""Fixtures: one real nats-server with JetStream for the test session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.nats_server import NatsServer
from services.mesh.connection import connect_nats
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_streams


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A real nats-server -js on a free port with a temporary store."""
    server = NatsServer(Path(tmp_path_factory.mktemp("nats")))
    server.start()
    yield server
    server.stop()


def settings_for(*urls: str, **overrides: object) -> NatsSettings:
    """NatsSettings for a test server (or the nodes of a test cluster)."""
    values: dict[str, object] = {
        "servers": urls,
        "max_deliver": 5,
        "ack_wait_s": 30.0,
        "replicas": 1,
        "event_retention_s": 3600.0,
        "duplicate_window_s": 120.0,
    }
    values.update(overrides)
    return NatsSettings(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="session")
def nats_settings(nats_server: NatsServer) -> NatsSettings:
    """Settings that point at the session's nats-server."""
    return settings_for(nats_server.url)


@pytest.fixture
async def nats_js(nats_settings: NatsSettings) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    """A connection with the streams provisioned, closed after the test."""
    client, js = await connect_nats(nats_settings, "test")
    await ensure_streams(js, nats_settings)
    yield client, js
    await client.drain()
