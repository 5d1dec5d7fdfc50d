"""ELS's part of erasure against fakes of its ports: a batch becomes a tombstone holding ids only,
its contents are erased through the Content Service once even when redelivered, events still in
flight for it erase what they carry, and an erased essay's slot is blanked and ends its phase;
its upload is announced (EssayUploadsErased) once, with the same id however often delivered."""

from __future__ import annotations

import contextlib

from google.protobuf.message import Message

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from huleedu.internal.els.v1 import essay_state_pb2
from services.essay_lifecycle.domain.tracker import slot_holding
from services.essay_lifecycle.entrypoints.event_handlers import EssayLifecycleHandlers
from services.mesh.event_ids import derived_event_id, new_metadata
from tests.harness.coordination_events import (
    essay_requests,
    group_completed,
    new_batch,
    provisioned,
    registered,
    spellcheck_command,
    spellcheck_completed,
    validation_failed,
)
from tests.unit.essay_lifecycle.support import (
    RULES,
    FakeContents,
    FakeDeadlines,
    FakeEssays,
    FakePublisher,
    FakeTrackers,
)

S = common_pb2.EssayStatus


class World:
    def __init__(self) -> None:
        self.trackers, self.essays, self.contents = FakeTrackers(), FakeEssays(), FakeContents()
        self.publisher = FakePublisher()
        self.handlers = EssayLifecycleHandlers(
            self.trackers, self.essays, self.publisher, FakeDeadlines(), self.contents, rules=RULES
        )


def erasure(batch_id: str, *essay_ids: str) -> events_pb2.BatchErasureRequested:
    event = events_pb2.BatchErasureRequested(
        batch_id=batch_id, tenant_id="school-a", essay_ids=list(essay_ids)
    )
    event.metadata.CopyFrom(
        new_metadata(
            "batch_orchestrator",
            correlation_id=batch_id,
            event_id=derived_event_id(batch_id, *essay_ids),
        )
    )
    return event


async def checked_batch(
    world: World, count: int
) -> tuple[str, list[str], list[events_pb2.EssayLifecycleSpellcheckRequest]]:
    batch_id, essay_ids = new_batch(count)
    await world.handlers.on_batch_registered(registered(batch_id, essay_ids))
    for n in range(count):
        await world.handlers.on_upload(provisioned(batch_id, f"{n}.txt"))
    ready = world.publisher.of_type(events_pb2.BatchEssaysReady)[0]
    await world.handlers.on_spellcheck_command(spellcheck_command(ready))
    requests = essay_requests(world.publisher.of_type(events_pb2.SpellcheckGroupRequested))
    return batch_id, essay_ids, requests


async def test_a_batch_becomes_a_tombstone_and_its_contents_are_erased_once() -> None:
    world = World()
    batch_id, essay_ids, requests = await checked_batch(world, 2)
    await world.handlers.on_spellcheck_completed(spellcheck_completed(requests[0]))
    before = await world.trackers.get(batch_id)
    assert before is not None
    held = {
        storage_id
        for slot in before.slots
        for storage_id in (
            slot.essay.raw_storage_id,
            slot.essay.text_storage_id,
            slot.essay.corrected_text_storage_id,
        )
        if storage_id
    }

    event = erasure(batch_id)
    await world.handlers.on_erasure_requested(event)
    await world.handlers.on_erasure_requested(event)  # redelivered: nothing more to erase

    assert world.contents.erased == held
    assert len(world.contents.calls) == 1
    assert world.contents.calls[0][:2] == ("", batch_id)
    tombstone = await world.trackers.get(batch_id)
    assert tombstone is not None and tombstone.erased
    assert list(tombstone.slots) == [] and list(tombstone.pending_erasure) == []
    assert not set(essay_ids) & set(world.essays.records)


