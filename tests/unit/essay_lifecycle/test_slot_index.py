"""The slot index and the phase's terminal count: every answer matches a scan of the slots, for
the revision asked about, older ones included; trackers stored before the count still finish."""

from __future__ import annotations

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.essay_lifecycle.domain import derived, erasure, phases
from services.essay_lifecycle.domain.slot_index import SlotIndex, resolved_count
from services.essay_lifecycle.domain.slots import apply_upload, is_known_upload, upload_of
from services.essay_lifecycle.domain.tracker import (
    BatchTracker,
    find_slot,
    first_free_slot,
    missing_count,
)
from tests.harness.coordination_events import (
    essay_requests,
    metadata,
    new_batch,
    provisioned,
    registered,
    spellcheck_command,
    spellcheck_completed,
)
from tests.unit.essay_lifecycle.support import now, register, upload

S = common_pb2.EssayStatus
P = common_pb2.PhaseStatus
R = common_pb2.ExcessContentReason


def batch(
    slots: int, uploads: int
) -> tuple[BatchTracker, list[events_pb2.EssayContentProvisioned]]:
    batch_id, essay_ids = new_batch(slots)
    tracker = register(None, registered(batch_id, essay_ids))
    events = [provisioned(batch_id, f"{index}.txt") for index in range(uploads)]
    for event in events:
        tracker = upload(tracker, event)
    return tracker, events


def copy(tracker: BatchTracker) -> BatchTracker:
    return BatchTracker.FromString(tracker.SerializeToString())


def test_lookups_agree_with_a_scan_as_slots_fill() -> None:
    tracker, events = batch(slots=6, uploads=4)
    index = SlotIndex()
    assert resolved_count(tracker) == 4 and missing_count(tracker) == 2
    free = first_free_slot(tracker)
    assert free is not None and free.essay.essay_id == tracker.slots[4].essay.essay_id
    for stored in (None, tracker):  # before the index saw a stored revision, and after
        if stored is not None:
            index.observe(stored)
        for position, event in enumerate(events):
            slot = index.resolved_by(copy(tracker), event.metadata.event_id)
            assert slot is not None
            assert slot.essay.essay_id == tracker.slots[position].essay.essay_id
        assert index.resolved_by(tracker, "not-an-upload") is None
    for slot in tracker.slots:
        found = index.find(copy(tracker), slot.essay.essay_id)
        assert found is not None and found.essay.essay_id == slot.essay.essay_id
    assert index.find(tracker, "not-an-essay-of-the-batch") is None


def test_an_index_that_saw_a_later_revision_answers_an_older_one_right() -> None:
    """A compare-and-set on a stale copy must see the stale copy's slots, not the index's."""
    older, events = batch(slots=3, uploads=1)
    later = upload(copy(older), provisioned(older.batch_id, "late.txt"))
    index = SlotIndex()
    index.observe(later)
    late_id = later.slots[1].resolved_by_event_id
    assert index.resolved_by(later, late_id) is not None
    assert index.resolved_by(older, late_id) is None
    first = index.resolved_by(older, events[0].metadata.event_id)
    assert first is not None and first.essay.essay_id == older.slots[0].essay.essay_id


def test_a_slot_resolved_on_a_copy_that_lost_its_race_is_not_learnt() -> None:
    """Two instances take the same free slot for different uploads: the loser's copy is never
    stored, and the winner's upload must still be found in that slot."""
    stored, _ = batch(slots=3, uploads=1)
    index = SlotIndex()
    index.observe(stored)
    mine = provisioned(stored.batch_id, "mine.txt")
    theirs = provisioned(stored.batch_id, "theirs.txt")
    losing = upload(copy(stored), mine)
    assert index.resolved_by(losing, mine.metadata.event_id) is not None  # on the copy itself
    winning = upload(copy(stored), theirs)
    slot = index.resolved_by(winning, theirs.metadata.event_id)
    assert slot is not None and slot.essay.essay_id == stored.slots[1].essay.essay_id
    assert index.resolved_by(winning, mine.metadata.event_id) is None
    index.observe(winning)
    assert index.resolved_by(copy(winning), theirs.metadata.event_id) is not None
    assert not is_known_upload(winning, mine.metadata.event_id)


def test_a_redelivered_upload_is_known_after_other_uploads_came_in() -> None:
    tracker, events = batch(slots=5, uploads=3)
    assert all(is_known_upload(copy(tracker), e.metadata.event_id) for e in events)
    change = apply_upload(tracker, upload_of(events[1]), now())
    assert change.tracker is None


def test_two_trackers_of_one_key_still_find_their_own_essays() -> None:
    """Ids reused (as only tests do) must not make an essay look absent."""
    batch_id, first_ids = new_batch(2)
    _, second_ids = new_batch(2)
    event = registered(batch_id, first_ids, event_id="registration")
    first = register(None, event)
    second = register(None, registered(batch_id, second_ids, event_id="registration"))
    second.created_at.CopyFrom(first.created_at)
    assert find_slot(first, first_ids[1]) is not None
    found = find_slot(second, second_ids[1])
    assert found is not None and found.essay.essay_id == second_ids[1]


def phase_of(tracker: BatchTracker) -> phases.PhaseProgress:
    progress = phases.find_phase(tracker, common_pb2.Phase.PHASE_SPELLCHECK)
    assert progress is not None
    return progress


def started(slots: int) -> tuple[BatchTracker, list[events_pb2.EssayLifecycleSpellcheckRequest]]:
    tracker, _ = batch(slots=slots, uploads=slots)
    ready = derived.closing_event(tracker, now())
    assert isinstance(ready, events_pb2.BatchEssaysReady)
    change = phases.apply_spellcheck_command(tracker, spellcheck_command(ready), now())
    assert change.tracker is not None
    tracker = change.tracker
    return tracker, essay_requests(derived.spellcheck_requests(tracker, phase_of(tracker), now()))


