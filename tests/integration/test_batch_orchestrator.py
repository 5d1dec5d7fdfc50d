"""BOS against a real nats-server and a real gRPC server: registration, the `bos` consumer driven
by real ELS events, idempotence, WatchBatch and ListBatches."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
import pytest
from google.protobuf.message import Message
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from huleedu.batch.v1 import batch_service_pb2 as pb
from huleedu.batch.v1 import batch_service_pb2_grpc as pb_grpc
from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.batch_orchestrator.adapters.kv_batches import (
    BUCKET,
    UNANNOUNCED_PREFIX,
    KvBatchRepository,
    index_key,
)
from services.batch_orchestrator.bootstrap import RunningBos, start, utc_now
from services.batch_orchestrator.domain.registration import (
    BatchRequest,
    RegistrationPolicy,
    ids_for_request,
    new_batch,
    validate_registration,
)
from services.batch_orchestrator.entrypoints.grpc_api import batch_request
from services.batch_orchestrator.service_layer.publishing import (
    PRODUCER,
    publish_registered,
    registered_event_id,
    spellcheck_command_id,
)
from services.batch_orchestrator.settings import BosSettings
from services.mesh import subjects
from services.mesh.connection import connect_nats
from services.mesh.publisher import HEADER_MSG_ID, EventPublisher, new_metadata
from services.mesh.settings import NatsSettings
from services.mesh.streams import DLQ_STREAM, EVENTS_STREAM, ensure_kv, ensure_streams
from tests.support import unique, wait_until

M = TypeVar("M", bound=Message)
Status = common_pb2.BatchStatus
POLICY = RegistrationPolicy(max_essays=50)


@dataclass
class Bos:
    running: RunningBos
    stub: pb_grpc.BatchOrchestratorServiceAsyncStub
    nc: Client
    js: JetStreamContext
    els: EventPublisher

    async def register(self, count: int = 3, **fields: Any) -> pb.RegisterBatchResponse:
        request = pb.RegisterBatchRequest(
            expected_essay_count=count, course_code=unique("ENG"), language="en", **fields
        )
        return await self.stub.RegisterBatch(request, timeout=10)

    async def batch(self, batch_id: str) -> pb.Batch:
        return (await self.stub.GetBatch(pb.GetBatchRequest(batch_id=batch_id), timeout=10)).batch

    async def wait_status(self, batch_id: str, status: int) -> pb.Batch:
        async def reached() -> pb.Batch | None:
            batch = await self.batch(batch_id)
            return batch if batch.status == status else None

        return await wait_until(reached, timeout_s=10, message=f"{Status.Name(status)}")  # type: ignore[arg-type]

    async def emit(self, event: Message, *, redelivery: bool = False) -> int:
        """Publish as ELS would; `redelivery` stores the same event (same event id) again, as
        if JetStream delivered it a second time. Returns its stream sequence."""
        headers = {HEADER_MSG_ID: str(uuid.uuid4())} if redelivery else None
        return (await self.els.publish(event, headers=headers)).seq

    async def handled(self, seq: int) -> None:
        """Wait until the `bos` consumer has acknowledged every message up to `seq`."""

        async def acked() -> bool:
            info = await self.js.consumer_info(EVENTS_STREAM, "bos")
            return info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= seq

        await wait_until(acked, timeout_s=15, message=f"bos acknowledged seq {seq}")


@pytest.fixture(scope="module")
async def bos(nats_settings: NatsSettings) -> AsyncIterator[Bos]:
    settings = BosSettings(
        addr="127.0.0.1:0",
        nats=nats_settings,
        policy=POLICY,
        announce_retry_s=0.2,
        announce_grace_s=0.5,
        unknown_batch_retry_s=0.1,
    )
    running = await start(settings)
    nc, js = await connect_nats(nats_settings, "bos-test")
    await ensure_streams(js, nats_settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    stub = pb_grpc.BatchOrchestratorServiceStub(channel)
    yield Bos(running, stub, nc, js, EventPublisher(js, "essay_lifecycle"))
    await channel.close()
    await running.stop()
    await nc.drain()


def meta(correlation_id: str = "", event_id: str | None = None) -> common_pb2.EventMetadata:
    return new_metadata("essay_lifecycle", correlation_id=correlation_id, event_id=event_id)


def refs(essay_ids: list[str]) -> list[common_pb2.EssayRef]:
    return [
        common_pb2.EssayRef(essay_id=i, text_storage_id=f"text-{i}", original_file_name=f"{i}.txt")
        for i in essay_ids
    ]


def ready_event(
    reg: pb.RegisterBatchResponse, essay_ids: list[str], *, failures: int = 0, **fields: Any
) -> events_pb2.BatchEssaysReady:
    return events_pb2.BatchEssaysReady(
        metadata=meta(reg.correlation_id),
        batch_id=reg.batch_id,
        ready_essays=refs(essay_ids),
        validation_failures=[
            common_pb2.ValidationFailure(
                file_upload_id=f"bad-{n}",
                original_file_name=f"bad-{n}.pdf",
                error_code=common_pb2.VALIDATION_ERROR_CODE_CORRUPT_FILE,
                detail="cannot be parsed",
            )
            for n in range(failures)
        ],
        **fields,
    )


def outcome_event(
    reg: pb.RegisterBatchResponse, processed: list[str], failed: list[str]
) -> events_pb2.ELSBatchPhaseOutcome:
    return events_pb2.ELSBatchPhaseOutcome(
        metadata=meta(reg.correlation_id),
        batch_id=reg.batch_id,
        phase=common_pb2.PHASE_SPELLCHECK,
        processed_essays=refs(processed),
        failed_essay_ids=failed,
    )


async def stored(
    js: JetStreamContext, stream: str, subject: str, message_type: type[M], batch_id: str
) -> list[tuple[dict[str, str], M]]:
    """Every message stored on `subject` for the batch, with its headers."""
    info = await js.stream_info(stream, subjects_filter=subject)
    if not (info.state.subjects or {}).get(subject):
        return []
    found: list[tuple[dict[str, str], M]] = []
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    try:
        while True:
            msg = await sub.next_msg(timeout=5)
            event = message_type.FromString(msg.data)
            if getattr(event, "batch_id", None) == batch_id:
                found.append((dict(msg.headers or {}), event))
            if msg.metadata.num_pending == 0:
                return found
    finally:
        await sub.unsubscribe()


async def commands_for(bos: Bos, batch_id: str) -> list[events_pb2.BatchSpellcheckInitiateCommand]:
    found = await stored(
        bos.js,
        EVENTS_STREAM,
        subjects.BATCH_SPELLCHECK_INITIATE,
        events_pb2.BatchSpellcheckInitiateCommand,
        batch_id,
    )
    return [event for _, event in found]


async def spellchecking(bos: Bos, count: int = 3, **fields: Any) -> pb.RegisterBatchResponse:
    """A registered batch whose essays all became ready, now SPELLCHECKING."""
    reg = await bos.register(count)
    await bos.emit(ready_event(reg, list(reg.essay_ids), **fields))
    await bos.wait_status(reg.batch_id, Status.Value("BATCH_STATUS_SPELLCHECKING"))
    return reg


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


# --- RegisterBatch with a request_id --------------------------------------------------------


def keyed(count: int = 3, **fields: Any) -> pb.RegisterBatchRequest:
    """A RegisterBatch request with a fresh request_id and course code, to send more than once."""
    return pb.RegisterBatchRequest(
        expected_essay_count=count,
        course_code=unique("ENG"),
        language="en",
        request_id=str(uuid.uuid4()),
        **fields,
    )


async def listed(bos: Bos, course_code: str) -> list[str]:
    """The ids of every batch ListBatches shows with this course code, over all pages."""
    found: list[str] = []
    token = ""
    while True:
        page = await bos.stub.ListBatches(
            pb.ListBatchesRequest(page_size=100, page_token=token), timeout=10
        )
        found.extend(b.batch_id for b in page.batches if b.course_code == course_code)
        token = page.next_page_token
        if not token:
            return found


async def announcements(
    bos: Bos, batch_id: str
) -> list[tuple[dict[str, str], events_pb2.BatchEssaysRegistered]]:
    return await stored(
        bos.js,
        EVENTS_STREAM,
        subjects.BATCH_ESSAYS_REGISTERED,
        events_pb2.BatchEssaysRegistered,
        batch_id,
    )


async def test_a_repeated_request_id_returns_the_first_batch_and_registers_nothing(
    bos: Bos,
) -> None:
    request = keyed(3, title="Essays")
    first = await bos.stub.RegisterBatch(request, timeout=10)
    again = await bos.stub.RegisterBatch(request, timeout=10)
    # The same registration with the defaults spelled out is the same request.
    explicit = pb.RegisterBatchRequest()
    explicit.CopyFrom(request)
    explicit.phases.append(common_pb2.PHASE_SPELLCHECK)
    explicit.readiness.CopyFrom(
        common_pb2.ReadinessConfig(timeout_seconds=600, partial_batch_threshold=1.0)
    )
    spelled_out = await bos.stub.RegisterBatch(explicit, timeout=10)

    assert again == first and spelled_out == first
    assert len(set(first.essay_ids)) == 3
    assert first.batch_id == ids_for_request(request.request_id, 3).batch_id
    batch = await bos.batch(first.batch_id)
    assert (list(batch.essay_ids), batch.correlation_id) == (
        list(first.essay_ids),
        first.correlation_id,
    )
    assert await listed(bos, request.course_code) == [first.batch_id]
    [(headers, event)] = await announcements(bos, first.batch_id)
    assert headers[HEADER_MSG_ID] == registered_event_id(first.batch_id)
    assert list(event.essay_ids) == list(first.essay_ids)


async def test_concurrent_calls_with_one_request_id_register_one_batch(bos: Bos) -> None:
    request = keyed(5)
    answers = await asyncio.gather(
        *(bos.stub.RegisterBatch(request, timeout=10) for _ in range(10))
    )
    assert all(answer == answers[0] for answer in answers)
    assert await listed(bos, request.course_code) == [answers[0].batch_id]
    assert len(await announcements(bos, answers[0].batch_id)) == 1


async def test_a_request_id_sent_again_with_other_fields_is_already_exists(bos: Bos) -> None:
    request = keyed(3)
    first = await bos.stub.RegisterBatch(request, timeout=10)
    changed = pb.RegisterBatchRequest()
    changed.CopyFrom(request)
    changed.expected_essay_count = 4
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await bos.stub.RegisterBatch(changed, timeout=10)
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    details = raised.value.details() or ""
    assert details.startswith(f"request_id was already used to register batch {first.batch_id}")
    assert "expected_essay_count was 3, now 4" in details
    assert await listed(bos, request.course_code) == [first.batch_id]
    assert (await bos.batch(first.batch_id)).counts.expected == 3


@pytest.mark.parametrize("written", ["mark", "document", "index key", "announcement"])
async def test_a_retry_finishes_a_registration_cut_off_after_any_write(
    bos: Bos, nats_settings: NatsSettings, written: str
) -> None:
    """The first call wrote KvBatchRepository.add's keys up to `written` (then published the
    announcement, for "announcement") and died; its client asks again with the same request."""
    request = keyed(2)
    ids = ids_for_request(request.request_id, 2)
    first = new_batch(
        validate_registration(batch_request(request), POLICY),
        batch_id=ids.batch_id,
        essay_ids=ids.essay_ids,
        correlation_id=ids.correlation_id,
        now=utc_now(),
    )
    kv = await ensure_kv(bos.js, BUCKET, nats_settings)
    mark = f"{UNANNOUNCED_PREFIX}{first.batch_id}"
    await kv.put(mark, b"")
    if written != "mark":
        await kv.create(first.batch_id, first.SerializeToString(deterministic=True))
    if written in ("index key", "announcement"):
        await kv.create(index_key(first), b"")
    if written == "announcement":
        await publish_registered(EventPublisher(bos.js, PRODUCER), first)

    reply = await bos.stub.RegisterBatch(request, timeout=10)

    assert (reply.batch_id, list(reply.essay_ids), reply.correlation_id) == (
        first.batch_id,
        list(first.essay_ids),
        first.correlation_id,
    )
    batch = await bos.batch(first.batch_id)
    if written != "mark":
        assert batch.created_at == first.created_at  # the stored batch, not a new one
    assert await listed(bos, request.course_code) == [first.batch_id]
    [(headers, event)] = await announcements(bos, first.batch_id)
    assert headers[HEADER_MSG_ID] == registered_event_id(first.batch_id)
    assert list(event.essay_ids) == list(first.essay_ids)
    with pytest.raises(KeyNotFoundError):
        await kv.get(mark)


# --- the `bos` consumer ----------------------------------------------------------------------


async def test_ready_sends_one_command_with_the_ready_essays_even_when_redelivered(
    bos: Bos,
) -> None:
    reg = await bos.register(3)
    ready_ids = list(reg.essay_ids[:2])
    event = ready_event(reg, ready_ids, failures=1)
    await bos.emit(event)
    batch = await bos.wait_status(reg.batch_id, Status.Value("BATCH_STATUS_SPELLCHECKING"))

    [command] = await wait_until(lambda: commands_for(bos, reg.batch_id), message="command")
    assert [e.essay_id for e in command.essays] == ready_ids
    assert [e.text_storage_id for e in command.essays] == [f"text-{i}" for i in ready_ids]
    assert command.language == "en"
    assert command.metadata.event_id == spellcheck_command_id(reg.batch_id)
    assert command.metadata.correlation_id == reg.correlation_id
    assert (batch.counts.assigned, batch.counts.failed_validation) == (2, 1)
    assert batch.validation_failures[0].original_file_name == "bad-0.pdf"

    # The same event redelivered, and the same content under a fresh event id.
    again = events_pb2.BatchEssaysReady()
    again.CopyFrom(event)
    again.metadata.event_id = str(uuid.uuid4())
    await bos.emit(event, redelivery=True)
    await bos.handled(await bos.emit(again))

    assert len(await commands_for(bos, reg.batch_id)) == 1
    after = await bos.batch(reg.batch_id)
    assert after.counts == batch.counts
    assert after.status == batch.status
    assert list(after.ready_essays) == list(batch.ready_essays)


async def test_ready_with_no_essay_fails_without_a_command(bos: Bos) -> None:
    reg = await bos.register(2)
    await bos.handled(await bos.emit(ready_event(reg, [], failures=2)))
    batch = await bos.batch(reg.batch_id)
    assert batch.status == Status.Value("BATCH_STATUS_FAILED")
    assert "no essay could be processed" in batch.failure_reason
    assert batch.counts.failed_validation == 2
    assert await commands_for(bos, reg.batch_id) == []


async def test_readiness_timed_out_fails_the_batch(bos: Bos) -> None:
    reg = await bos.register(4, readiness=common_pb2.ReadinessConfig(partial_batch_threshold=0.75))
    await bos.emit(
        events_pb2.BatchReadinessTimedOut(
            metadata=meta(reg.correlation_id),
            batch_id=reg.batch_id,
            assigned=1,
            failed=1,
            expected=4,
        )
    )
    batch = await bos.wait_status(reg.batch_id, Status.Value("BATCH_STATUS_FAILED"))
    assert "readiness deadline passed with 1 of 4 essays uploaded" in batch.failure_reason
    assert "needs 3 uploaded" in batch.failure_reason
    assert batch.HasField("completed_at")


async def test_excess_content_is_recorded_once(bos: Bos) -> None:
    reg = await bos.register(1)
    event = events_pb2.ExcessContentProvisioned(
        metadata=meta(reg.correlation_id),
        batch_id=reg.batch_id,
        text_storage_id="text-extra",
        original_file_name="extra.docx",
        reason=common_pb2.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT,
        file_upload_id="upload-extra",
    )
    fresh = events_pb2.ExcessContentProvisioned()
    fresh.CopyFrom(event)
    fresh.metadata.event_id = str(uuid.uuid4())
    await bos.emit(event)
    await bos.emit(event, redelivery=True)
    await bos.handled(await bos.emit(fresh))
    batch = await bos.batch(reg.batch_id)
    assert batch.counts.excess == 1
    [item] = batch.excess_content
    assert (item.original_file_name, item.reason) == (
        "extra.docx",
        common_pb2.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT,
    )
    assert batch.status == Status.Value("BATCH_STATUS_AWAITING_CONTENT")


@pytest.mark.parametrize(
    ("ready_fields", "processed", "status"),
    [
        ({}, 3, "COMPLETED"),
        ({}, 2, "COMPLETED_WITH_FAILURES"),
        ({"failures": 1}, 3, "COMPLETED_WITH_FAILURES"),
        ({"missing_count": 1, "partial": True}, 3, "COMPLETED_WITH_FAILURES"),
        ({}, 0, "FAILED"),
    ],
)
async def test_phase_outcome_ends_the_batch(
    bos: Bos, ready_fields: dict[str, Any], processed: int, status: str
) -> None:
    reg = await spellchecking(bos, 3, **ready_fields)
    essays = list(reg.essay_ids)
    event = outcome_event(reg, essays[:processed], essays[processed:])
    await bos.emit(event)
    batch = await bos.wait_status(reg.batch_id, Status.Value(f"BATCH_STATUS_{status}"))
    assert batch.counts.spellchecked == processed
    assert batch.counts.spellcheck_failed == 3 - processed
    assert list(batch.failed_essay_ids) == essays[processed:]
    [phase] = batch.phase_states
    assert [e.essay_id for e in phase.processed_essays] == essays[:processed]
    assert phase.HasField("started_at") and phase.HasField("finished_at")
    assert batch.partial == bool(ready_fields.get("partial"))

    await bos.handled(await bos.emit(event, redelivery=True))  # nothing changes
    assert await bos.batch(reg.batch_id) == batch


async def test_events_for_an_unknown_batch_go_to_the_dlq(bos: Bos) -> None:
    batch_id = str(uuid.uuid4())
    await bos.emit(
        events_pb2.BatchReadinessTimedOut(metadata=meta(), batch_id=batch_id, expected=1)
    )

    async def dead_lettered() -> list[Any]:
        return await stored(
            bos.js,
            DLQ_STREAM,
            subjects.dlq_subject(subjects.BATCH_READINESS_TIMED_OUT),
            events_pb2.BatchReadinessTimedOut,
            batch_id,
        )

    [(headers, _)] = await wait_until(dead_lettered, timeout_s=10, message="DLQ copy")
    assert "no batch with batch_id" in headers["Huleedu-Dlq-Reason"]


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
    watches = bos.running.servicer._watches
    assert len(watches) == 1
    call.cancel()
    await wait_until(lambda: not watches, timeout_s=5, message="watch released")


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
