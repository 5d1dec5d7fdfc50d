"""ELS against a real NATS: slots, duplicates, excess, held uploads, deadlines, phases, gRPC.

ELS runs in-process (one or two instances on the shared durable); the tests publish the events
the File Service, BOS and the Spell Checker would publish, and watch what the stream stores.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

import grpc
import pytest
from google.protobuf.message import Message
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2, essay_service_pb2_grpc
from huleedu.events.v1 import events_pb2
from huleedu.internal.els.v1 import essay_state_pb2
from services.content_service.bootstrap import ContentService
from services.essay_lifecycle.adapters.kv_store import BATCHES_BUCKET, KvTrackerRepository
from services.essay_lifecycle.bootstrap import CONSUMER_DURABLE, PROGRAM, EssayLifecycleApp
from services.essay_lifecycle.domain.ports import Mutation
from services.mesh import subjects
from services.mesh.content_client import ContentClient
from services.mesh.kv import read_document
from services.mesh.publisher import HEADER_MSG_ID, EventPublisher
from services.mesh.settings import NatsSettings
from services.mesh.streams import EVENTS_STREAM, ensure_kv
from tests.harness.coordination_events import (
    essay_requests,
    new_batch,
    provisioned,
    registered,
    spellcheck_command,
    validation_failed,
)
from tests.harness.coordination_harness import EventTap, StubSpellChecker
from tests.integration.test_hostile_grpc_support import els_settings
from tests.support import unique, wait_until

S = common_pb2.EssayStatus
R = common_pb2.ExcessContentReason
NatsJs = tuple[Client, JetStreamContext]


@pytest.fixture
async def els(
    nats_settings: NatsSettings, content: ContentService
) -> AsyncIterator[EssayLifecycleApp]:
    app = await PROGRAM.start(els_settings(nats_settings, content.port))
    yield app
    await app.stop()


@pytest.fixture
async def second_els(
    els: EssayLifecycleApp, nats_settings: NatsSettings, content: ContentService
) -> AsyncIterator[EssayLifecycleApp]:
    """A second instance on the same durable consumer (the first is `els`)."""
    app = await PROGRAM.start(els_settings(nats_settings, content.port))
    yield app
    await app.stop()


@pytest.fixture
def publisher(nats_js: NatsJs) -> EventPublisher:
    return EventPublisher(nats_js[1], "test")


@pytest.fixture
async def essays(
    els: EssayLifecycleApp,
) -> AsyncIterator[essay_service_pb2_grpc.EssayLifecycleServiceAsyncStub]:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{els.port}") as channel:
        yield essay_service_pb2_grpc.EssayLifecycleServiceStub(channel)


async def publish_all(publisher: EventPublisher, events: Sequence[Message]) -> None:
    await asyncio.gather(*(publisher.publish(event) for event in events))


async def one_ready(
    tap: EventTap, batch_id: str, timeout_s: float = 15.0
) -> events_pb2.BatchEssaysReady:
    ready = await wait_until(
        lambda: tap.of(events_pb2.BatchEssaysReady, {batch_id}),
        timeout_s=timeout_s,
        message=f"BatchEssaysReady for {batch_id}",
    )
    return ready[0]


async def test_registration_25_uploads_ready_then_command_sends_one_request_per_registered_id(
    els: EssayLifecycleApp,
    tap: EventTap,
    publisher: EventPublisher,
    essays: essay_service_pb2_grpc.EssayLifecycleServiceAsyncStub,
) -> None:
    batch_id, essay_ids = new_batch(25)
    await publisher.publish(registered(batch_id, essay_ids))
    await publish_all(publisher, [provisioned(batch_id, f"essay{i}.txt") for i in range(25)])
    ready = await one_ready(tap, batch_id)
    assert sorted(e.essay_id for e in ready.ready_essays) == sorted(essay_ids)
    assert len({e.text_storage_id for e in ready.ready_essays}) == 25
    assert not ready.partial and ready.missing_count == 0

    await publisher.publish(spellcheck_command(ready))
    requests = await wait_until(
        lambda: (
            len(essay_requests(tap.of(events_pb2.SpellcheckGroupRequested, {batch_id}))) >= 25
            and essay_requests(tap.of(events_pb2.SpellcheckGroupRequested, {batch_id}))
        ),
        message="25 spell-check requests",
    )
    assert sorted(r.essay_id for r in requests) == sorted(essay_ids)
    assert {r.language for r in requests} == {"en"}
    mentioned = {getattr(event, "essay_id", None) for _, _, event in tap.received} | {
        e.essay_id for e in ready.ready_essays
    }
    assert mentioned - {None} <= set(essay_ids) | _foreign_essay_ids(tap, batch_id)
    listed = await essays.ListBatchEssays(
        essay_service_pb2.ListBatchEssaysRequest(batch_id=batch_id)
    )
    assert [e.essay_id for e in listed.essays] == essay_ids
    assert {e.status for e in listed.essays} == {S.ESSAY_STATUS_AWAITING_SPELLCHECK}


def _foreign_essay_ids(tap: EventTap, batch_id: str) -> set[str]:
    """Essay ids of other tests' batches seen on the shared stream."""
    return {
        event.essay_id  # type: ignore[attr-defined]
        for _, _, event in tap.received
        if getattr(event, "essay_id", None) and getattr(event, "batch_id", None) != batch_id
    }


