"""Erasure (DeleteBatch, DeleteEssay): what ELS holds of a batch or an essay, and what is left.

A batch's tracker becomes a tombstone: its id, its tenant, `erased`, and the storage ids still
being erased (`pending_erasure`), nothing else. An erased essay's slot keeps only its id, the
status ERASED and one timeline entry; its upload (SHA-256 and upload id, never the file name)
waits in `unannounced_erased_uploads` until EssayUploadsErased tells the File Service to forget
it, so that the same file may be uploaded to the batch again. Storage ids are put in
`pending_erasure` before the Content Service is asked to erase them and cleared after, so an
erasure cut off between the two is finished by the next delivery; uploads and results still in
flight for an erased batch or essay add their storage ids there instead of coming back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2
from huleedu.events.v1 import events_pb2
from huleedu.internal.els.v1 import essay_state_pb2
from services.essay_lifecycle.domain import phases
from services.essay_lifecycle.domain.tracker import Change, find_slot

BatchTracker = essay_state_pb2.BatchTracker
S = common_pb2.EssayStatus
ERASED_REASON = "erased at the teacher's request"


def _essay_contents(essay: essay_service_pb2.Essay) -> list[str]:
    return [
        essay.raw_storage_id,
        essay.text_storage_id,
        essay.corrected_text_storage_id,
        essay.spellcheck_details_storage_id,
    ]


def _upload_contents(upload: essay_state_pb2.HeldUpload) -> list[str]:
    if upload.WhichOneof("upload") == "provisioned":
        return [upload.provisioned.raw_storage_id, upload.provisioned.text_storage_id]
    return [upload.validation_failed.raw_storage_id]


def _ids(values: Iterable[str]) -> list[str]:
    """The non-empty ids, each once, in order."""
    return list(dict.fromkeys(value for value in values if value))


def batch_contents(tracker: BatchTracker) -> list[str]:
    """Every storage id the tracker knows for its batch: its essays', the uploads that found no
    slot, the uploads held for its registration."""
    found: list[str] = []
    for slot in tracker.slots:
        found += _essay_contents(slot.essay)
    for item in tracker.unassigned_uploads:
        found += [item.raw_storage_id, item.text_storage_id]
    for held in tracker.held_uploads:
        found += _upload_contents(held)
    return _ids([*found, *tracker.pending_erasure])


def essay_contents(tracker: BatchTracker, essay_ids: Sequence[str]) -> list[str]:
    """The storage ids of these essays that no other essay of the batch also holds (the same
    text extracted from two files is stored once)."""
    erased = set(essay_ids)
    kept = {
        storage_id
        for slot in tracker.slots
        if slot.essay.essay_id not in erased
        for storage_id in _essay_contents(slot.essay)
    }
    mine = [
        storage_id
        for slot in tracker.slots
        if slot.essay.essay_id in erased
        for storage_id in _essay_contents(slot.essay)
    ]
    return _ids(storage_id for storage_id in mine if storage_id not in kept)


def tombstone(
    tracker: BatchTracker | None, event: events_pb2.BatchErasureRequested
) -> BatchTracker:
    """The batch's tombstone, with every storage id it held pending erasure."""
    pending = batch_contents(tracker) if tracker is not None else []
    return BatchTracker(
        batch_id=event.batch_id,
        tenant_id=tracker.tenant_id if tracker is not None else event.tenant_id,
        correlation_id=tracker.correlation_id if tracker is not None else "",
        registered=True,
        erased=True,
        pending_erasure=pending,
    )


