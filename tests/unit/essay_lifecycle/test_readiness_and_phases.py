"""Deadlines, the spell-check phase and the transition table, on the pure domain."""

from __future__ import annotations

from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2
from huleedu.events.v1 import events_pb2
from huleedu.internal.els.v1 import essay_state_pb2
from services.essay_lifecycle.domain import derived, group_results, phases, readiness
from services.essay_lifecycle.domain.tracker import BatchTracker
from services.essay_lifecycle.domain.transitions import TRANSITIONS, is_allowed, transition
from tests.harness.coordination_events import (
    essay_requests,
    group_completed,
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
Closure = essay_state_pb2.BatchClosure


def deadline_event(batch_id: str) -> events_pb2.BatchReadinessDeadlineReached:
    return events_pb2.BatchReadinessDeadlineReached(
        metadata=metadata("essay_lifecycle", batch_id), batch_id=batch_id
    )


def batch_with(assigned: int, slots: int, threshold: float) -> BatchTracker:
    batch_id, essay_ids = new_batch(slots)
    tracker = register(None, registered(batch_id, essay_ids, threshold=threshold))
    for index in range(assigned):
        tracker = upload(tracker, provisioned(batch_id, f"{index}.txt"))
    return tracker


def test_deadline_at_or_above_threshold_makes_a_partial_ready_batch() -> None:
    tracker = batch_with(assigned=4, slots=5, threshold=0.8)
    event = deadline_event(tracker.batch_id)
    change = readiness.apply_deadline(tracker, event, now())
    assert change.tracker is not None
    (ready,) = derived.readiness_events(change.tracker, event.metadata.event_id, now())
    assert isinstance(ready, events_pb2.BatchEssaysReady)
    assert ready.partial and ready.missing_count == 1 and len(ready.ready_essays) == 4


def test_deadline_below_threshold_times_the_batch_out() -> None:
    tracker = batch_with(assigned=3, slots=5, threshold=0.8)
    event = deadline_event(tracker.batch_id)
    change = readiness.apply_deadline(tracker, event, now())
    assert change.tracker is not None
    (timed_out,) = derived.readiness_events(change.tracker, event.metadata.event_id, now())
    assert isinstance(timed_out, events_pb2.BatchReadinessTimedOut)
    assert (timed_out.assigned, timed_out.failed, timed_out.expected) == (3, 0, 5)
    assert "below the partial threshold" in timed_out.reason


def test_deadline_of_a_closed_batch_changes_nothing() -> None:
    tracker = batch_with(assigned=2, slots=2, threshold=1.0)
    assert tracker.closure == Closure.BATCH_CLOSURE_READY
    event = deadline_event(tracker.batch_id)
    assert readiness.apply_deadline(tracker, event, now()).tracker is None
    assert derived.readiness_events(tracker, event.metadata.event_id, now()) == []


def ready_batch(slots: int) -> tuple[BatchTracker, events_pb2.BatchEssaysReady]:
    tracker = batch_with(assigned=slots, slots=slots, threshold=1.0)
    ready = derived.closing_event(tracker, now())
    assert isinstance(ready, events_pb2.BatchEssaysReady)
    return tracker, ready


def start_groups(
    slots: int, group_size: int = derived.SPELLCHECK_GROUP_SIZE
) -> tuple[BatchTracker, list[events_pb2.SpellcheckGroupRequested]]:
    tracker, ready = ready_batch(slots)
    command = spellcheck_command(ready)
    change = phases.apply_spellcheck_command(tracker, command, now())
    assert change.tracker is not None and change.refused == ()
    progress = phases.find_phase(change.tracker, common_pb2.Phase.PHASE_SPELLCHECK)
    assert progress is not None
    return change.tracker, derived.spellcheck_requests(change.tracker, progress, now(), group_size)


def start_phase(
    slots: int,
) -> tuple[BatchTracker, list[events_pb2.EssayLifecycleSpellcheckRequest]]:
    tracker, groups = start_groups(slots)
    return tracker, essay_requests(groups)


def test_command_sends_each_ready_essay_once_with_deterministic_ids() -> None:
    tracker, requests = start_phase(3)
    assert [r.essay_id for r in requests] == [s.essay.essay_id for s in tracker.slots]
    assert all(s.essay.status == S.ESSAY_STATUS_AWAITING_SPELLCHECK for s in tracker.slots)
    assert len({r.metadata.event_id for r in requests}) == 1  # one group of three
    _, again = start_phase_again(tracker)
    assert [r.metadata.event_id for r in again] == [r.metadata.event_id for r in requests]


def test_a_batch_goes_in_the_fewest_groups_of_even_size() -> None:
    tracker, groups = start_groups(25, group_size=10)
    assert [len(g.essays) for g in groups] == [9, 8, 8]
    essay_ids = [e.essay_id for g in groups for e in g.essays]
    assert essay_ids == [s.essay.essay_id for s in tracker.slots]
    assert len({g.metadata.event_id for g in groups}) == 3
    assert {g.language for g in groups} == {"en"}
    assert derived.spellcheck_groups(["a", "b", "c", "d"], 4) == [["a", "b", "c", "d"]]
    assert derived.spellcheck_groups(["a", "b", "c"], 1) == [["a"], ["b"], ["c"]]
    assert derived.spellcheck_groups([], 16) == []


def test_a_resent_group_names_only_the_essays_still_awaiting_under_the_same_id() -> None:
    tracker, groups = start_groups(4, group_size=2)
    first = essay_requests(groups[:1])
    tracker = finish(tracker, [spellcheck_completed(first[0])])
    progress = phases.find_phase(tracker, common_pb2.Phase.PHASE_SPELLCHECK)
    assert progress is not None
    again = derived.spellcheck_requests(tracker, progress, now(), 2)
    assert [g.metadata.event_id for g in again] == [g.metadata.event_id for g in groups]
    assert [e.essay_id for e in again[0].essays] == [first[1].essay_id]
    assert again[1].essays == groups[1].essays


def start_phase_again(
    tracker: BatchTracker,
) -> tuple[BatchTracker, list[events_pb2.EssayLifecycleSpellcheckRequest]]:
    ready = derived.closing_event(tracker, now())
    assert isinstance(ready, events_pb2.BatchEssaysReady)
    assert (
        phases.apply_spellcheck_command(tracker, spellcheck_command(ready), now()).tracker is None
    )
    progress = phases.find_phase(tracker, common_pb2.Phase.PHASE_SPELLCHECK)
    assert progress is not None
    return tracker, essay_requests(derived.spellcheck_requests(tracker, progress, now()))


def test_command_for_an_unknown_essay_is_refused_not_applied() -> None:
    tracker, ready = ready_batch(2)
    command = spellcheck_command(ready)
    command.essays.add(essay_id="not-in-batch", text_storage_id="x")
    change = phases.apply_spellcheck_command(tracker, command, now())
    assert change.tracker is not None
    assert [r.essay_id for r in change.refused] == ["not-in-batch"]
    progress = phases.find_phase(change.tracker, common_pb2.Phase.PHASE_SPELLCHECK)
    assert progress is not None and len(progress.essay_ids) == 2


def finish(
    tracker: BatchTracker, results: list[events_pb2.EssaySpellcheckCompleted]
) -> BatchTracker:
    for result in results:
        change = phases.apply_spellcheck_result(tracker, result, now())
        assert change.tracker is not None and change.refused == ()
        tracker = change.tracker
    return tracker


def test_results_make_essays_terminal_and_the_last_one_derives_the_outcome() -> None:
    tracker, requests = start_phase(3)
    results = [
        spellcheck_completed(requests[0], details_storage_id="d" * 64),
        spellcheck_completed(requests[1], succeed=False),
        spellcheck_completed(requests[2]),
    ]
    tracker = finish(tracker, results[:2])
    assert derived.events_after_phase_event(tracker, results[1].metadata.event_id, now()) == []
    tracker = finish(tracker, results[2:])
    (outcome,) = derived.events_after_phase_event(tracker, results[2].metadata.event_id, now())
    assert isinstance(outcome, events_pb2.ELSBatchPhaseOutcome)
    assert outcome.status == P.PHASE_STATUS_COMPLETED_WITH_FAILURES
    assert outcome.failed_essay_ids == [requests[1].essay_id]
    assert [e.essay_id for e in outcome.processed_essays] == [
        requests[0].essay_id,
        requests[2].essay_id,
    ]
    slot = tracker.slots[0]
    assert slot.essay.corrected_text_storage_id == results[0].corrected_text_storage_id
    assert slot.essay.correction_count == 1
    # The essay keeps where its corrections are, never the words themselves.
    assert slot.essay.spellcheck_details_storage_id == "d" * 64
    assert not slot.essay.corrections and not slot.essay.unknown_words
    assert [c.status for c in slot.essay.timeline][-1] == S.ESSAY_STATUS_SPELLCHECKED_SUCCESS


def test_a_group_of_results_is_recorded_once_however_it_is_reported() -> None:
    tracker, groups = start_groups(3)
    (group,) = groups
    requests = essay_requests(groups)
    results = [
        spellcheck_completed(requests[0]),
        spellcheck_completed(requests[1], succeed=False),
        spellcheck_completed(requests[2]),
    ]
    partial = group_completed(group, results[:1])
    whole = group_completed(group, results)
    assert partial.metadata.event_id != whole.metadata.event_id
    for event in (partial, whole, whole):
        recorded = group_results.essay_results(event)
        change = group_results.apply_group_results(tracker, recorded, now())
        assert change.refused == ()  # an essay reported again is known, not refused
        tracker = change.tracker or tracker
    statuses = [slot.essay.status for slot in tracker.slots]
    assert statuses == [
        S.ESSAY_STATUS_SPELLCHECKED_SUCCESS,
        S.ESSAY_STATUS_SPELLCHECK_FAILED,
        S.ESSAY_STATUS_SPELLCHECKED_SUCCESS,
    ]
    assert [len(slot.essay.timeline) for slot in tracker.slots] == [
        len(tracker.slots[0].essay.timeline)
    ] * 3
    recorded = group_results.essay_results(whole)
    assert group_results.apply_group_results(tracker, recorded, now()).tracker is None
    outcomes = [
        outcome
        for result in recorded
        for outcome in derived.events_after_phase_event(tracker, result.metadata.event_id, now())
    ]
    (outcome,) = outcomes
    assert isinstance(outcome, events_pb2.ELSBatchPhaseOutcome)
    assert outcome.status == P.PHASE_STATUS_COMPLETED_WITH_FAILURES
    assert outcome.failed_essay_ids == [requests[1].essay_id]


def test_a_redelivered_result_changes_nothing() -> None:
    tracker, requests = start_phase(1)
    result = spellcheck_completed(requests[0])
    tracker = finish(tracker, [result])
    assert phases.apply_spellcheck_result(tracker, result, now()).tracker is None
    (outcome,) = derived.events_after_phase_event(tracker, result.metadata.event_id, now())
    assert outcome.status == P.PHASE_STATUS_COMPLETED


def test_a_result_with_a_warning_shows_it_on_the_essay_and_in_its_timeline() -> None:
    tracker, requests = start_phase(1)
    result = spellcheck_completed(requests[0])
    result.warning = "150 of 180 words are not en words: left unchanged"
    tracker = finish(tracker, [result])
    (slot,) = tracker.slots
    assert slot.essay.spellcheck_warning == result.warning
    assert slot.essay.timeline[-1].reason == f"1 corrections; {result.warning}"


def test_a_second_different_result_for_a_terminal_essay_is_refused() -> None:
    tracker, requests = start_phase(1)
    tracker = finish(tracker, [spellcheck_completed(requests[0])])
    other = spellcheck_completed(requests[0], succeed=False)
    other.metadata.event_id = "another-result"
    change = phases.apply_spellcheck_result(tracker, other, now())
    assert change.tracker is None
    assert [(r.current, r.requested) for r in change.refused] == [
        (S.ESSAY_STATUS_SPELLCHECKED_SUCCESS, S.ESSAY_STATUS_SPELLCHECK_FAILED)
    ]
    assert tracker.slots[0].essay.status == S.ESSAY_STATUS_SPELLCHECKED_SUCCESS


def test_every_failed_phase_is_failed_and_all_success_completed() -> None:
    assert phases.outcome_status(0, 3) == P.PHASE_STATUS_FAILED
    assert phases.outcome_status(3, 0) == P.PHASE_STATUS_COMPLETED
    assert phases.outcome_status(0, 0) == P.PHASE_STATUS_FAILED


def test_the_transition_table_refuses_everything_it_does_not_list() -> None:
    for current in S.values():
        for requested in S.values():
            essay = essay_service_pb2.Essay(essay_id="e", status=current)
            refusal = transition(essay, requested, now(), cause="test")
            if requested in TRANSITIONS.get(current, frozenset()):
                assert refusal is None and essay.status == requested
                assert len(essay.timeline) == 1
            else:
                assert refusal is not None and essay.status == current
                assert len(essay.timeline) == 0
                assert "not an allowed transition" in refusal.describe()
    assert is_allowed(S.ESSAY_STATUS_AWAITING_CONTENT, S.ESSAY_STATUS_READY_FOR_PROCESSING)
    assert not is_allowed(S.ESSAY_STATUS_AWAITING_CONTENT, S.ESSAY_STATUS_AWAITING_SPELLCHECK)