@pytest.mark.parametrize("deliveries", [1, 2], ids=["once", "twice"])
async def test_forty_uploads_on_two_instances_fill_forty_distinct_slots(
    second_els: EssayLifecycleApp,
    nats_js: NatsJs,
    tap: EventTap,
    essays: essay_service_pb2_grpc.EssayLifecycleServiceAsyncStub,
    deliveries: int,
) -> None:
    publisher = EventPublisher(nats_js[1], "test")
    batch_id, essay_ids = new_batch(40)
    await publisher.publish(registered(batch_id, essay_ids))
    await wait_until(lambda: _registered(essays, batch_id), message="registration applied")
    uploads = [provisioned(batch_id, f"essay{i}.txt") for i in range(40)]
    copies = [
        publisher.publish(event, headers={HEADER_MSG_ID: f"{event.metadata.event_id}#{copy}"})
        for event in uploads
        for copy in range(deliveries)
    ]
    await asyncio.gather(
        *copies
    )  # each copy is stored: ELS really gets every event `deliveries` times
    ready = await one_ready(tap, batch_id)
    assert sorted(e.essay_id for e in ready.ready_essays) == sorted(essay_ids)
    assert len({e.text_storage_id for e in ready.ready_essays}) == 40
    listed = await essays.ListBatchEssays(
        essay_service_pb2.ListBatchEssaysRequest(batch_id=batch_id)
    )
    assert sorted(e.content_sha256 for e in listed.essays) == sorted(
        u.content_sha256 for u in uploads
    )
    await wait_until(lambda: els_idle(nats_js[1]), message="every copy handled")
    assert tap.of(events_pb2.ExcessContentProvisioned, {batch_id}) == []
    assert list(tap.id_counts(events_pb2.BatchEssaysReady, {batch_id}).values()) == [1]


async def els_idle(js: JetStreamContext) -> bool:
    """True when the `els` consumer has nothing pending and nothing unanswered."""
    info = await js.consumer_info(EVENTS_STREAM, CONSUMER_DURABLE)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def _registered(
    stub: essay_service_pb2_grpc.EssayLifecycleServiceAsyncStub, batch_id: str
) -> bool:
    try:
        await stub.ListBatchEssays(essay_service_pb2.ListBatchEssaysRequest(batch_id=batch_id))
    except grpc.aio.AioRpcError as error:
        assert error.code() == grpc.StatusCode.NOT_FOUND
        return False
    return True


