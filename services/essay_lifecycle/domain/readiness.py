"""Readiness rules: a batch closes when every slot is resolved, or at its deadline."""

from __future__ import annotations

from datetime import timedelta

from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.events.v1 import events_pb2
from services.essay_lifecycle.domain.tracker import (
    BatchTracker,
    Change,
    Closure,
    assigned_slots,
    is_open,
    missing_count,
)


def effective_deadline(
    registration: events_pb2.BatchEssaysRegistered, timeout_s: int, now: Timestamp
) -> Timestamp:
    """The registration's deadline, or `timeout_s` after `now` when it names none."""
    if registration.HasField("deadline"):
        return registration.deadline
    deadline = Timestamp()
    deadline.FromDatetime(now.ToDatetime() + timedelta(seconds=timeout_s))
    return deadline


def is_complete(tracker: BatchTracker) -> bool:
    """True when the batch is registered and every slot holds content or a failure."""
    return tracker.registered and missing_count(tracker) == 0


def close(tracker: BatchTracker, closure: Closure.ValueType, event_id: str, now: Timestamp) -> None:
    """Stop taking content; the handling of `event_id` publishes the closing event."""
    tracker.closure = closure
    tracker.closed_by_event_id = event_id
    tracker.closed_at.CopyFrom(now)


def close_if_complete(tracker: BatchTracker, event_id: str, now: Timestamp) -> None:
    """Close the batch as READY when the last slot was just resolved."""
    if is_open(tracker) and is_complete(tracker):
        close(tracker, Closure.BATCH_CLOSURE_READY, event_id, now)


def meets_threshold(assigned: int, expected: int, threshold: float) -> bool:
    """assigned / expected >= threshold, without float surprises at the boundary."""
    if expected == 0:
        return True
    return assigned >= threshold * expected - 1e-9


def apply_deadline(
    tracker: BatchTracker | None, event: events_pb2.BatchReadinessDeadlineReached, now: Timestamp
) -> Change:
    """At the deadline an open batch closes: partially ready at or above the threshold, timed
    out below it. A batch that already closed is left alone."""
    if tracker is None or not tracker.registered or not is_open(tracker):
        return Change(None)
    assigned = sum(1 for _ in assigned_slots(tracker))
    if meets_threshold(assigned, len(tracker.slots), tracker.readiness.partial_batch_threshold):
        close(tracker, Closure.BATCH_CLOSURE_PARTIAL_READY, event.metadata.event_id, now)
    else:
        close(tracker, Closure.BATCH_CLOSURE_TIMED_OUT, event.metadata.event_id, now)
    return Change(tracker)
