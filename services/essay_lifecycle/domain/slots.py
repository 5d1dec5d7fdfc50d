"""Slot assignment: registrations create slots; uploads fill them once each, in arrival order."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from huleedu.internal.els.v1 import essay_state_pb2
from services.essay_lifecycle.domain.errors import InvalidEventError
from services.essay_lifecycle.domain.readiness import close_if_complete, effective_deadline
from services.essay_lifecycle.domain.tracker import (
    BatchTracker,
    Change,
    first_free_slot,
    is_open,
    new_tracker,
    require_id,
    slot_holding,
    slot_resolved_by,
)
from services.essay_lifecycle.domain.transitions import RefusedTransition, transition

HeldUpload = essay_state_pb2.HeldUpload
Reason = common_pb2.ExcessContentReason
S = common_pb2.EssayStatus


@dataclass(frozen=True)
class ReadinessRules:
    """The readiness rules used when a registration carries none."""

    timeout_s: int
    partial_threshold: float


def upload_of(
    event: events_pb2.EssayContentProvisioned | events_pb2.EssayValidationFailed,
    stream_sequence: int = 0,
) -> HeldUpload:
    """Wrap an upload event so content and failures travel one path; the stream sequence says
    where it arrived (handlers run concurrently, so the order they apply in does not)."""
    if isinstance(event, events_pb2.EssayContentProvisioned):
        return HeldUpload(provisioned=event, stream_sequence=stream_sequence)
    return HeldUpload(validation_failed=event, stream_sequence=stream_sequence)


def _event(
    upload: HeldUpload,
) -> events_pb2.EssayContentProvisioned | events_pb2.EssayValidationFailed:
    if upload.WhichOneof("upload") == "provisioned":
        return upload.provisioned
    return upload.validation_failed


def is_known_upload(tracker: BatchTracker, event_id: str) -> bool:
    """True when the upload event `event_id` was already applied (held, assigned or excess)."""
    return (
        slot_resolved_by(tracker, event_id) is not None
        or any(item.source_event_id == event_id for item in tracker.unassigned_uploads)
        or any(_event(held).metadata.event_id == event_id for held in tracker.held_uploads)
    )


def apply_registration(
    tracker: BatchTracker | None,
    event: events_pb2.BatchEssaysRegistered,
    rules: ReadinessRules,
    now: Timestamp,
) -> Change:
    """Create one slot per essay id, then assign the uploads held so far in arrival order."""
    batch_id = require_id(event.batch_id, "batch_id")
    if tracker is not None and tracker.registered:
        return Change(None)
    if not event.essay_ids:
        raise InvalidEventError(f"batch {batch_id} registered with no essay ids")
    if len(set(event.essay_ids)) != len(event.essay_ids):
        raise InvalidEventError(f"batch {batch_id} registered with repeated essay ids")
    for essay_id in event.essay_ids:
        require_id(essay_id, "essay_ids")
    registration_id = event.metadata.event_id
    updated = tracker or new_tracker(batch_id, event.metadata.correlation_id, now)
    updated.correlation_id = event.metadata.correlation_id or updated.correlation_id
    updated.registered = True
    updated.registration_event_id = registration_id
    updated.course_code = event.course_code
    updated.language = event.language
    updated.tenant_id = event.tenant_id
    readiness = event.readiness if event.HasField("readiness") else None
    updated.readiness.timeout_seconds = (
        readiness.timeout_seconds if readiness and readiness.timeout_seconds else rules.timeout_s
    )
    updated.readiness.partial_batch_threshold = (
        readiness.partial_batch_threshold if readiness else rules.partial_threshold
    )
    updated.registered_at.CopyFrom(now)
    updated.deadline.CopyFrom(effective_deadline(event, updated.readiness.timeout_seconds, now))
    refused: list[RefusedTransition] = []
    for essay_id in event.essay_ids:
        slot = updated.slots.add()
        slot.essay.essay_id = essay_id  # its batch id is the tracker's, filled in by the queries
        _collect(
            refused,
            transition(
                slot.essay,
                S.ESSAY_STATUS_AWAITING_CONTENT,
                now,
                cause="registration",
                reason="slot registered",
            ),
        )
    held = sorted(updated.held_uploads, key=lambda upload: upload.stream_sequence)
    del updated.held_uploads[:]
    for upload in held:
        refused.extend(_resolve(updated, upload, registration_id, now))
    close_if_complete(updated, registration_id, now)
    return Change(updated, tuple(refused))


def apply_upload(tracker: BatchTracker | None, upload: HeldUpload, now: Timestamp) -> Change:
    """Assign an upload to the first free slot, report it as excess, or hold it until the batch
    is registered. A redelivered upload changes nothing."""
    event = _event(upload)
    batch_id = require_id(event.batch_id, "batch_id")
    event_id = event.metadata.event_id
    if tracker is not None and is_known_upload(tracker, event_id):
        return Change(None)
    updated = tracker or new_tracker(batch_id, event.metadata.correlation_id, now)
    if not updated.registered:
        updated.held_uploads.append(upload)
        return Change(updated)
    refused = _resolve(updated, upload, event_id, now)
    close_if_complete(updated, event_id, now)
    return Change(updated, tuple(refused))


def _resolve(
    tracker: BatchTracker, upload: HeldUpload, resolved_by: str, now: Timestamp
) -> list[RefusedTransition]:
    event = _event(upload)
    sha256 = event.content_sha256
    # The most specific reason wins: the same content, then every slot taken, then a batch that
    # closed at its deadline with slots still empty.
    if sha256 and slot_holding(tracker, sha256) is not None:
        _unassigned(tracker, upload, Reason.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT, resolved_by)
        return []
    slot = first_free_slot(tracker)
    if slot is None:
        _unassigned(tracker, upload, Reason.EXCESS_CONTENT_REASON_NO_FREE_SLOT, resolved_by)
        return []
    if not is_open(tracker):
        _unassigned(tracker, upload, Reason.EXCESS_CONTENT_REASON_BATCH_CLOSED, resolved_by)
        return []
    essay = slot.essay
    provisioned = isinstance(event, events_pb2.EssayContentProvisioned)
    refusal = transition(
        essay,
        S.ESSAY_STATUS_READY_FOR_PROCESSING if provisioned else S.ESSAY_STATUS_VALIDATION_FAILED,
        now,
        cause="upload resolved a slot",
        reason=(
            f"content {event.original_file_name!r} assigned"
            if provisioned
            else getattr(event, "detail", "")
        ),
    )
    if refusal is not None:  # a free slot always awaits content; the table still has the word
        return [refusal]
    if isinstance(event, events_pb2.EssayContentProvisioned):
        essay.text_storage_id = event.text_storage_id
        essay.word_count = event.word_count
    else:
        essay.error_code = event.error_code
        essay.failure_reason = event.detail
    essay.file_upload_id = event.file_upload_id
    essay.original_file_name = event.original_file_name
    essay.raw_storage_id = event.raw_storage_id
    essay.content_sha256 = sha256
    slot.resolved_by_event_id = event.metadata.event_id
    return []


def _unassigned(
    tracker: BatchTracker, upload: HeldUpload, reason: Reason.ValueType, resolved_by: str
) -> None:
    event = _event(upload)
    tracker.unassigned_uploads.add(
        source_event_id=event.metadata.event_id,
        resolved_by_event_id=resolved_by,
        reason=reason,
        file_upload_id=event.file_upload_id,
        original_file_name=event.original_file_name,
        text_storage_id=getattr(event, "text_storage_id", ""),
        raw_storage_id=event.raw_storage_id,
        content_sha256=event.content_sha256,
        validation_failed=upload.WhichOneof("upload") == "validation_failed",
    )


def _collect(refused: list[RefusedTransition], refusal: RefusedTransition | None) -> None:
    if refusal is not None:
        refused.append(refusal)
