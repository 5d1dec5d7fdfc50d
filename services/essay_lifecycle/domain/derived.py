"""The events ELS derives, rebuilt from the tracker so a redelivered event re-publishes exactly
what its first handling published, with the same deterministic event ids."""

from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.essay_lifecycle.domain.phases import PhaseProgress
from services.essay_lifecycle.domain.tracker import (
    BatchTracker,
    Closure,
    assigned_slots,
    failed_slots,
    missing_count,
)
from services.mesh.event_ids import derived_event_id

PRODUCER = "essay_lifecycle"
S = common_pb2.EssayStatus


def _metadata(
    tracker: BatchTracker, event_id: str, causation_id: str, now: Timestamp
) -> common_pb2.EventMetadata:
    metadata = common_pb2.EventMetadata(
        event_id=event_id,
        correlation_id=tracker.correlation_id,
        causation_id=causation_id,
        producer=PRODUCER,
    )
    metadata.occurred_at.CopyFrom(now)
    return metadata


def deadline_reached(
    tracker: BatchTracker, now: Timestamp
) -> events_pb2.BatchReadinessDeadlineReached:
    """ELS's reminder to itself that the batch's deadline passed (one per batch)."""
    event_id = derived_event_id(tracker.batch_id, "readiness_deadline")
    return events_pb2.BatchReadinessDeadlineReached(
        metadata=_metadata(tracker, event_id, tracker.registration_event_id, now),
        batch_id=tracker.batch_id,
    )


def closing_event(tracker: BatchTracker, now: Timestamp) -> Message | None:
    """BatchEssaysReady or BatchReadinessTimedOut for a closed batch; None while it is open."""
    causation = tracker.closed_by_event_id
    if tracker.closure in (Closure.BATCH_CLOSURE_READY, Closure.BATCH_CLOSURE_PARTIAL_READY):
        event_id = derived_event_id(tracker.batch_id, "batch_essays_ready")
        ready = events_pb2.BatchEssaysReady(
            metadata=_metadata(tracker, event_id, causation, now),
            batch_id=tracker.batch_id,
            missing_count=missing_count(tracker),
            partial=tracker.closure == Closure.BATCH_CLOSURE_PARTIAL_READY,
        )
        for slot in assigned_slots(tracker):
            essay = slot.essay
            ready.ready_essays.add(
                essay_id=essay.essay_id,
                text_storage_id=essay.text_storage_id,
                original_file_name=essay.original_file_name,
            )
        for slot in failed_slots(tracker):
            essay = slot.essay
            ready.validation_failures.add(
                file_upload_id=essay.file_upload_id,
                original_file_name=essay.original_file_name,
                error_code=essay.error_code,
                detail=essay.failure_reason,
                essay_id=essay.essay_id,
            )
        return ready
    if tracker.closure == Closure.BATCH_CLOSURE_TIMED_OUT:
        assigned = sum(1 for _ in assigned_slots(tracker))
        failed = sum(1 for _ in failed_slots(tracker))
        expected = len(tracker.slots)
        threshold = tracker.readiness.partial_batch_threshold
        event_id = derived_event_id(tracker.batch_id, "batch_readiness_timed_out")
        return events_pb2.BatchReadinessTimedOut(
            metadata=_metadata(tracker, event_id, causation, now),
            batch_id=tracker.batch_id,
            assigned=assigned,
            failed=failed,
            expected=expected,
            reason=(
                f"the readiness deadline passed with {assigned} of {expected} essays holding "
                f"content ({failed} failed validation), below the partial threshold of "
                f"{threshold:.0%}"
            ),
        )
    return None


def excess_events(
    tracker: BatchTracker, event_id: str, now: Timestamp
) -> list[events_pb2.ExcessContentProvisioned]:
    """ExcessContentProvisioned for every upload that `event_id` left without a slot."""
    return [
        events_pb2.ExcessContentProvisioned(
            metadata=_metadata(
                tracker,
                derived_event_id(tracker.batch_id, "excess_content", item.source_event_id),
                item.source_event_id,
                now,
            ),
            batch_id=tracker.batch_id,
            text_storage_id=item.text_storage_id,
            original_file_name=item.original_file_name,
            reason=item.reason,
            file_upload_id=item.file_upload_id,
            content_sha256=item.content_sha256,
        )
        for item in tracker.unassigned_uploads
        if event_id in (item.source_event_id, item.resolved_by_event_id)
    ]


def readiness_events(tracker: BatchTracker, event_id: str, now: Timestamp) -> list[Message]:
    """What handling the upload, registration or deadline event `event_id` publishes: excess
    reports for uploads it left without a slot, and the closing event if it closed the batch."""
    events: list[Message] = list(excess_events(tracker, event_id, now))
    if tracker.closed_by_event_id == event_id:
        closing = closing_event(tracker, now)
        if closing is not None:
            events.append(closing)
    return events