async def test_duplicate_content_and_a_sixth_file_for_five_slots_are_reported_not_lost(
    els: EssayLifecycleApp, tap: EventTap, publisher: EventPublisher
) -> None:
    batch_id, essay_ids = new_batch(5)
    await publisher.publish(registered(batch_id, essay_ids))
    await publisher.publish(provisioned(batch_id, "a.txt", body="same bytes"))
    await publisher.publish(provisioned(batch_id, "a (copy).txt", body="same bytes"))
    await publish_all(publisher, [provisioned(batch_id, f"{i}.txt") for i in range(4)])
    ready = await one_ready(tap, batch_id)
    assert len(ready.ready_essays) == 5
    await publisher.publish(provisioned(batch_id, "sixth.txt"))
    excess = await wait_until(
        lambda: (
            len(tap.of(events_pb2.ExcessContentProvisioned, {batch_id})) == 2
            and tap.of(events_pb2.ExcessContentProvisioned, {batch_id})
        ),
        message="two excess events",
    )
    reasons = {e.original_file_name: e.reason for e in excess}
    # Both copies race for a slot; whichever loses is the duplicate.
    duplicate = next(name for name in reasons if name.startswith("a"))
    assert reasons == {
        duplicate: R.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT,
        "sixth.txt": R.EXCESS_CONTENT_REASON_NO_FREE_SLOT,
    }
    assert {e.original_file_name for e in ready.ready_essays} & {"a.txt", "a (copy).txt"} == (
        {"a.txt", "a (copy).txt"} - {duplicate}
    )
    assert all(e.text_storage_id for e in excess)


async def test_uploads_before_registration_wait_and_are_assigned_in_arrival_order(
    els: EssayLifecycleApp,
    tap: EventTap,
    publisher: EventPublisher,
    essays: essay_service_pb2_grpc.EssayLifecycleServiceAsyncStub,
    nats_js: NatsJs,
) -> None:
    batch_id, essay_ids = new_batch(4)
    early = [
        provisioned(batch_id, "first.txt"),
        validation_failed(batch_id, "second.txt"),
        provisioned(batch_id, "third.txt"),
    ]
    for event in early:  # one at a time: arrival order is the order of the stream
        await publisher.publish(event)
    kv = await nats_js[1].key_value(BATCHES_BUCKET)

    async def three_held() -> bool:
        found = await read_document(kv, batch_id, essay_state_pb2.BatchTracker)
        return found is not None and len(found[0].held_uploads) == 3

    await wait_until(three_held, message="three uploads held")
    assert await _ttl_header(nats_js[1], batch_id) == "3600"  # held uploads expire (1 h)
    await publisher.publish(registered(batch_id, essay_ids))
    await wait_until(lambda: _registered(essays, batch_id), message="registration applied")
    assert await _ttl_header(nats_js[1], batch_id) is None  # a registered batch is kept
    listed = await essays.ListBatchEssays(
        essay_service_pb2.ListBatchEssaysRequest(batch_id=batch_id)
    )
    assert [e.original_file_name for e in listed.essays] == [
        "first.txt",
        "second.txt",
        "third.txt",
        "",
    ]
    assert [e.status for e in listed.essays] == [
        S.ESSAY_STATUS_READY_FOR_PROCESSING,
        S.ESSAY_STATUS_VALIDATION_FAILED,
        S.ESSAY_STATUS_READY_FOR_PROCESSING,
        S.ESSAY_STATUS_AWAITING_CONTENT,
    ]
    await publisher.publish(provisioned(batch_id, "fourth.txt"))
    ready = await one_ready(tap, batch_id)
    assert [e.original_file_name for e in ready.ready_essays] == [
        "first.txt",
        "third.txt",
        "fourth.txt",
    ]
    assert [f.original_file_name for f in ready.validation_failures] == ["second.txt"]


async def _ttl_header(js: JetStreamContext, batch_id: str) -> str | None:
    """The Nats-TTL header of the tracker's stored revision (None: it never expires)."""
    stored = await js.get_last_msg(f"KV_{BATCHES_BUCKET}", f"$KV.{BATCHES_BUCKET}.{batch_id}")
    return (stored.headers or {}).get("Nats-TTL")


async def test_uploads_for_a_batch_never_registered_expire_with_its_tracker(
    nats_settings: NatsSettings, publisher: EventPublisher, nats_js: NatsJs, content: ContentService
) -> None:
    settings = els_settings(nats_settings, content.port, unregistered_hold_s=1.0)
    app = await PROGRAM.start(settings)
    try:
        batch_id, _ = new_batch(2)
        await publisher.publish(provisioned(batch_id, "orphan.txt"))
        kv = await nats_js[1].key_value(BATCHES_BUCKET)

        async def tracker() -> essay_state_pb2.BatchTracker | None:
            found = await read_document(kv, batch_id, essay_state_pb2.BatchTracker)
            return None if found is None else found[0]

        async def held() -> bool:
            found = await tracker()
            return found is not None and len(found.held_uploads) == 1

        async def gone() -> bool:
            return await tracker() is None

        await wait_until(held, message="the upload held")
        await wait_until(gone, timeout_s=30, message="the held upload expired")
    finally:
        await app.stop()


