"""Phases: a batch command sends each ready essay into the phase; results make essays terminal;
the phase ends when every essay of it is terminal."""

from __future__ import annotations

from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from huleedu.internal.els.v1 import essay_state_pb2
from services.essay_lifecycle.domain.errors import InvalidEventError
from services.essay_lifecycle.domain.tracker import (
    BatchTracker,
    Change,
    Closure,
    find_slot,
    require_id,
)
from services.essay_lifecycle.domain.transitions import (
    TERMINAL_PHASE_STATES,
    RefusedTransition,
    transition,
)

PhaseProgress = essay_state_pb2.PhaseProgress
Phase = common_pb2.Phase
PhaseStatus = common_pb2.PhaseStatus
S = common_pb2.EssayStatus
_READY = (Closure.BATCH_CLOSURE_READY, Closure.BATCH_CLOSURE_PARTIAL_READY)


def find_phase(tracker: BatchTracker, phase: Phase.ValueType) -> PhaseProgress | None:
    """The progress of `phase`, or None if it was never initiated."""
    return next((p for p in tracker.phases if p.phase == phase), None)


def _known_batch(tracker: BatchTracker | None, batch_id: str) -> BatchTracker:
    require_id(batch_id, "batch_id")
    if tracker is None or not tracker.registered:
        raise InvalidEventError(f"batch {batch_id} is not registered with ELS")
    return tracker


def apply_spellcheck_command(
    tracker: BatchTracker | None,
    command: events_pb2.BatchSpellcheckInitiateCommand,
    now: Timestamp,
) -> Change:
    """Move every commanded essay to AWAITING_SPELLCHECK. A phase runs once: a repeated command
    changes nothing (its handler re-sends the requests still outstanding)."""
    tracker = _known_batch(tracker, command.batch_id)
    if find_phase(tracker, Phase.PHASE_SPELLCHECK) is not None:
        return Change(None)
    if tracker.closure not in _READY:
        raise InvalidEventError(f"batch {command.batch_id} is not ready; spell check refused")
    progress = tracker.phases.add(
        phase=Phase.PHASE_SPELLCHECK,
        command_event_id=command.metadata.event_id,
        status=PhaseStatus.PHASE_STATUS_IN_PROGRESS,
        language=command.language or tracker.language,
    )
    progress.started_at.CopyFrom(now)
    refused: list[RefusedTransition] = []
    for ref in command.essays:
        slot = find_slot(tracker, ref.essay_id)
        if slot is None:
            refused.append(
                RefusedTransition(
                    ref.essay_id,
                    S.ESSAY_STATUS_UNSPECIFIED,
                    S.ESSAY_STATUS_AWAITING_SPELLCHECK,
                    "not an essay of the batch",
                )
            )
            continue
        refusal = transition(
            slot.essay,
            S.ESSAY_STATUS_AWAITING_SPELLCHECK,
            now,
            cause="spell check initiated",
            reason="spell check requested",
        )
        if refusal is not None:
            refused.append(refusal)
            continue
        progress.essay_ids.append(ref.essay_id)
    progress.terminal_essays = 0  # every essay of the phase awaits its result
    finish_if_done(tracker, progress, command.metadata.event_id, now)
    return Change(tracker, tuple(refused))


