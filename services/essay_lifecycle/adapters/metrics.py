"""ELS's domain metrics: essays per state (a census of `els_batches`) and slot outcomes."""

from __future__ import annotations

from collections import Counter

import prometheus_client
from nats.js.kv import KeyValue
from prometheus_client import Gauge

from huleedu.common.v1 import common_pb2
from huleedu.internal.els.v1 import essay_state_pb2
from services.essay_lifecycle.domain.ports import BatchTracker
from services.essay_lifecycle.domain.tracker import slot_resolved_by
from services.mesh.kv_census import KvCensus

# A census kept by a watch of the bucket: every instance reports the whole-system count, so
# aggregate with `max`, not `sum`. Labels: states and outcomes only, never ids.
ESSAYS_BY_STATE = Gauge(
    "huleedu_essays",
    "Essays of registered batches by state (ELS, from a watch of els_batches).",
    ["state"],
)
SLOT_ASSIGNMENTS = prometheus_client.Counter(
    "huleedu_slot_assignments_total",
    "Uploads ELS resolved: assigned to a slot, failed a slot (validation), held until the "
    "registration, or reported as excess (no_free_slot, duplicate_content, batch_closed).",
    ["outcome"],
)

_ESSAY_STATES = [
    name.removeprefix("ESSAY_STATUS_")
    for name in (v.name for v in common_pb2.EssayStatus.DESCRIPTOR.values)
    if name != "ESSAY_STATUS_UNSPECIFIED"
]


def essay_states(_key: str, value: bytes) -> Counter[str]:
    """The essays of one tracker by state (an unregistered tracker has none yet)."""
    tracker = essay_state_pb2.BatchTracker.FromString(value)
    return Counter(
        common_pb2.EssayStatus.Name(slot.essay.status).removeprefix("ESSAY_STATUS_")
        for slot in tracker.slots
    )


def essay_census(kv: KeyValue) -> KvCensus:
    """The census that keeps `huleedu_essays{state}` current."""
    return KvCensus(kv, essay_states, ESSAYS_BY_STATE, _ESSAY_STATES)


def upload_outcome(tracker: BatchTracker, upload_event_id: str) -> str | None:
    """What ELS did with one upload: assigned, validation_failed, held, or the excess reason."""
    slot = slot_resolved_by(tracker, upload_event_id)
    if slot is not None:
        failed = slot.essay.status == common_pb2.ESSAY_STATUS_VALIDATION_FAILED
        return "validation_failed" if failed else "assigned"
    for excess in tracker.unassigned_uploads:
        if excess.source_event_id == upload_event_id:
            name = common_pb2.ExcessContentReason.Name(excess.reason)
            return name.removeprefix("EXCESS_CONTENT_REASON_").lower()
    if not tracker.registered:
        return "held"
    return None


def count_upload(tracker: BatchTracker, upload_event_id: str) -> None:
    """Count the outcome of one upload (a redelivered upload is counted again)."""
    outcome = upload_outcome(tracker, upload_event_id)
    if outcome is not None:
        SLOT_ASSIGNMENTS.labels(outcome).inc()


def count_registration(tracker: BatchTracker, registration_event_id: str) -> None:
    """Count the held uploads the registration resolved (a redelivered registration counts the
    slots resolved so far again: the counter is an operator's signal, not a ledger)."""
    if tracker.registration_event_id != registration_event_id:
        return
    for slot in tracker.slots:
        if slot.resolved_by_event_id:
            count_upload(tracker, slot.resolved_by_event_id)
    for excess in tracker.unassigned_uploads:
        if excess.resolved_by_event_id == registration_event_id:
            count_upload(tracker, excess.source_event_id)