async def test_the_raw_bytes_of_uploads_that_found_no_slot_are_erased_with_the_batch() -> None:
    world = World()
    batch_id, _, _ = await checked_batch(world, 1)
    excess = provisioned(batch_id, "essay.docx")  # a .docx: its raw bytes are not its text
    rejected = validation_failed(batch_id, "empty.pdf")
    await world.handlers.on_upload(excess)
    await world.handlers.on_upload(rejected)

    await world.handlers.on_erasure_requested(erasure(batch_id))

    assert {
        excess.raw_storage_id,
        excess.text_storage_id,
        rejected.raw_storage_id,
    } <= world.contents.erased


async def test_events_in_flight_for_an_erased_batch_erase_what_they_stored() -> None:
    world = World()
    batch_id, _, requests = await checked_batch(world, 1)
    await world.handlers.on_erasure_requested(erasure(batch_id))
    published = len(world.publisher.published)

    late_upload = provisioned(batch_id, "late.txt")
    await world.handlers.on_upload(late_upload)
    late_result = spellcheck_completed(requests[0])
    await world.handlers.on_spellcheck_completed(late_result)

    assert {late_upload.raw_storage_id, late_upload.text_storage_id} <= world.contents.erased
    assert late_result.corrected_text_storage_id in world.contents.erased
    assert len(world.publisher.published) == published  # nothing comes back to life
    tombstone = await world.trackers.get(batch_id)
    assert tombstone is not None and tombstone.erased and not tombstone.slots


async def test_an_erasure_cut_off_before_the_content_service_is_finished_by_redelivery() -> None:
    world = World()
    batch_id, _, _ = await checked_batch(world, 1)

    async def unavailable(*_args: object, **_kwargs: object) -> tuple[list[str], list[str]]:
        raise ConnectionError("content service unavailable")

    erase = world.contents.erase
    world.contents.erase = unavailable  # type: ignore[method-assign]
    event = erasure(batch_id)
    with contextlib.suppress(ConnectionError):
        await world.handlers.on_erasure_requested(event)
    pending = await world.trackers.get(batch_id)
    assert pending is not None and pending.erased and len(pending.pending_erasure) == 2

    world.contents.erase = erase  # type: ignore[method-assign]
    await world.handlers.on_erasure_requested(event)
    done = await world.trackers.get(batch_id)
    assert done is not None and list(done.pending_erasure) == []
    assert world.contents.erased == set(pending.pending_erasure)


async def test_an_erased_essay_is_blanked_and_ends_the_phase_it_held_up() -> None:
    world = World()
    batch_id, essay_ids, requests = await checked_batch(world, 2)
    await world.handlers.on_spellcheck_completed(spellcheck_completed(requests[0]))
    waiting = requests[1].essay_id

    await world.handlers.on_erasure_requested(erasure(batch_id, waiting))
    tracker = await world.trackers.get(batch_id)
    assert tracker is not None and not tracker.erased
    slot = next(s for s in tracker.slots if s.essay.essay_id == waiting)
    assert slot.essay.status == S.ESSAY_STATUS_ERASED
    assert not (
        slot.essay.raw_storage_id or slot.essay.text_storage_id or slot.essay.original_file_name
    )
    outcome = world.publisher.of_type(events_pb2.ELSBatchPhaseOutcome)
    assert len(outcome) == 1 and list(outcome[0].failed_essay_ids) == [waiting]
    assert world.essays.records[waiting] == essay_state_pb2.EssayRecord(batch_id=batch_id)

    late = spellcheck_completed(requests[1])
    await world.handlers.on_spellcheck_completed(late)
    assert late.corrected_text_storage_id in world.contents.erased
    other = next(s for s in tracker.slots if s.essay.essay_id != waiting)
    assert other.essay.status == S.ESSAY_STATUS_SPELLCHECKED_SUCCESS
    assert set(essay_ids) == {s.essay.essay_id for s in tracker.slots}


