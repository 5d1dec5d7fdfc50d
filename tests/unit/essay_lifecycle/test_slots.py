"""Slot assignment, held uploads, duplicates and excess, on the pure domain."""

from __future__ import annotations

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from huleedu.internal.els.v1 import essay_state_pb2
from services.essay_lifecycle.domain import derived, readiness
from services.essay_lifecycle.domain.slots import apply_registration, apply_upload, upload_of
from services.essay_lifecycle.domain.tracker import BatchTracker
from tests.harness.coordination_events import new_batch, provisioned, registered, validation_failed
from tests.unit.essay_lifecycle.support import RULES, now, register, upload

S = common_pb2.EssayStatus
R = common_pb2.ExcessContentReason
Closure = essay_state_pb2.BatchClosure


def test_registration_makes_one_awaiting_slot_per_essay_id() -> None:
    batch_id, essay_ids = new_batch(3)
    tracker = register(None, registered(batch_id, essay_ids, timeout_s=60))
    assert [s.essay.essay_id for s in tracker.slots] == essay_ids
    assert all(s.essay.status == S.ESSAY_STATUS_AWAITING_CONTENT for s in tracker.slots)
    assert [c.status for c in tracker.slots[0].essay.timeline] == [S.ESSAY_STATUS_AWAITING_CONTENT]
    assert tracker.readiness.timeout_seconds == 60
    assert tracker.deadline.seconds > tracker.registered_at.seconds + 50


def test_registration_without_readiness_takes_the_defaults() -> None:
    batch_id, essay_ids = new_batch(2)
    event = registered(batch_id, essay_ids)
    event.ClearField("readiness")
    event.ClearField("deadline")
    tracker = register(None, event)
    assert tracker.readiness.timeout_seconds == 600
    assert tracker.readiness.partial_batch_threshold == 1.0
    assert 599 <= tracker.deadline.seconds - tracker.registered_at.seconds <= 601


def test_registered_twice_changes_nothing() -> None:
    batch_id, essay_ids = new_batch(2)
    event = registered(batch_id, essay_ids)
    tracker = register(None, event)
    assert apply_registration(tracker, event, RULES, now()).tracker is None


def test_uploads_fill_slots_in_order_and_the_last_makes_the_batch_ready() -> None:
    batch_id, essay_ids = new_batch(2)
    tracker = register(None, registered(batch_id, essay_ids))
    first = provisioned(batch_id, "a.txt")
    tracker = upload(tracker, first)
    assert tracker.slots[0].essay.status == S.ESSAY_STATUS_READY_FOR_PROCESSING
    assert tracker.slots[0].essay.text_storage_id == first.text_storage_id
    assert tracker.closure == Closure.BATCH_CLOSURE_UNSPECIFIED
    last = provisioned(batch_id, "b.txt")
    tracker = upload(tracker, last)
    assert tracker.closure == Closure.BATCH_CLOSURE_READY
    assert tracker.closed_by_event_id == last.metadata.event_id
    events = derived.readiness_events(tracker, last.metadata.event_id, now())
    assert len(events) == 1
    ready = events[0]
    assert isinstance(ready, events_pb2.BatchEssaysReady)
    assert [e.essay_id for e in ready.ready_essays] == essay_ids
    assert not ready.partial and ready.missing_count == 0
    assert derived.readiness_events(tracker, first.metadata.event_id, now()) == []


def test_a_redelivered_upload_changes_nothing_and_derives_the_same_event_id() -> None:
    batch_id, essay_ids = new_batch(1)
    tracker = register(None, registered(batch_id, essay_ids))
    event = provisioned(batch_id, "a.txt")
    tracker = upload(tracker, event)
    assert apply_upload(tracker, upload_of(event), now()).tracker is None
    again = derived.readiness_events(tracker, event.metadata.event_id, now())
    first = derived.readiness_events(tracker, event.metadata.event_id, now())
    assert [e.metadata.event_id for e in again] == [e.metadata.event_id for e in first]


def test_same_content_twice_is_duplicate_content_not_a_second_slot() -> None:
    batch_id, essay_ids = new_batch(3)
    tracker = register(None, registered(batch_id, essay_ids))
    tracker = upload(tracker, provisioned(batch_id, "a.txt", body="same"))
    again = provisioned(batch_id, "a-copy.txt", body="same")
    tracker = upload(tracker, again)
    assert sum(1 for s in tracker.slots if s.resolved_by_event_id) == 1
    (excess,) = derived.readiness_events(tracker, again.metadata.event_id, now())
    assert isinstance(excess, events_pb2.ExcessContentProvisioned)
    assert excess.reason == R.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT
    assert excess.original_file_name == "a-copy.txt"


def test_six_files_into_five_slots_reports_the_sixth_as_no_free_slot() -> None:
    batch_id, essay_ids = new_batch(5)
    tracker = register(None, registered(batch_id, essay_ids))
    for index in range(5):
        tracker = upload(tracker, provisioned(batch_id, f"{index}.txt"))
    assert tracker.closure == Closure.BATCH_CLOSURE_READY
    sixth = provisioned(batch_id, "6.txt")
    tracker = upload(tracker, sixth)
    (excess,) = derived.readiness_events(tracker, sixth.metadata.event_id, now())
    assert isinstance(excess, events_pb2.ExcessContentProvisioned)
    assert excess.reason == R.EXCESS_CONTENT_REASON_NO_FREE_SLOT