def erase_essays(
    tracker: BatchTracker | None, event: events_pb2.BatchErasureRequested, now: Timestamp
) -> Change:
    """Blank the essays' slots (status ERASED), their storage ids pending erasure; a phase
    waiting only for them ends."""
    if tracker is None or tracker.erased:
        return Change(None)
    found = {essay_id: find_slot(tracker, essay_id) for essay_id in event.essay_ids}
    todo = [
        essay_id
        for essay_id, slot in found.items()
        if slot is not None and slot.essay.status != S.ESSAY_STATUS_ERASED
    ]
    if not todo:
        return Change(None)
    updated = BatchTracker()
    updated.CopyFrom(tracker)
    pending = essay_contents(updated, todo)
    for essay_id in todo:
        slot = find_slot(updated, essay_id)
        assert slot is not None
        _forget_upload(updated, slot.essay)
        blank = essay_service_pb2.Essay(essay_id=essay_id, status=S.ESSAY_STATUS_ERASED)
        change = blank.timeline.add(status=S.ESSAY_STATUS_ERASED, reason=ERASED_REASON)
        change.at.CopyFrom(now)
        slot.essay.CopyFrom(blank)
    updated.pending_erasure.extend(_ids(p for p in pending if p not in updated.pending_erasure))
    for progress in updated.phases:
        if progress.status == phases.PhaseStatus.PHASE_STATUS_IN_PROGRESS:
            phases.count_terminal(updated, progress)
        phases.finish_if_done(updated, progress, event.metadata.event_id, now)
    return Change(updated)


def _forget_upload(tracker: BatchTracker, essay: essay_service_pb2.Essay) -> None:
    """The essay's upload, to announce as erased; its content no longer blocks the same file."""
    sha256 = essay.content_sha256
    if tracker.essay_id_by_sha256.get(sha256) == essay.essay_id:
        del tracker.essay_id_by_sha256[sha256]
    if sha256 or essay.file_upload_id:
        tracker.unannounced_erased_uploads.add(
            content_sha256=sha256, file_upload_id=essay.file_upload_id
        )


def uploads_announced(
    tracker: BatchTracker | None, uploads: Sequence[events_pb2.EssayUploadsErased.Upload]
) -> Change:
    """The tracker without `uploads` waiting to be announced (EssayUploadsErased is stored)."""
    if tracker is None:
        return Change(None)
    return _without(tracker, "unannounced_erased_uploads", lambda upload: upload in uploads)


def hold_for_erasure(tracker: BatchTracker, storage_ids: Iterable[str]) -> Change:
    """Storage ids that arrived for an erased batch or essay, added to the pending ones."""
    new = [s for s in _ids(storage_ids) if s not in tracker.pending_erasure]
    if not new:
        return Change(None)
    updated = BatchTracker()
    updated.CopyFrom(tracker)
    updated.pending_erasure.extend(new)
    return Change(updated)


def erased_done(tracker: BatchTracker | None, storage_ids: Sequence[str]) -> Change:
    """The tracker with `storage_ids` no longer pending (the Content Service erased them)."""
    if tracker is None:
        return Change(None)
    done = set(storage_ids)
    return _without(tracker, "pending_erasure", lambda storage_id: storage_id in done)


def _without(tracker: BatchTracker, field: str, drop: Callable[[Any], bool]) -> Change:
    """The tracker with the items of the repeated `field` that `drop` picks taken out; no change
    when it picks none."""
    items = getattr(tracker, field)
    left = [item for item in items if not drop(item)]
    if len(left) == len(items):
        return Change(None)
    updated = BatchTracker()
    updated.CopyFrom(tracker)
    kept = getattr(updated, field)
    del kept[:]
    kept.extend(left)
    return Change(updated)


def late_contents(
    tracker: BatchTracker,
    event: events_pb2.EssayContentProvisioned
    | events_pb2.EssayValidationFailed
    | events_pb2.EssaySpellcheckCompleted,
) -> list[str] | None:
    """What an event that arrived for an erased batch or essay stored, to erase; None when the
    event is not about anything erased (it is handled as usual)."""
    if isinstance(event, events_pb2.EssaySpellcheckCompleted):
        slot = find_slot(tracker, event.essay_id)
        erased = tracker.erased or (slot is not None and slot.essay.status == S.ESSAY_STATUS_ERASED)
        stored = [event.corrected_text_storage_id, event.details_storage_id]
        return _ids(stored) if erased else None
    if not tracker.erased:
        return None
    if isinstance(event, events_pb2.EssayContentProvisioned):
        return _ids([event.raw_storage_id, event.text_storage_id])
    return _ids([event.raw_storage_id])