async def test_a_group_result_for_an_erased_essay_erases_it_and_records_the_rest() -> None:
    world = World()
    batch_id, essay_ids, requests = await checked_batch(world, 3)
    erased = requests[1].essay_id
    await world.handlers.on_erasure_requested(erasure(batch_id, erased))
    (group,) = world.publisher.of_type(events_pb2.SpellcheckGroupRequested)
    results = [spellcheck_completed(request) for request in requests]
    answer = group_completed(group, results)
    await world.handlers.on_spellcheck_group_completed(answer)
    await world.handlers.on_spellcheck_group_completed(answer)  # redelivered

    assert results[1].corrected_text_storage_id in world.contents.erased
    assert results[0].corrected_text_storage_id not in world.contents.erased
    tracker = await world.trackers.get(batch_id)
    assert tracker is not None and list(tracker.pending_erasure) == []
    statuses = {s.essay.essay_id: s.essay.status for s in tracker.slots}
    assert statuses == {
        essay_ids[0]: S.ESSAY_STATUS_SPELLCHECKED_SUCCESS,
        erased: S.ESSAY_STATUS_ERASED,
        essay_ids[2]: S.ESSAY_STATUS_SPELLCHECKED_SUCCESS,
    }
    outcomes = world.publisher.of_type(events_pb2.ELSBatchPhaseOutcome)
    assert len({o.metadata.event_id for o in outcomes}) == 1
    assert list(outcomes[-1].failed_essay_ids) == [erased]


async def test_an_erased_essays_upload_is_announced_once_with_ids_only() -> None:
    world = World()
    batch_id, _, requests = await checked_batch(world, 2)
    doomed = requests[0].essay_id
    before = await world.trackers.get(batch_id)
    assert before is not None
    essay = next(s.essay for s in before.slots if s.essay.essay_id == doomed)
    expected = events_pb2.EssayUploadsErased.Upload(
        content_sha256=essay.content_sha256, file_upload_id=essay.file_upload_id
    )

    event = erasure(batch_id, doomed)
    await world.handlers.on_erasure_requested(event)
    await world.handlers.on_erasure_requested(event)  # redelivered: announced already

    [announced] = world.publisher.of_type(events_pb2.EssayUploadsErased)
    assert announced.batch_id == batch_id and list(announced.uploads) == [expected]
    assert announced.metadata.causation_id == event.metadata.event_id
    tracker = await world.trackers.get(batch_id)
    assert tracker is not None and list(tracker.unannounced_erased_uploads) == []
    # the content no longer stands for the erased essay: the same file is not its duplicate
    assert slot_holding(tracker, essay.content_sha256) is None
    kept = next(s.essay for s in tracker.slots if s.essay.essay_id != doomed)
    assert slot_holding(tracker, kept.content_sha256) is not None


async def test_an_announcement_cut_off_is_made_by_the_redelivery_with_the_same_id() -> None:
    world = World()
    batch_id, _, requests = await checked_batch(world, 2)
    event = erasure(batch_id, requests[1].essay_id)
    publish = world.publisher.publish

    async def unavailable(message: Message, **_kwargs: object) -> None:
        if isinstance(message, events_pb2.EssayUploadsErased):
            world.publisher.published.append(message)  # stored, but the ack was lost
            raise ConnectionError("NATS unavailable")
        await publish(message)

    world.publisher.publish = unavailable  # type: ignore[method-assign]
    with contextlib.suppress(ConnectionError):
        await world.handlers.on_erasure_requested(event)
    waiting = await world.trackers.get(batch_id)
    assert waiting is not None and len(waiting.unannounced_erased_uploads) == 1

    world.publisher.publish = publish  # type: ignore[method-assign]
    await world.handlers.on_erasure_requested(event)
    first, second = world.publisher.of_type(events_pb2.EssayUploadsErased)
    assert first.metadata.event_id == second.metadata.event_id  # JetStream keeps one
    assert first.uploads == second.uploads
    done = await world.trackers.get(batch_id)
    assert done is not None and list(done.unannounced_erased_uploads) == []


async def test_a_whole_batchs_erasure_announces_no_uploads() -> None:
    world = World()
    batch_id, _, _ = await checked_batch(world, 2)
    await world.handlers.on_erasure_requested(erasure(batch_id))
    assert world.publisher.of_type(events_pb2.EssayUploadsErased) == []
