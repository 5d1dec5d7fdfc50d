"""The File Service's registry of batches on a real nats-server: an upload waiting for its batch's
registration is woken the moment this process records it, and gives up when none comes."""

from __future__ import annotations

import asyncio

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.events.v1 import events_pb2
from services.file_service.adapters import batch_registry
from services.file_service.adapters.batch_registry import BATCHES_BUCKET, KvBatchRegistry
from services.mesh.event_ids import new_metadata
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_kv
from tests.support import unique, wait_until

JS = tuple[Client, JetStreamContext]


@pytest.fixture
async def registry(nats_js: JS, nats_settings: NatsSettings) -> KvBatchRegistry:
    _, js = nats_js
    return KvBatchRegistry(await ensure_kv(js, BATCHES_BUCKET, nats_settings))


def registration(batch_id: str) -> events_pb2.BatchEssaysRegistered:
    return events_pb2.BatchEssaysRegistered(
        metadata=new_metadata("batch_orchestrator", correlation_id=unique("corr")),
        batch_id=batch_id,
        expected_essay_count=3,
    )


async def test_a_waiting_upload_is_woken_by_the_registration_not_by_a_poll(
    registry: KvBatchRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(batch_registry, "_FIRST_POLL_S", 600.0)  # no poll comes in time
    batch_id = unique("batch")
    waiting = asyncio.create_task(registry.wait_for(batch_id, 1200.0))
    await wait_until(lambda: batch_id in registry._waiting, message="upload waiting")

    await registry.record(registration(batch_id))

    found = await asyncio.wait_for(waiting, 30)
    assert found is not None and found.expected_essay_count == 3
    assert registry._waiting == {}


async def test_waiting_for_a_batch_nobody_registers_gives_up_and_forgets_it(
    registry: KvBatchRegistry,
) -> None:
    batch_id = unique("batch")
    found = await asyncio.gather(*(registry.wait_for(batch_id, 0.1) for _ in range(3)))
    assert found == [None, None, None]
    assert registry._waiting == {}