def apply_result(
    tracker: BatchTracker, result: events_pb2.EssaySpellcheckCompleted
) -> BatchTracker | None:
    return phases.apply_spellcheck_result(copy(tracker), result, now()).tracker


def test_each_essay_counts_once_however_often_its_result_comes() -> None:
    tracker, requests = started(3)
    assert phase_of(tracker).terminal_essays == 0
    first = spellcheck_completed(requests[0])
    counted = apply_result(tracker, first)
    assert counted is not None and phase_of(counted).terminal_essays == 1
    assert apply_result(counted, first) is None  # redelivered
    other = spellcheck_completed(requests[0], succeed=False)
    other.metadata.event_id = "a-second-result-for-the-same-essay"
    assert apply_result(counted, other) is None  # the table refuses it
    assert phase_of(counted).status == P.PHASE_STATUS_IN_PROGRESS


def test_a_phase_stored_before_the_count_was_kept_still_finishes_once() -> None:
    tracker, requests = started(3)
    tracker = apply_result(tracker, spellcheck_completed(requests[0])) or tracker
    phase_of(tracker).ClearField("terminal_essays")  # as the previous version stored it
    tracker = apply_result(tracker, spellcheck_completed(requests[1])) or tracker
    assert phase_of(tracker).terminal_essays == 2
    assert phase_of(tracker).status == P.PHASE_STATUS_IN_PROGRESS
    last = spellcheck_completed(requests[2])
    tracker = apply_result(tracker, last) or tracker
    progress = phase_of(tracker)
    assert progress.status == P.PHASE_STATUS_COMPLETED
    assert progress.finished_by_event_id == last.metadata.event_id


def test_a_finished_old_phase_without_the_count_stays_finished() -> None:
    tracker, requests = started(1)
    result = spellcheck_completed(requests[0])
    tracker = apply_result(tracker, result) or tracker
    phase_of(tracker).ClearField("terminal_essays")
    assert apply_result(tracker, result) is None
    (outcome,) = derived.events_after_phase_event(tracker, result.metadata.event_id, now())
    assert outcome.status == P.PHASE_STATUS_COMPLETED


def test_erasing_the_last_awaited_essay_ends_the_phase_with_a_recount() -> None:
    tracker, requests = started(2)
    tracker = apply_result(tracker, spellcheck_completed(requests[0])) or tracker
    erase = events_pb2.BatchErasureRequested(
        metadata=metadata("batch_orchestrator", tracker.batch_id),
        batch_id=tracker.batch_id,
        essay_ids=[requests[1].essay_id],
    )
    change = erasure.erase_essays(tracker, erase, now())
    assert change.tracker is not None
    progress = phase_of(change.tracker)
    assert progress.terminal_essays == 2
    assert progress.status == P.PHASE_STATUS_COMPLETED_WITH_FAILURES
    assert progress.finished_by_event_id == erase.metadata.event_id


def excess_reasons(tracker: BatchTracker) -> list[int]:
    return [item.reason for item in tracker.unassigned_uploads]


def test_the_same_content_twice_is_a_duplicate_whether_the_index_saw_it_stored_or_not() -> None:
    for observed in (False, True):
        tracker, events = batch(slots=4, uploads=2)
        index = SlotIndex()
        if observed:
            index.observe(tracker)
        holder = index.holding(copy(tracker), events[1].content_sha256)
        assert holder is not None and holder.essay.essay_id == tracker.slots[1].essay.essay_id
        assert index.holding(tracker, "0" * 64) is None
        again = provisioned(tracker.batch_id, "1.txt")  # the same bytes as events[1], a new id
        tracker = upload(tracker, again)
        assert excess_reasons(tracker) == [R.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT]
        assert not tracker.essay_id_by_sha256, "the map is no longer written"


def test_a_tracker_stored_with_the_sha256_map_deduplicates_and_erases_as_before() -> None:
    tracker, events = batch(slots=3, uploads=2)
    for slot in tracker.slots[:2]:  # as the previous version stored it
        tracker.essay_id_by_sha256[slot.essay.content_sha256] = slot.essay.essay_id
    tracker = upload(tracker, provisioned(tracker.batch_id, "0.txt"))
    assert excess_reasons(tracker) == [R.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT]
    erase = events_pb2.BatchErasureRequested(
        metadata=metadata("batch_orchestrator", tracker.batch_id),
        batch_id=tracker.batch_id,
        essay_ids=[tracker.slots[0].essay.essay_id],
    )
    change = erasure.erase_essays(tracker, erase, now())
    assert change.tracker is not None
    tracker = change.tracker
    assert list(tracker.essay_id_by_sha256) == [events[1].content_sha256]
    # The erased essay's file may come again: it takes the free slot, not a duplicate's place.
    tracker = upload(tracker, provisioned(tracker.batch_id, "0.txt"))
    assert excess_reasons(tracker) == [R.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT]
    assert tracker.slots[2].essay.content_sha256 == events[0].content_sha256
    assert find_slot(tracker, tracker.slots[2].essay.essay_id) is not None


def test_a_batch_evicted_from_the_index_is_still_answered_right() -> None:
    index = SlotIndex(max_batches=1)
    first, first_events = batch(slots=3, uploads=2)
    second, second_events = batch(slots=3, uploads=2)
    for _ in range(2):
        for tracker, events in ((first, first_events), (second, second_events)):
            index.observe(tracker)
            slot = index.resolved_by(tracker, events[1].metadata.event_id)
            assert slot is not None and slot.essay.essay_id == tracker.slots[1].essay.essay_id
            assert index.holding(tracker, events[0].content_sha256) is not None
    assert len(index) == 1
