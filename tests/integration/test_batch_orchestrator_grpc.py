"""BOS's gRPC API against a real nats-server: RegisterBatch refuses each bad field, stores the
batch and announces its slots (also when BOS died between the two), GetBatch, WatchBatch streaming
each state of a batch driven by real ELS events, and ListBatches paging newest first."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest

from huleedu.batch.v1 import batch_service_pb2 as pb
from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.adapters.kv_batches import BUCKET, KvBatchRepository
from services.batch_orchestrator.bootstrap import utc_now
from services.batch_orchestrator.domain.erasure import essay_erased
from services.batch_orchestrator.domain.publishing import registered_event_id
from services.batch_orchestrator.domain.registration import (
    BatchRequest,
    RegistrationPolicy,
    new_batch,
    validate_registration,
)
from services.mesh import subjects
from services.mesh.publisher import HEADER_MSG_ID
from services.mesh.settings import NatsSettings
from services.mesh.streams import EVENTS_STREAM, ensure_kv
from tests.integration.test_batch_orchestrator_support import (
    Bos,
    Status,
    outcome_event,
    ready_event,
    stored,
)
from tests.support import wait_until

# --- RegisterBatch, GetBatch -------------------------------------------------------------


async def test_register_batch_names_each_bad_field(bos: Bos) -> None:
    cases: list[tuple[dict[str, Any], str]] = [
        ({"expected_essay_count": 0}, "expected_essay_count"),
        ({"expected_essay_count": 51}, "expected_essay_count"),
        ({"course_code": ""}, "course_code"),
        ({"language": "english"}, "language"),
        ({"language": ""}, "language"),
        ({"phases": [common_pb2.PHASE_UNSPECIFIED]}, "phases"),
        ({"readiness": {"timeout_seconds": 8 * 24 * 3600}}, "readiness.timeout_seconds"),
        ({"readiness": {"partial_batch_threshold": 1.5}}, "readiness.partial_batch_threshold"),
        ({"title": "t" * 300}, "title"),
        ({"request_id": "r" * 129}, "request_id"),
        ({"request_id": "not a key"}, "request_id"),
    ]
    for changes, field in cases:
        request: dict[str, Any] = {
            "expected_essay_count": 2,
            "course_code": "ENG5",
            "language": "en",
            **changes,
        }
        readiness = request.pop("readiness", None)
        message = pb.RegisterBatchRequest(**request)
        if readiness:
            message.readiness.CopyFrom(common_pb2.ReadinessConfig(**readiness))
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await bos.stub.RegisterBatch(message, timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert (raised.value.details() or "").startswith(f"{field}: "), raised.value.details()


async def test_register_stores_the_batch_and_announces_its_slots(bos: Bos) -> None:
    reg = await bos.register(4, readiness=common_pb2.ReadinessConfig(timeout_seconds=120))

    assert len(set(reg.essay_ids)) == 4
    batch = await bos.batch(reg.batch_id)
    assert batch.status == Status.Value("BATCH_STATUS_AWAITING_CONTENT")
    assert list(batch.essay_ids) == list(reg.essay_ids)
    assert batch.correlation_id == reg.correlation_id
    assert (batch.deadline.ToSeconds() - batch.created_at.ToSeconds()) == 120

    [(headers, event)] = await stored(
        bos.js,
        EVENTS_STREAM,
        subjects.BATCH_ESSAYS_REGISTERED,
        events_pb2.BatchEssaysRegistered,
        reg.batch_id,
    )
    assert list(event.essay_ids) == list(reg.essay_ids)
    assert event.expected_essay_count == 4
    assert event.readiness.timeout_seconds == 120
    assert event.readiness.partial_batch_threshold == 1.0
    assert list(event.phases) == [common_pb2.PHASE_SPELLCHECK]
    assert event.deadline == batch.deadline
    assert headers[HEADER_MSG_ID] == registered_event_id(reg.batch_id)
    assert event.metadata.correlation_id == reg.correlation_id


async def test_get_batch_errors(bos: Bos) -> None:
    for batch_id, code in [
        (str(uuid.uuid4()), grpc.StatusCode.NOT_FOUND),
        ("not-a-batch", grpc.StatusCode.INVALID_ARGUMENT),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await bos.batch(batch_id)
        assert raised.value.code() == code
        assert "batch_id" in (raised.value.details() or "")


async def test_a_stored_but_unannounced_batch_is_announced(
    bos: Bos, nats_settings: NatsSettings
) -> None:
    kv = await ensure_kv(bos.js, BUCKET, nats_settings)
    registration = validate_registration(
        BatchRequest(expected_essay_count=1, course_code="ENG5", language="en"),
        RegistrationPolicy(),
    )
    batch = new_batch(
        registration,
        batch_id=str(uuid.uuid4()),
        essay_ids=[str(uuid.uuid4())],
        correlation_id=str(uuid.uuid4()),
        now=utc_now(),
    )
    await KvBatchRepository(bos.js, kv).add(batch)  # as if BOS died before publishing

    async def announced() -> list[Any]:
        return await stored(
            bos.js,
            EVENTS_STREAM,
            subjects.BATCH_ESSAYS_REGISTERED,
            events_pb2.BatchEssaysRegistered,
            batch.batch_id,
        )

    [(headers, event)] = await wait_until(announced, timeout_s=10, message="announcement")
    assert headers[HEADER_MSG_ID] == registered_event_id(batch.batch_id)
    assert list(event.essay_ids) == list(batch.essay_ids)


# --- WatchBatch, ListBatches -----------------------------------------------------------------


async def test_watch_batch_streams_every_state_then_ends(bos: Bos) -> None:
    reg = await bos.register(2)
    call = bos.stub.WatchBatch(pb.WatchBatchRequest(batch_id=reg.batch_id), timeout=30)
    seen: list[str] = []

    async def next_status() -> str:
        reply = await call.read()
        assert reply is not grpc.aio.EOF
        seen.append(Status.Name(reply.batch.status).removeprefix("BATCH_STATUS_"))
        return seen[-1]

    assert await next_status() == "AWAITING_CONTENT"
    await bos.emit(ready_event(reg, list(reg.essay_ids)))
    assert await next_status() == "READY"
    assert await next_status() == "SPELLCHECKING"
    await bos.emit(outcome_event(reg, list(reg.essay_ids), []))
    assert await next_status() == "COMPLETED"
    assert await call.read() is grpc.aio.EOF
    assert await call.code() == grpc.StatusCode.OK


async def test_watch_batch_of_a_finished_batch_sends_it_once(bos: Bos) -> None:
    reg = await bos.register(1)
    await bos.emit(ready_event(reg, []))
    await bos.wait_status(reg.batch_id, Status.Value("BATCH_STATUS_FAILED"))
    replies = [r async for r in bos.stub.WatchBatch(pb.WatchBatchRequest(batch_id=reg.batch_id))]
    assert [r.batch.status for r in replies] == [Status.Value("BATCH_STATUS_FAILED")]


async def test_watch_batch_errors_and_cancellation(bos: Bos) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        async for _ in bos.stub.WatchBatch(pb.WatchBatchRequest(batch_id=str(uuid.uuid4()))):
            pass
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    reg = await bos.register(1)
    call = bos.stub.WatchBatch(pb.WatchBatchRequest(batch_id=reg.batch_id))
    await call.read()
    watches = bos.running.wired._watches
    assert len(watches) == 1
    call.cancel()
    await wait_until(lambda: not watches, timeout_s=5, message="watch released")


async def test_open_watches_end_unavailable_when_nats_comes_back(bos: Bos) -> None:
    """BOS ends its watches after a reconnection, so clients watch again and get the batch as
    it is at once instead of waiting for nats-py to notice that its KV watch went quiet."""
    reg = await bos.register(1)
    call = bos.stub.WatchBatch(pb.WatchBatchRequest(batch_id=reg.batch_id))
    await call.read()
    await bos.running.wired.end_watches()
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await call.read()
    again = bos.stub.WatchBatch(pb.WatchBatchRequest(batch_id=reg.batch_id))
    first = await again.read()
    again.cancel()
    assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "call WatchBatch again" in (ended.value.details() or "")
    assert isinstance(first, pb.WatchBatchResponse) and first.batch.batch_id == reg.batch_id


async def test_list_batches_newest_first_in_pages(bos: Bos) -> None:
    ids = [(await bos.register(1)).batch_id for _ in range(6)]
    newest_first = list(reversed(ids))

    listed: list[str] = []
    token = ""
    for _ in range(3):
        page = await bos.stub.ListBatches(
            pb.ListBatchesRequest(page_size=2, page_token=token), timeout=10
        )
        assert len(page.batches) == 2
        listed.extend(b.batch_id for b in page.batches)
        token = page.next_page_token
        assert token
    assert listed == newest_first

    default = await bos.stub.ListBatches(pb.ListBatchesRequest(), timeout=10)
    assert [b.batch_id for b in default.batches][:6] == newest_first
    assert len(default.batches) <= 20
    listed_batch = default.batches[0]
    assert not listed_batch.essay_ids  # a summary: the per-essay lists are GetBatch's
    assert listed_batch.counts.expected == 1
    assert listed_batch.status == Status.Value("BATCH_STATUS_AWAITING_CONTENT")

    for request, field in [
        (pb.ListBatchesRequest(page_size=101), "page_size"),
        (pb.ListBatchesRequest(page_token="garbage"), "page_token"),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await bos.stub.ListBatches(request, timeout=10)
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert field in (raised.value.details() or "")


async def test_the_last_page_has_no_token(bos: Bos) -> None:
    pages = 0
    token = ""
    seen: set[str] = set()
    while True:
        page = await bos.stub.ListBatches(
            pb.ListBatchesRequest(page_size=100, page_token=token), timeout=10
        )
        pages += 1
        ids = {b.batch_id for b in page.batches}
        assert not ids & seen
        seen |= ids
        token = page.next_page_token
        if not token:
            break
    assert pages >= 1
    assert len(seen) >= 5


async def test_watch_right_after_register_always_finds_the_batch(bos: Bos) -> None:
    """nats-py may queue a KV watch's end-of-values marker before the value: never NOT_FOUND."""

    async def register_then_watch() -> pb.Batch:
        registered = await bos.register(1)
        watch = bos.stub.WatchBatch(pb.WatchBatchRequest(batch_id=registered.batch_id))
        try:
            return (await watch.read()).batch
        finally:
            watch.cancel()

    batches = await asyncio.gather(*(register_then_watch() for _ in range(40)))
    assert all(b.status == Status.Value("BATCH_STATUS_AWAITING_CONTENT") for b in batches)