def test_an_upload_after_the_deadline_closed_the_batch_is_batch_closed() -> None:
    batch_id, essay_ids = new_batch(2)
    tracker = register(None, registered(batch_id, essay_ids, threshold=0.5))
    tracker = upload(tracker, provisioned(batch_id, "a.txt"))
    deadline = events_pb2.BatchReadinessDeadlineReached(batch_id=batch_id)
    deadline.metadata.event_id = "deadline"
    change = readiness.apply_deadline(tracker, deadline, now())
    assert change.tracker is not None
    assert change.tracker.closure == Closure.BATCH_CLOSURE_PARTIAL_READY
    late = provisioned(batch_id, "late.txt")
    tracker = upload(change.tracker, late)
    (excess,) = derived.readiness_events(tracker, late.metadata.event_id, now())
    assert isinstance(excess, events_pb2.ExcessContentProvisioned)
    assert excess.reason == R.EXCESS_CONTENT_REASON_BATCH_CLOSED
    assert tracker.slots[1].essay.status == S.ESSAY_STATUS_AWAITING_CONTENT


def test_no_free_slot_while_open_needs_a_failed_slot_still_pending() -> None:
    # Two slots, both taken by held content of a registration processed later: a third held
    # upload is NO_FREE_SLOT when the registration assigns them in arrival order.
    batch_id, essay_ids = new_batch(2)
    tracker: BatchTracker | None = None
    held = [provisioned(batch_id, f"{i}.txt") for i in range(3)]
    for event in held:
        tracker = upload(tracker, event)
    assert tracker is not None and not tracker.registered and len(tracker.held_uploads) == 3
    registration = registered(batch_id, essay_ids)
    tracker = register(tracker, registration)
    assert [s.essay.file_upload_id for s in tracker.slots] == [
        held[0].file_upload_id,
        held[1].file_upload_id,
    ]
    events = derived.readiness_events(tracker, registration.metadata.event_id, now())
    kinds = [type(e).__name__ for e in events]
    assert kinds == ["ExcessContentProvisioned", "BatchEssaysReady"]
    excess = events[0]
    assert isinstance(excess, events_pb2.ExcessContentProvisioned)
    assert excess.reason == R.EXCESS_CONTENT_REASON_NO_FREE_SLOT
    assert excess.file_upload_id == held[2].file_upload_id


def test_validation_failures_resolve_one_slot_each_and_are_listed_when_ready() -> None:
    batch_id, essay_ids = new_batch(5)
    tracker = register(None, registered(batch_id, essay_ids))
    for index in range(3):
        tracker = upload(tracker, provisioned(batch_id, f"good{index}.txt"))
    tracker = upload(tracker, validation_failed(batch_id, "bad0.txt"))
    same_bad = validation_failed(batch_id, "bad0-again.txt", body=f"{batch_id}/bad0.txt")
    tracker = upload(tracker, same_bad)
    assert tracker.closure == Closure.BATCH_CLOSURE_UNSPECIFIED  # the repeat resolved nothing
    last = validation_failed(batch_id, "bad1.txt")
    tracker = upload(tracker, last)
    ready = derived.closing_event(tracker, now())
    assert isinstance(ready, events_pb2.BatchEssaysReady)
    assert len(ready.ready_essays) == 3
    assert [f.original_file_name for f in ready.validation_failures] == ["bad0.txt", "bad1.txt"]
    assert all(f.essay_id in essay_ids for f in ready.validation_failures)


def test_a_batch_whose_every_file_failed_is_still_ready_with_no_essays() -> None:
    batch_id, essay_ids = new_batch(2)
    tracker = register(None, registered(batch_id, essay_ids))
    tracker = upload(tracker, validation_failed(batch_id, "a.txt"))
    tracker = upload(tracker, validation_failed(batch_id, "b.txt"))
    ready = derived.closing_event(tracker, now())
    assert isinstance(ready, events_pb2.BatchEssaysReady)
    assert len(ready.ready_essays) == 0 and len(ready.validation_failures) == 2


def test_uploads_held_before_registration_are_assigned_in_arrival_order() -> None:
    batch_id, essay_ids = new_batch(3)
    tracker: BatchTracker | None = None
    held = [provisioned(batch_id, "x.txt"), validation_failed(batch_id, "y.txt")]
    for event in held:
        tracker = upload(tracker, event)
    assert tracker is not None
    assert apply_upload(tracker, upload_of(held[0]), now()).tracker is None  # redelivery
    tracker = register(tracker, registered(batch_id, essay_ids))
    statuses = [s.essay.status for s in tracker.slots]
    assert statuses == [
        S.ESSAY_STATUS_READY_FOR_PROCESSING,
        S.ESSAY_STATUS_VALIDATION_FAILED,
        S.ESSAY_STATUS_AWAITING_CONTENT,
    ]
    assert len(tracker.held_uploads) == 0