async def test_deadline_above_threshold_is_partial_ready_fires_once_on_two_instances_then_closed(
    second_els: EssayLifecycleApp,
    tap: EventTap,
    publisher: EventPublisher,
) -> None:
    batch_id, essay_ids = new_batch(4)
    await publisher.publish(registered(batch_id, essay_ids, timeout_s=2, threshold=0.5))
    await publish_all(publisher, [provisioned(batch_id, f"{i}.txt") for i in range(2)])
    ready = await one_ready(tap, batch_id, timeout_s=10)
    assert ready.partial and ready.missing_count == 2 and len(ready.ready_essays) == 2
    fired = tap.of(
        events_pb2.BatchReadinessDeadlineReached,
        {batch_id},
        subject=subjects.BATCH_READINESS_DEADLINE,
    )
    assert len(fired) == 1
    await publisher.publish(provisioned(batch_id, "late.txt"))
    (late,) = await wait_until(
        lambda: tap.of(events_pb2.ExcessContentProvisioned, {batch_id}), message="late excess"
    )
    assert late.reason == R.EXCESS_CONTENT_REASON_BATCH_CLOSED
    assert list(tap.id_counts(events_pb2.BatchEssaysReady, {batch_id}).values()) == [1]
    assert tap.of(events_pb2.BatchReadinessTimedOut, {batch_id}) == []


async def test_deadline_below_threshold_times_the_batch_out(
    els: EssayLifecycleApp, tap: EventTap, publisher: EventPublisher
) -> None:
    batch_id, essay_ids = new_batch(4)
    await publisher.publish(registered(batch_id, essay_ids, timeout_s=2, threshold=0.75))
    await publish_all(
        publisher, [provisioned(batch_id, "a.txt"), validation_failed(batch_id, "b.txt")]
    )
    (timed_out,) = await wait_until(
        lambda: tap.of(events_pb2.BatchReadinessTimedOut, {batch_id}),
        timeout_s=10,
        message="BatchReadinessTimedOut",
    )
    assert (timed_out.assigned, timed_out.failed, timed_out.expected) == (1, 1, 4)
    assert tap.of(events_pb2.BatchEssaysReady, {batch_id}) == []


