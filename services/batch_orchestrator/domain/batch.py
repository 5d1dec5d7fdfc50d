"""The batch state machine.

AWAITING_CONTENT → READY → SPELLCHECKING → COMPLETED | COMPLETED_WITH_FAILURES | FAILED, and
AWAITING_CONTENT → FAILED (readiness timed out, or ready with no essay). Each change is a pure
function of the current document: it returns the changed copy, or None when the event changes
nothing (a redelivery, or an event the batch's state has moved past), which makes every handler
idempotent by construction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeAlias

from huleedu.batch.v1.batch_service_pb2 import PhaseState
from huleedu.common.v1 import common_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord

Status: TypeAlias = common_pb2.BatchStatus.ValueType
PhaseValue: TypeAlias = common_pb2.Phase.ValueType

AWAITING_CONTENT = common_pb2.BATCH_STATUS_AWAITING_CONTENT
READY = common_pb2.BATCH_STATUS_READY
SPELLCHECKING = common_pb2.BATCH_STATUS_SPELLCHECKING
COMPLETED = common_pb2.BATCH_STATUS_COMPLETED
COMPLETED_WITH_FAILURES = common_pb2.BATCH_STATUS_COMPLETED_WITH_FAILURES
FAILED = common_pb2.BATCH_STATUS_FAILED

TERMINAL: frozenset[Status] = frozenset({COMPLETED, COMPLETED_WITH_FAILURES, FAILED})
TRANSITIONS: dict[Status, frozenset[Status]] = {
    AWAITING_CONTENT: frozenset({READY, FAILED}),
    READY: frozenset({SPELLCHECKING}),
    SPELLCHECKING: frozenset({COMPLETED, COMPLETED_WITH_FAILURES, FAILED}),
}
# The batch status while a phase runs.
RUNNING_STATUS: dict[PhaseValue, Status] = {common_pb2.PHASE_SPELLCHECK: SPELLCHECKING}


class IllegalTransition(RuntimeError):
    """A change not in TRANSITIONS was attempted: a bug in BOS, never an event's fault."""


def is_terminal(batch: BatchRecord) -> bool:
    """True when the batch has reached its end state."""
    return batch.status in TERMINAL


def status_name(status: Status) -> str:
    """BATCH_STATUS_READY → READY."""
    return common_pb2.BatchStatus.Name(status).removeprefix("BATCH_STATUS_")


def _changed(batch: BatchRecord, now: datetime) -> BatchRecord:
    copy = BatchRecord()
    copy.CopyFrom(batch)
    copy.updated_at.FromDatetime(now)
    return copy


def _move(batch: BatchRecord, to: Status, now: datetime) -> None:
    if to not in TRANSITIONS.get(batch.status, frozenset()):
        raise IllegalTransition(f"{status_name(batch.status)} → {status_name(to)}")
    batch.status = to
    if to in TERMINAL:
        batch.completed_at.FromDatetime(now)


def _fail(batch: BatchRecord, reason: str, now: datetime) -> None:
    _move(batch, FAILED, now)
    batch.failure_reason = reason


def phase_state(batch: BatchRecord, phase: PhaseValue) -> PhaseState | None:
    """The batch's state of `phase`, or None if the batch does not run it."""
    return next((state for state in batch.phase_states if state.phase == phase), None)


def next_phase(batch: BatchRecord) -> PhaseValue | None:
    """The first phase of the pipeline that has not started."""
    pending = (s.phase for s in batch.phase_states if s.status == common_pb2.PHASE_STATUS_PENDING)
    return next(pending, None)


def foreign_essay_ids(batch: BatchRecord, essay_ids: Iterable[str]) -> list[str]:
    """The ids that are not slots of this batch (a contract violation worth a log line)."""
    slots = set(batch.essay_ids)
    return [essay_id for essay_id in essay_ids if essay_id not in slots]


def record_ready(
    batch: BatchRecord,
    *,
    ready_essays: Sequence[common_pb2.EssayRef],
    validation_failures: Sequence[common_pb2.ValidationFailure],
    missing_count: int,
    partial: bool,
    now: datetime,
) -> BatchRecord | None:
    """BatchEssaysReady: READY with the ready essays, or FAILED when not one essay is ready.

    Essays that are not slots of the batch, and repeats, are left out.
    """
    if batch.status != AWAITING_CONTENT:
        return None
    updated = _changed(batch, now)
    slots = set(batch.essay_ids)
    seen: set[str] = set()
    for essay in ready_essays:
        if essay.essay_id in slots and essay.essay_id not in seen:
            seen.add(essay.essay_id)
            updated.ready_essays.append(essay)
    updated.validation_failures.extend(validation_failures)
    updated.missing_count = missing_count
    updated.partial = partial
    updated.counts.assigned = len(updated.ready_essays)
    updated.counts.failed_validation = len(validation_failures)
    if updated.ready_essays:
        _move(updated, READY, now)
    else:
        _fail(
            updated,
            f"no essay could be processed: {len(validation_failures)} of "
            f"{batch.counts.expected} uploads failed validation and {missing_count} "
            "slots received no upload",
            now,
        )
    return updated