async def test_an_update_in_flight_cannot_bring_an_erased_essays_name_back(
    bos: Bos, nats_settings: NatsSettings
) -> None:
    kv = await ensure_kv(bos.js, BUCKET, nats_settings)
    repository = KvBatchRepository(bos.js, kv)
    essay_id = str(uuid.uuid4())
    batch = new_batch(
        validate_registration(
            BatchRequest(expected_essay_count=1, course_code="ENG5", language="en"),
            RegistrationPolicy(),
        ),
        batch_id=str(uuid.uuid4()),
        essay_ids=[essay_id],
        correlation_id=str(uuid.uuid4()),
        now=utc_now(),
    )
    await repository.add(batch)
    await repository.update(batch.batch_id, lambda doc: essay_erased(doc, essay_id))

    def late_ready(doc: BatchRecord) -> BatchRecord:  # an event published before the erasure
        doc.ready_essays.add(
            essay_id=essay_id, text_storage_id="t", original_file_name="amira_hassan.txt"
        )
        return doc

    stored = await repository.update(batch.batch_id, late_ready)
    assert stored is not None
    assert [(r.essay_id, r.original_file_name) for r in stored.batch.ready_essays] == [
        (essay_id, "")
    ]
    entry = await kv.get(batch.batch_id)
    assert b"amira_hassan" not in (entry.value or b"")
