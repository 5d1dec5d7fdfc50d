"""`huleedu events`, `dlq` and `trace` read JetStream directly; on a real nats-server that is
SIGKILLed and started again they ask again until it answers (one line says so), and past the
retry horizon they end with the advice to run the command again."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from devstack.nats_server import NatsServer
from services.cli.errors import EXIT_UNREACHABLE, CliError
from services.cli.retry import RetryHorizon
from services.cli.stream_view import EVENTS, close_quietly, connect
from services.mesh.connection import close_nats, connect_nats
from services.mesh.streams import ensure_streams
from tests.conftest import settings_for


async def _provisioned(tmp_path: Path) -> NatsServer:
    server = NatsServer(tmp_path / "nats")
    await asyncio.to_thread(server.start)
    client, js = await connect_nats(settings_for(server.url), "cli-reads-test")
    await ensure_streams(js, settings_for(server.url))
    await close_nats(client)
    return server


async def test_a_read_waits_through_a_nats_restart(tmp_path: Path) -> None:
    server = await _provisioned(tmp_path)
    said: list[str] = []
    client, reads = await connect(server.url, RetryHorizon(60.0, said.append))
    try:
        await asyncio.to_thread(server.stop, kill=True)
        info = asyncio.create_task(reads.stream_info(EVENTS.stream))
        await asyncio.to_thread(server.start)
        found = await asyncio.wait_for(info, timeout=60)
    finally:
        await close_quietly(client)
        await asyncio.to_thread(server.stop)
    assert found.config.name == EVENTS.stream
    assert len([line for line in said if "retrying for up to 60 s" in line]) <= 1
    assert said == [] or said[-1] == "NATS answers again"


async def test_past_the_horizon_the_read_ends_with_what_to_do(tmp_path: Path) -> None:
    server = await _provisioned(tmp_path)
    said: list[str] = []
    client, reads = await connect(server.url, RetryHorizon(1.0, said.append))
    await asyncio.to_thread(server.stop, kill=True)
    try:
        with pytest.raises(CliError) as gave_up:
            await reads.stream_info(EVENTS.stream)
    finally:
        await close_quietly(client)
    assert gave_up.value.exit_code == EXIT_UNREACHABLE
    assert "NATS unavailable" in gave_up.value.message
    assert "run the same command again" in gave_up.value.message
    assert said and "retrying for up to 1 s" in said[0]