async def test_get_essay_and_list_batch_essays_show_states_timeline_and_corrections(
    tap: EventTap,
    publisher: EventPublisher,
    essays: essay_service_pb2_grpc.EssayLifecycleServiceAsyncStub,
    nats_js: NatsJs,
    content: ContentService,
) -> None:
    # What the Spell Checker stores for an essay; its completion carries only the storage id.
    found = common_pb2.SpellcheckDetails(unknown_words=["qwzx"])
    found.corrections.add(offset=0, length=3, original="teh", replacement="the")
    client = ContentClient(f"127.0.0.1:{content.port}")
    details_id = await client.put(
        found.SerializeToString(deterministic=True),
        common_pb2.CONTENT_KIND_SPELLCHECK_DETAILS,
        "application/x-protobuf",
        tenant="",
    )
    await client.close()
    batch_id, essay_ids = new_batch(3)
    await publisher.publish(registered(batch_id, essay_ids))
    await publish_all(
        publisher,
        [
            provisioned(batch_id, "good.txt"),
            provisioned(batch_id, "bad-luck.txt"),
            validation_failed(batch_id, "empty.txt"),
        ],
    )
    ready = await one_ready(tap, batch_id)
    fails = {e.essay_id for e in ready.ready_essays if e.original_file_name == "bad-luck.txt"}
    stub = StubSpellChecker(
        nats_js[1], fails=lambda request: request.essay_id in fails, details_storage_id=details_id
    )
    await stub.start()
    try:
        await publisher.publish(spellcheck_command(ready))
        (outcome,) = await wait_until(
            lambda: tap.of(events_pb2.ELSBatchPhaseOutcome, {batch_id}), message="phase outcome"
        )
    finally:
        await stub.stop()
    assert outcome.status == common_pb2.PhaseStatus.PHASE_STATUS_COMPLETED_WITH_FAILURES
    assert list(outcome.failed_essay_ids) == sorted(fails)

    by_name = {e.original_file_name: e.essay_id for e in ready.ready_essays}
    good = (
        await essays.GetEssay(essay_service_pb2.GetEssayRequest(essay_id=by_name["good.txt"]))
    ).essay
    assert good.status == S.ESSAY_STATUS_SPELLCHECKED_SUCCESS and good.batch_id == batch_id
    assert [c.status for c in good.timeline] == [
        S.ESSAY_STATUS_AWAITING_CONTENT,
        S.ESSAY_STATUS_READY_FOR_PROCESSING,
        S.ESSAY_STATUS_AWAITING_SPELLCHECK,
        S.ESSAY_STATUS_SPELLCHECKED_SUCCESS,
    ]
    assert all(c.at.seconds > 0 for c in good.timeline)
    assert good.corrected_text_storage_id and good.correction_count == 1
    assert [(c.original, c.replacement) for c in good.corrections] == [("teh", "the")]
    assert list(good.unknown_words) == ["qwzx"] and good.spellcheck_details_storage_id == details_id
    bad = (
        await essays.GetEssay(essay_service_pb2.GetEssayRequest(essay_id=by_name["bad-luck.txt"]))
    ).essay
    assert bad.status == S.ESSAY_STATUS_SPELLCHECK_FAILED and "on purpose" in bad.failure_reason

    listed = await essays.ListBatchEssays(
        essay_service_pb2.ListBatchEssaysRequest(batch_id=batch_id)
    )
    assert {e.batch_id for e in listed.essays} == {batch_id}
    (empty,) = [e for e in listed.essays if e.original_file_name == "empty.txt"]
    assert empty.status == S.ESSAY_STATUS_VALIDATION_FAILED
    assert empty.error_code == common_pb2.ValidationErrorCode.VALIDATION_ERROR_CODE_EMPTY_CONTENT
    assert empty.failure_reason == "empty.txt has no text"

    for call, request, code in [
        (essays.GetEssay, essay_service_pb2.GetEssayRequest(essay_id="no-such-essay"), "NOT_FOUND"),
        (essays.GetEssay, essay_service_pb2.GetEssayRequest(), "INVALID_ARGUMENT"),
        (
            essays.ListBatchEssays,
            essay_service_pb2.ListBatchEssaysRequest(batch_id="nope"),
            "NOT_FOUND",
        ),
    ]:
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await call(request)  # type: ignore[operator]
        assert raised.value.code().name == code


async def test_a_command_for_a_batch_els_never_saw_goes_to_the_dlq(
    els: EssayLifecycleApp, publisher: EventPublisher, nats_js: NatsJs
) -> None:
    dlq = EventTap(nats_js[1], subject="dlq.huleedu.bos.>")
    await dlq.start()
    try:
        batch_id, _ = new_batch(1)
        command = spellcheck_command(events_pb2.BatchEssaysReady(batch_id=batch_id))
        await publisher.publish(command)
        await wait_until(
            lambda: dlq.of(events_pb2.BatchSpellcheckInitiateCommand, {batch_id}),
            message="command in the DLQ",
        )
    finally:
        await dlq.stop()


async def test_concurrent_updates_of_one_batch_are_written_together_and_fail_alone(
    nats_js: NatsJs, nats_settings: NatsSettings
) -> None:
    trackers = KvTrackerRepository(await ensure_kv(nats_js[1], BATCHES_BUCKET, nats_settings))
    batch_id = unique("batch")

    def add_slot(number: int) -> Mutation:
        def mutate(doc: essay_state_pb2.BatchTracker | None) -> essay_state_pb2.BatchTracker:
            if number == 7:
                raise ValueError("event 7 is bad")
            tracker = doc or essay_state_pb2.BatchTracker(batch_id=batch_id)
            tracker.slots.add().essay.essay_id = f"e{number}"
            return tracker

        return mutate

    outcomes = await asyncio.gather(
        *(trackers.update(batch_id, add_slot(n)) for n in range(20)), return_exceptions=True
    )
    assert [str(o) for o in outcomes if isinstance(o, Exception)] == ["event 7 is bad"]
    stored = await trackers.get(batch_id)
    assert stored is not None
    assert sorted(s.essay.essay_id for s in stored.slots) == sorted(
        f"e{n}" for n in range(20) if n != 7
    )
