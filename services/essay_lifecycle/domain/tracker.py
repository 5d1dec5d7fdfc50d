"""The BatchTracker document: creation, lookups and the result type of every domain step."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.common.v1 import common_pb2
from huleedu.internal.els.v1 import essay_state_pb2
from services.essay_lifecycle.domain.errors import InvalidEventError
from services.essay_lifecycle.domain.slot_index import SlotIndex, resolved_count
from services.essay_lifecycle.domain.transitions import RefusedTransition

BatchTracker = essay_state_pb2.BatchTracker
EssaySlot = essay_state_pb2.EssaySlot
Closure = essay_state_pb2.BatchClosure
S = common_pb2.EssayStatus

# One index for the process: a batch's events are handled by whichever handler takes them, and
# each is applied to a fresh copy of the tracker (domain/slot_index.py says why that is safe).
_SLOTS = SlotIndex()

# Ids become KV keys and subject tokens, so they are restricted to what both accept.
_ID_RE = re.compile(r"^[A-Za-z0-9_=-][A-Za-z0-9_=.-]{0,254}(?<!\.)$")


@dataclass(frozen=True)
class Change:
    """The outcome of applying one event: the tracker to store (None: nothing changed) and the
    state changes the transition table refused."""

    tracker: BatchTracker | None
    refused: tuple[RefusedTransition, ...] = ()


def require_id(value: str, field: str) -> str:
    """Return `value` when it is usable as a batch or essay id; raise InvalidEventError if not."""
    if not _ID_RE.match(value) or ".." in value:
        raise InvalidEventError(f"{field}={value!r} is not a valid id")
    return value


def is_valid_id(value: str) -> bool:
    """True when `value` could be a batch or essay id."""
    return bool(_ID_RE.match(value)) and ".." not in value


def new_tracker(batch_id: str, correlation_id: str, now: Timestamp) -> BatchTracker:
    """An empty, unregistered tracker for a batch ELS has just heard of."""
    tracker = BatchTracker(batch_id=batch_id, correlation_id=correlation_id)
    tracker.created_at.CopyFrom(now)
    return tracker


def is_open(tracker: BatchTracker) -> bool:
    """True while the batch takes content."""
    return tracker.closure == Closure.BATCH_CLOSURE_UNSPECIFIED


def find_slot(tracker: BatchTracker, essay_id: str) -> EssaySlot | None:
    """The slot of `essay_id`, or None if the batch has no such essay."""
    return _SLOTS.find(tracker, essay_id)


def slot_resolved_by(tracker: BatchTracker, upload_event_id: str) -> EssaySlot | None:
    """The slot the upload `upload_event_id` resolved, or None."""
    return _SLOTS.resolved_by(tracker, upload_event_id)


def slot_holding(tracker: BatchTracker, sha256: str) -> EssaySlot | None:
    """The slot whose content has the SHA-256 `sha256`, or None."""
    return _SLOTS.holding(tracker, sha256)


def observe_stored(tracker: BatchTracker) -> None:
    """Let the slot index learn from `tracker`, a revision that was stored (or read)."""
    _SLOTS.observe(tracker)


def first_free_slot(tracker: BatchTracker) -> EssaySlot | None:
    """The slot the next upload takes (slots are resolved in order), or None when all are."""
    resolved = resolved_count(tracker)
    return tracker.slots[resolved] if resolved < len(tracker.slots) else None


def assigned_slots(tracker: BatchTracker) -> Iterator[EssaySlot]:
    """Slots holding content, in slot order."""
    return (slot for slot in tracker.slots if slot.essay.text_storage_id)


def failed_slots(tracker: BatchTracker) -> Iterator[EssaySlot]:
    """Slots resolved by a validation failure, in slot order."""
    return (slot for slot in tracker.slots if slot.essay.status == S.ESSAY_STATUS_VALIDATION_FAILED)


def missing_count(tracker: BatchTracker) -> int:
    """Slots that neither content nor a failure resolved."""
    return len(tracker.slots) - resolved_count(tracker)