# How many essays one SpellcheckGroupRequested carries at most (ELS_SPELLCHECK_GROUP_SIZE): one
# message per group instead of one per essay; the Spell Checker checks a group's essays together.
SPELLCHECK_GROUP_SIZE = 16


def spellcheck_groups(essay_ids: Sequence[str], group_size: int) -> list[list[str]]:
    """The phase's essays in the fewest groups of at most `group_size`, of sizes that differ by
    at most one, in order: the same groups every time, for the same essays."""
    count = -(-len(essay_ids) // max(group_size, 1))
    size, extra = divmod(len(essay_ids), count) if count else (0, 0)
    groups: list[list[str]] = []
    start = 0
    for index in range(count):
        end = start + size + (1 if index < extra else 0)
        groups.append(list(essay_ids[start:end]))
        start = end
    return groups


def spellcheck_requests(
    tracker: BatchTracker,
    progress: PhaseProgress,
    now: Timestamp,
    group_size: int = SPELLCHECK_GROUP_SIZE,
) -> list[events_pb2.SpellcheckGroupRequested]:
    """One request per group of the phase's essays (`spellcheck_groups`) that still has an essay
    awaiting its result, naming those essays. A group's event id comes from its essays, so a
    redelivered command re-sends the same ids and JetStream drops the copies."""
    awaiting = {
        slot.essay.essay_id: slot.essay.text_storage_id
        for slot in tracker.slots
        if slot.essay.status == S.ESSAY_STATUS_AWAITING_SPELLCHECK
    }
    requests: list[events_pb2.SpellcheckGroupRequested] = []
    for group in spellcheck_groups(progress.essay_ids, group_size):
        essays = [
            events_pb2.SpellcheckGroupRequested.Essay(
                essay_id=essay_id, text_storage_id=awaiting[essay_id]
            )
            for essay_id in group
            if essay_id in awaiting
        ]
        if not essays:
            continue
        event_id = derived_event_id(tracker.batch_id, "spellcheck_group_requested", *group)
        requests.append(
            events_pb2.SpellcheckGroupRequested(
                metadata=_metadata(tracker, event_id, progress.command_event_id, now),
                batch_id=tracker.batch_id,
                language=progress.language,
                tenant_id=tracker.tenant_id,
                essays=essays,
            )
        )
    return requests


def phase_outcome(
    tracker: BatchTracker, progress: PhaseProgress, now: Timestamp
) -> events_pb2.ELSBatchPhaseOutcome:
    """The outcome of a finished phase: the essays that succeeded, with their corrected text,
    and the ids of those that failed."""
    event_id = derived_event_id(
        tracker.batch_id, "phase_outcome", common_pb2.Phase.Name(progress.phase)
    )
    outcome = events_pb2.ELSBatchPhaseOutcome(
        metadata=_metadata(tracker, event_id, progress.finished_by_event_id, now),
        batch_id=tracker.batch_id,
        phase=progress.phase,
        status=progress.status,
    )
    members = set(progress.essay_ids)
    for slot in tracker.slots:
        essay = slot.essay
        if essay.essay_id not in members:
            continue
        if essay.status == S.ESSAY_STATUS_SPELLCHECKED_SUCCESS:
            outcome.processed_essays.add(
                essay_id=essay.essay_id,
                text_storage_id=essay.corrected_text_storage_id,
                original_file_name=essay.original_file_name,
            )
        else:
            outcome.failed_essay_ids.append(essay.essay_id)
    return outcome


def events_after_phase_event(tracker: BatchTracker, event_id: str, now: Timestamp) -> list[Message]:
    """The phase outcome, when the handling of `event_id` finished a phase."""
    return [
        phase_outcome(tracker, progress, now)
        for progress in tracker.phases
        if progress.finished_by_event_id == event_id
    ]


def uploads_erased(
    tracker: BatchTracker, causation_id: str, now: Timestamp
) -> events_pb2.EssayUploadsErased | None:
    """The erased essays' uploads still to announce to the File Service; its id names the
    uploads, so whichever delivery announces them publishes the same event."""
    uploads = list(tracker.unannounced_erased_uploads)
    if not uploads:
        return None
    event_id = derived_event_id(
        tracker.batch_id,
        "essay_uploads_erased",
        *sorted(f"{u.content_sha256}:{u.file_upload_id}" for u in uploads),
    )
    return events_pb2.EssayUploadsErased(
        metadata=_metadata(tracker, event_id, causation_id, now),
        batch_id=tracker.batch_id,
        uploads=uploads,
    )
