"""BOS and ELS together, as real processes on a real NATS: registration through BOS, the File
Service's events published by the test, a stub spell checker answering every request."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass, field

import grpc
import pytest
from google.protobuf.message import Message
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.nats_server import NatsServer
from huleedu.batch.v1 import batch_service_pb2, batch_service_pb2_grpc
from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.cli.results import TERMINAL
from services.mesh.publisher import EventPublisher
from tests.harness.coordination_events import essay_requests, provisioned, validation_failed
from tests.harness.coordination_harness import (
    EventTap,
    ServiceProcess,
    StubSpellChecker,
    bos_process,
    els_process,
)
from tests.support import wait_until

B = common_pb2.BatchStatus
NatsJs = tuple[Client, JetStreamContext]
ESSAY_ID_FIELDS = {"essay_id", "essay_ids", "failed_essay_ids"}


@dataclass
class Mesh:
    els: ServiceProcess
    bos: ServiceProcess
    failing_text_ids: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
async def mesh(
    nats_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Mesh]:
    logs = tmp_path_factory.mktemp("coordination")
    running = Mesh(
        els_process(nats_server.url, logs / "els.log"),
        bos_process(nats_server.url, logs / "bos.log"),
    )
    await asyncio.gather(running.els.start(), running.bos.start())
    yield running
    await asyncio.gather(running.els.stop(), running.bos.stop())


@pytest.fixture
async def spell_checker(mesh: Mesh, nats_js: NatsJs) -> AsyncIterator[StubSpellChecker]:
    mesh.failing_text_ids.clear()
    stub = StubSpellChecker(
        nats_js[1], fails=lambda request: request.text_storage_id in mesh.failing_text_ids
    )
    await stub.start()
    yield stub
    await stub.stop()


@pytest.fixture
async def bos(
    mesh: Mesh,
) -> AsyncIterator[batch_service_pb2_grpc.BatchOrchestratorServiceAsyncStub]:
    async with grpc.aio.insecure_channel(mesh.bos.addr) as channel:
        yield batch_service_pb2_grpc.BatchOrchestratorServiceStub(channel)


async def register(
    bos: batch_service_pb2_grpc.BatchOrchestratorServiceAsyncStub, count: int
) -> batch_service_pb2.RegisterBatchResponse:
    return await bos.RegisterBatch(
        batch_service_pb2.RegisterBatchRequest(
            expected_essay_count=count,
            course_code="ENG5",
            language="en",
            readiness=common_pb2.ReadinessConfig(timeout_seconds=600, partial_batch_threshold=1.0),
        )
    )


async def terminal_batch(
    bos: batch_service_pb2_grpc.BatchOrchestratorServiceAsyncStub,
    batch_id: str,
    timeout_s: float = 30,
) -> batch_service_pb2.Batch:
    async def done() -> batch_service_pb2.Batch | None:
        reply = await bos.GetBatch(batch_service_pb2.GetBatchRequest(batch_id=batch_id))
        return reply.batch if reply.batch.status in TERMINAL else None

    return await wait_until(done, timeout_s=timeout_s, message=f"batch {batch_id} terminal")


def essay_ids_in(message: Message) -> Iterator[str]:
    """Every essay id anywhere in an event, however deep."""
    for descriptor, value in message.ListFields():
        if descriptor.name in ESSAY_ID_FIELDS:
            yield from [value] if isinstance(value, str) else value
        elif descriptor.message_type is not None:
            values = value if descriptor.is_repeated else [value]
            for item in values:
                yield from essay_ids_in(item)


def events_of_batch(tap: EventTap, batch_id: str) -> Sequence[Message]:
    return [event for _, _, event in tap.received if getattr(event, "batch_id", "") == batch_id]


async def test_register_25_uploads_ready_command_requests_carry_only_registered_ids(
    mesh: Mesh,
    bos: batch_service_pb2_grpc.BatchOrchestratorServiceAsyncStub,
    tap: EventTap,
    spell_checker: StubSpellChecker,
    nats_js: NatsJs,
) -> None:
    registration = await register(bos, 25)
    batch_id, essay_ids = registration.batch_id, set(registration.essay_ids)
    publisher = EventPublisher(nats_js[1], "file_service")
    uploads = [provisioned(batch_id, f"essay{i}.txt") for i in range(25)]
    await asyncio.gather(*(publisher.publish(upload) for upload in uploads))

    batch = await terminal_batch(bos, batch_id)
    assert batch.status == B.BATCH_STATUS_COMPLETED
    (ready,) = tap.of(events_pb2.BatchEssaysReady, {batch_id})
    assert {e.essay_id for e in ready.ready_essays} == essay_ids
    (command,) = tap.of(events_pb2.BatchSpellcheckInitiateCommand, {batch_id})
    assert {e.essay_id for e in command.essays} == essay_ids
    groups = tap.of(events_pb2.SpellcheckGroupRequested, {batch_id})
    assert sorted(len(g.essays) for g in groups) == [12, 13]  # the fewest groups of at most 16
    assert sorted(r.essay_id for r in essay_requests(groups)) == sorted(essay_ids)
    (outcome,) = tap.of(events_pb2.ELSBatchPhaseOutcome, {batch_id})
    assert {e.essay_id for e in outcome.processed_essays} == essay_ids
    everywhere = {i for event in events_of_batch(tap, batch_id) for i in essay_ids_in(event)}
    assert everywhere == essay_ids  # every slot used, and no id that BOS did not make


async def test_three_good_two_bad_is_ready_with_failures_and_completes_with_failures(
    mesh: Mesh,
    bos: batch_service_pb2_grpc.BatchOrchestratorServiceAsyncStub,
    tap: EventTap,
    spell_checker: StubSpellChecker,
    nats_js: NatsJs,
) -> None:
    registration = await register(bos, 5)
    batch_id = registration.batch_id
    publisher = EventPublisher(nats_js[1], "file_service")
    uploads: list[Message] = [provisioned(batch_id, f"good{i}.txt") for i in range(3)]
    uploads += [validation_failed(batch_id, f"bad{i}.txt") for i in range(2)]
    await asyncio.gather(*(publisher.publish(upload) for upload in uploads))

    batch = await terminal_batch(bos, batch_id)
    assert batch.status == B.BATCH_STATUS_COMPLETED_WITH_FAILURES
    (ready,) = tap.of(events_pb2.BatchEssaysReady, {batch_id})
    assert len(ready.ready_essays) == 3 and len(ready.validation_failures) == 2
    assert batch.counts.failed_validation == 2 and batch.counts.spellchecked == 3
    assert {f.original_file_name for f in batch.validation_failures} == {"bad0.txt", "bad1.txt"}


async def test_watch_batch_streams_every_state_from_awaiting_content_to_completed(
    mesh: Mesh,
    bos: batch_service_pb2_grpc.BatchOrchestratorServiceAsyncStub,
    spell_checker: StubSpellChecker,
    nats_js: NatsJs,
) -> None:
    registration = await register(bos, 2)
    batch_id = registration.batch_id
    seen: list[int] = []

    async def watch() -> None:
        request = batch_service_pb2.WatchBatchRequest(batch_id=batch_id)
        async for reply in bos.WatchBatch(request):
            if not seen or seen[-1] != reply.batch.status:
                seen.append(reply.batch.status)

    watcher = asyncio.create_task(watch())
    await wait_until(lambda: seen, message="the first WatchBatch message")
    publisher = EventPublisher(nats_js[1], "file_service")
    for name in ("a.txt", "b.txt"):
        await publisher.publish(provisioned(batch_id, name))
    await asyncio.wait_for(watcher, timeout=30)
    assert seen == [
        B.BATCH_STATUS_AWAITING_CONTENT,
        B.BATCH_STATUS_READY,
        B.BATCH_STATUS_SPELLCHECKING,
        B.BATCH_STATUS_COMPLETED,
    ]


async def test_a_batch_whose_every_file_failed_still_ends_failed(
    mesh: Mesh,
    bos: batch_service_pb2_grpc.BatchOrchestratorServiceAsyncStub,
    tap: EventTap,
    nats_js: NatsJs,
) -> None:
    registration = await register(bos, 2)
    batch_id = registration.batch_id
    publisher = EventPublisher(nats_js[1], "file_service")
    for name in ("empty.txt", "scan.pdf"):
        await publisher.publish(validation_failed(batch_id, name))
    batch = await terminal_batch(bos, batch_id)
    assert batch.status == B.BATCH_STATUS_FAILED
    (ready,) = tap.of(events_pb2.BatchEssaysReady, {batch_id})
    assert len(ready.ready_essays) == 0 and len(ready.validation_failures) == 2
    assert tap.of(events_pb2.SpellcheckGroupRequested, {batch_id}) == []