def apply_spellcheck_result(
    tracker: BatchTracker | None,
    result: events_pb2.EssaySpellcheckCompleted,
    now: Timestamp,
) -> Change:
    """Record one essay's spell-check result; the last result of the phase ends the phase."""
    tracker = _known_batch(tracker, result.batch_id)
    event_id = result.metadata.event_id
    slot = find_slot(tracker, result.essay_id)
    succeeded = result.status == common_pb2.SpellcheckStatus.SPELLCHECK_STATUS_SUCCESS
    requested = (
        S.ESSAY_STATUS_SPELLCHECKED_SUCCESS if succeeded else S.ESSAY_STATUS_SPELLCHECK_FAILED
    )
    if slot is None:
        unknown = RefusedTransition(
            result.essay_id, S.ESSAY_STATUS_UNSPECIFIED, requested, "not an essay of the batch"
        )
        return Change(None, (unknown,))
    if slot.phase_result_event_id == event_id:
        return Change(None)
    reason = (
        f"{result.correction_count} corrections" + (f"; {result.warning}" if result.warning else "")
        if succeeded
        else (result.error or "spell check failed without a reason")
    )
    refusal = transition(slot.essay, requested, now, cause="spell check completed", reason=reason)
    if refusal is not None:
        return Change(None, (refusal,))
    slot.phase_result_event_id = event_id
    essay = slot.essay
    essay.correction_count = result.correction_count
    essay.spellcheck_warning = result.warning
    if result.word_count:
        essay.word_count = result.word_count
    if succeeded:
        essay.corrected_text_storage_id = result.corrected_text_storage_id
        essay.spellcheck_details_storage_id = result.details_storage_id
    else:
        essay.failure_reason = reason
    progress = find_phase(tracker, Phase.PHASE_SPELLCHECK)
    if progress is not None:
        # Only the command moves an essay to AWAITING_SPELLCHECK, adding it to the phase, and the
        # table lets it leave that state once: this result is the essay's one count.
        if progress.HasField("terminal_essays"):
            progress.terminal_essays += 1
        else:
            count_terminal(tracker, progress)
        finish_if_done(tracker, progress, event_id, now)
    return Change(tracker)


def outcome_status(succeeded: int, failed: int) -> PhaseStatus.ValueType:
    """COMPLETED if nothing failed, FAILED if nothing succeeded, else COMPLETED_WITH_FAILURES."""
    if failed == 0 and succeeded > 0:
        return PhaseStatus.PHASE_STATUS_COMPLETED
    if succeeded == 0:
        return PhaseStatus.PHASE_STATUS_FAILED
    return PhaseStatus.PHASE_STATUS_COMPLETED_WITH_FAILURES


def phase_counts(tracker: BatchTracker, progress: PhaseProgress) -> tuple[int, int]:
    """(succeeded, failed) essays of the phase so far."""
    states = [slot.essay.status for slot in _phase_slots(tracker, progress)]
    succeeded = sum(1 for state in states if state == S.ESSAY_STATUS_SPELLCHECKED_SUCCESS)
    failed = sum(
        1 for state in states if state in (S.ESSAY_STATUS_SPELLCHECK_FAILED, S.ESSAY_STATUS_ERASED)
    )
    return succeeded, failed


def _phase_slots(tracker: BatchTracker, progress: PhaseProgress) -> list[essay_state_pb2.EssaySlot]:
    members = set(progress.essay_ids)
    return [slot for slot in tracker.slots if slot.essay.essay_id in members]


def count_terminal(tracker: BatchTracker, progress: PhaseProgress) -> None:
    """Count the phase's essays in a terminal state again, from its slots: for a tracker stored
    before the count was kept, and after an erasure (rare, and it may end any phase)."""
    progress.terminal_essays = sum(
        1 for slot in _phase_slots(tracker, progress) if slot.essay.status in TERMINAL_PHASE_STATES
    )


def finish_if_done(
    tracker: BatchTracker, progress: PhaseProgress, event_id: str, now: Timestamp
) -> None:
    """End the phase (by `event_id`) when every essay of it is in a terminal state."""
    if progress.status != PhaseStatus.PHASE_STATUS_IN_PROGRESS:
        return
    if not progress.HasField("terminal_essays"):
        count_terminal(tracker, progress)
    if progress.terminal_essays < len(progress.essay_ids):
        return
    progress.status = outcome_status(*phase_counts(tracker, progress))
    progress.finished_by_event_id = event_id
    progress.finished_at.CopyFrom(now)
