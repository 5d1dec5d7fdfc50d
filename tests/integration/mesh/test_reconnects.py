"""What runs when a service's NATS connection comes back, on a real nats-server that is SIGKILLed
and started again: every callback, once per reconnection, and a failing one stops no other."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devstack.nats_server import NatsServer
from services.mesh.connection import Reconnects, close_nats, connect_nats
from tests.conftest import settings_for
from tests.support import wait_until


async def test_callbacks_run_after_each_reconnection(tmp_path: Path) -> None:
    server = NatsServer(tmp_path / "nats")
    await asyncio.to_thread(server.start)
    reconnects = Reconnects()
    heard: list[str] = []

    async def broken() -> None:
        raise RuntimeError("a callback that fails")

    async def listening() -> None:
        heard.append("back")

    reconnects.add(broken)
    reconnects.add(listening)
    client, _ = await connect_nats(settings_for(server.url), "reconnects-test", reconnects)
    try:
        assert heard == []
        for outage in (1, 2):
            await asyncio.to_thread(server.stop, kill=True)
            await asyncio.to_thread(server.start)
            await wait_until(lambda n=outage: len(heard) == n, timeout_s=30, message="reconnected")
    finally:
        await close_nats(client)
        await asyncio.to_thread(server.stop)
    assert heard == ["back", "back"]