def start_phase(batch: BatchRecord, phase: PhaseValue, now: datetime) -> BatchRecord | None:
    """The phase was initiated: READY → its running status, the phase IN_PROGRESS."""
    if batch.status != READY or phase not in RUNNING_STATUS:
        return None
    state = phase_state(batch, phase)
    if state is None or state.status != common_pb2.PHASE_STATUS_PENDING:
        return None
    updated = _changed(batch, now)
    _move(updated, RUNNING_STATUS[phase], now)
    started = phase_state(updated, phase)
    assert started is not None
    started.status = common_pb2.PHASE_STATUS_IN_PROGRESS
    started.started_at.FromDatetime(now)
    return updated


def fail_timed_out(
    batch: BatchRecord,
    *,
    assigned: int,
    failed: int,
    expected: int,
    reason: str,
    now: datetime,
) -> BatchRecord | None:
    """BatchReadinessTimedOut: FAILED, saying how far the batch got and what it needed."""
    if batch.status != AWAITING_CONTENT:
        return None
    updated = _changed(batch, now)
    updated.counts.assigned = assigned
    updated.counts.failed_validation = failed
    expected = expected or batch.counts.expected
    threshold = batch.readiness.partial_batch_threshold
    sentence = (
        f"readiness deadline passed with {assigned} of {expected} essays uploaded "
        f"({failed} failed validation); partial_batch_threshold {threshold:g} needs "
        f"{math.ceil(round(threshold * expected, 9))} uploaded"
    )
    _fail(updated, f"{sentence}: {reason}" if reason else sentence, now)
    return updated


def _excess_key(item: common_pb2.ExcessContent) -> tuple[str, int]:
    return (item.file_upload_id or item.text_storage_id, item.reason)


def record_excess(
    batch: BatchRecord, item: common_pb2.ExcessContent, now: datetime
) -> BatchRecord | None:
    """ExcessContentProvisioned: recorded once per upload and reason, in any state.

    Excess content never held a slot, so it is reported but does not change the status.
    """
    key = _excess_key(item)
    if any(_excess_key(known) == key for known in batch.excess_content):
        return None
    updated = _changed(batch, now)
    updated.excess_content.append(item)
    updated.counts.excess = len(updated.excess_content)
    return updated


def record_phase_outcome(
    batch: BatchRecord,
    *,
    phase: PhaseValue,
    processed_essays: Sequence[common_pb2.EssayRef],
    now: datetime,
) -> BatchRecord | None:
    """ELSBatchPhaseOutcome: the phase's results, then the batch's end state.

    Every ready essay ends either processed or failed: one the outcome does not list as processed
    counts as failed, so no essay goes unaccounted. The status follows from the essays:
    none processed → FAILED; any failed, failed validation or missing → COMPLETED_WITH_FAILURES;
    otherwise COMPLETED.
    """
    if batch.status != RUNNING_STATUS.get(phase):
        return None
    state = phase_state(batch, phase)
    if state is None or state.status != common_pb2.PHASE_STATUS_IN_PROGRESS:
        return None
    ready_ids = [essay.essay_id for essay in batch.ready_essays]
    processed: dict[str, common_pb2.EssayRef] = {}
    for essay in processed_essays:
        if essay.essay_id in ready_ids and essay.essay_id not in processed:
            processed[essay.essay_id] = essay
    failed = [essay_id for essay_id in ready_ids if essay_id not in processed]

    updated = _changed(batch, now)
    finished = phase_state(updated, phase)
    assert finished is not None
    finished.processed_essays.extend(processed[i] for i in ready_ids if i in processed)
    finished.failed_essay_ids.extend(failed)
    finished.finished_at.FromDatetime(now)
    if not processed:
        finished.status = common_pb2.PHASE_STATUS_FAILED
    elif failed:
        finished.status = common_pb2.PHASE_STATUS_COMPLETED_WITH_FAILURES
    else:
        finished.status = common_pb2.PHASE_STATUS_COMPLETED
    updated.failed_essay_ids.extend(i for i in failed if i not in batch.failed_essay_ids)
    if phase == common_pb2.PHASE_SPELLCHECK:
        updated.counts.spellchecked = len(processed)
        updated.counts.spellcheck_failed = len(failed)

    # SPELLCHECK is the last phase of every pipeline BOS runs today, so its outcome ends the batch.
    if not processed:
        _fail(updated, f"no essay passed {_phase_label(phase)}: all {len(failed)} failed", now)
    elif failed or updated.counts.failed_validation or updated.missing_count:
        _move(updated, COMPLETED_WITH_FAILURES, now)
    else:
        _move(updated, COMPLETED, now)
    return updated


def _phase_label(phase: PhaseValue) -> str:
    return common_pb2.Phase.Name(phase).removeprefix("PHASE_").lower().replace("_", " ")
