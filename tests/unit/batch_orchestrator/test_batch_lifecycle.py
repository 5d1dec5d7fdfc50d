"""The batch state machine, one transition at a time, without a network."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from huleedu.common.v1 import common_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain import batch as lifecycle
from services.batch_orchestrator.domain.registration import (
    BatchRequest,
    RegistrationPolicy,
    new_batch,
    validate_registration,
)

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
LATER = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
SPELLCHECK = common_pb2.PHASE_SPELLCHECK


def registered(count: int = 3, threshold: float = 1.0) -> BatchRecord:
    registration = validate_registration(
        BatchRequest(
            expected_essay_count=count,
            course_code="ENG5",
            language="en",
            partial_batch_threshold=threshold,
        ),
        RegistrationPolicy(),
    )
    ids = [f"e{i}" for i in range(1, count + 1)]
    return new_batch(registration, batch_id="b1", essay_ids=ids, correlation_id="c1", now=NOW)


def ref(essay_id: str) -> common_pb2.EssayRef:
    return common_pb2.EssayRef(essay_id=essay_id, text_storage_id=f"t-{essay_id}")


def failure(name: str) -> common_pb2.ValidationFailure:
    return common_pb2.ValidationFailure(
        file_upload_id=f"u-{name}",
        original_file_name=name,
        error_code=common_pb2.VALIDATION_ERROR_CODE_EMPTY_CONTENT,
    )


def ready(
    batch: BatchRecord, ids: list[str], *, failures: int = 0, missing: int = 0
) -> BatchRecord:
    result = lifecycle.record_ready(
        batch,
        ready_essays=[ref(i) for i in ids],
        validation_failures=[failure(f"f{n}.txt") for n in range(failures)],
        missing_count=missing,
        partial=missing > 0,
        now=LATER,
    )
    assert result is not None
    return result


def spellchecking(batch: BatchRecord) -> BatchRecord:
    started = lifecycle.start_phase(batch, SPELLCHECK, LATER)
    assert started is not None
    return started


def outcome(batch: BatchRecord, processed: list[str]) -> BatchRecord | None:
    return lifecycle.record_phase_outcome(
        batch, phase=SPELLCHECK, processed_essays=[ref(i) for i in processed], now=LATER
    )


def test_ready_records_essays_and_counts_without_touching_the_input() -> None:
    batch = registered()
    updated = ready(batch, ["e1", "e2"], failures=1)
    assert updated.status == lifecycle.READY
    assert [e.essay_id for e in updated.ready_essays] == ["e1", "e2"]
    assert (updated.counts.assigned, updated.counts.failed_validation) == (2, 1)
    assert updated.updated_at.ToDatetime(tzinfo=UTC) == LATER
    assert batch.status == lifecycle.AWAITING_CONTENT and not batch.ready_essays


def test_ready_leaves_out_foreign_and_repeated_essays() -> None:
    updated = ready(registered(), ["e1", "intruder", "e1", "e2"])
    assert [e.essay_id for e in updated.ready_essays] == ["e1", "e2"]
    assert lifecycle.foreign_essay_ids(updated, ["e1", "intruder"]) == ["intruder"]


def test_ready_with_no_essay_fails_with_a_reason() -> None:
    updated = ready(registered(), [], failures=2, missing=1)
    assert updated.status == lifecycle.FAILED
    assert "no essay could be processed" in updated.failure_reason
    assert "2 of 3 uploads failed validation" in updated.failure_reason
    assert updated.completed_at.ToDatetime(tzinfo=UTC) == LATER


def test_ready_twice_changes_nothing() -> None:
    once = ready(registered(), ["e1", "e2", "e3"])
    assert (
        lifecycle.record_ready(
            once, ready_essays=[], validation_failures=[], missing_count=0, partial=False, now=LATER
        )
        is None
    )


def test_start_phase_moves_to_spellchecking_once() -> None:
    running = spellchecking(ready(registered(), ["e1"]))
    assert running.status == lifecycle.SPELLCHECKING
    state = lifecycle.phase_state(running, SPELLCHECK)
    assert state is not None and state.status == common_pb2.PHASE_STATUS_IN_PROGRESS
    assert lifecycle.start_phase(running, SPELLCHECK, LATER) is None
    assert lifecycle.start_phase(registered(), SPELLCHECK, LATER) is None


def test_timed_out_fails_with_counts_and_reason() -> None:
    failed = lifecycle.fail_timed_out(
        registered(count=10, threshold=0.8),
        assigned=3,
        failed=1,
        expected=10,
        reason="only 3 arrived",
        now=LATER,
    )
    assert failed is not None
    assert failed.status == lifecycle.FAILED
    assert (failed.counts.assigned, failed.counts.failed_validation) == (3, 1)
    assert "3 of 10 essays uploaded" in failed.failure_reason
    assert "needs 8 uploaded" in failed.failure_reason
    assert failed.failure_reason.endswith(": only 3 arrived")


def test_timed_out_after_ready_changes_nothing() -> None:
    batch = ready(registered(), ["e1"])
    assert (
        lifecycle.fail_timed_out(batch, assigned=1, failed=0, expected=3, reason="", now=LATER)
        is None
    )


def test_excess_is_recorded_once_per_upload_and_reason_in_any_state() -> None:
    item = common_pb2.ExcessContent(
        file_upload_id="u1",
        original_file_name="extra.txt",
        reason=common_pb2.EXCESS_CONTENT_REASON_NO_FREE_SLOT,
    )
    done = outcome(spellchecking(ready(registered(1), ["e1"])), ["e1"])
    assert done is not None and lifecycle.is_terminal(done)
    once = lifecycle.record_excess(done, item, LATER)
    assert once is not None and once.counts.excess == 1
    assert once.status == lifecycle.COMPLETED
    assert lifecycle.record_excess(once, item, LATER) is None
    other_reason = common_pb2.ExcessContent()
    other_reason.CopyFrom(item)
    other_reason.reason = common_pb2.EXCESS_CONTENT_REASON_BATCH_CLOSED
    twice = lifecycle.record_excess(once, other_reason, LATER)
    assert twice is not None and twice.counts.excess == 2


CWF = "COMPLETED_WITH_FAILURES"


@pytest.mark.parametrize(
    ("ready_ids", "failures", "missing", "processed", "statuses"),
    [
        (["e1", "e2", "e3"], 0, 0, ["e1", "e2", "e3"], ("COMPLETED", "COMPLETED")),
        (["e1", "e2", "e3"], 0, 0, ["e1", "e3"], (CWF, CWF)),
        (["e1", "e2"], 1, 0, ["e1", "e2"], (CWF, "COMPLETED")),
        (["e1", "e2"], 0, 1, ["e1", "e2"], (CWF, "COMPLETED")),
        (["e1", "e2", "e3"], 0, 0, [], ("FAILED", "FAILED")),
    ],
)
def test_phase_outcome_decides_the_end_state(
    ready_ids: list[str],
    failures: int,
    missing: int,
    processed: list[str],
    statuses: tuple[str, str],
) -> None:
    status, phase_status = statuses
    running = spellchecking(ready(registered(), ready_ids, failures=failures, missing=missing))
    done = outcome(running, processed)
    assert done is not None
    assert lifecycle.status_name(done.status) == status
    state = lifecycle.phase_state(done, SPELLCHECK)
    assert state is not None
    assert common_pb2.PhaseStatus.Name(state.status) == f"PHASE_STATUS_{phase_status}"
    assert done.counts.spellchecked == len(processed)
    assert done.counts.spellcheck_failed == len(ready_ids) - len(processed)
    assert done.counts.spellchecked + done.counts.spellcheck_failed == len(ready_ids)
    assert set(done.failed_essay_ids) == set(ready_ids) - set(processed)
    if status == "FAILED":
        assert "no essay passed spellcheck" in done.failure_reason


def test_outcome_ignores_essays_that_were_not_ready_and_counts_unlisted_as_failed() -> None:
    running = spellchecking(ready(registered(), ["e1", "e2"]))
    done = outcome(running, ["e1", "e3", "stranger"])
    assert done is not None
    assert done.counts.spellchecked == 1
    assert list(done.failed_essay_ids) == ["e2"]


def test_outcome_before_the_phase_started_or_after_the_end_changes_nothing() -> None:
    assert outcome(ready(registered(), ["e1"]), ["e1"]) is None
    done = outcome(spellchecking(ready(registered(1), ["e1"])), ["e1"])
    assert done is not None
    assert outcome(done, ["e1"]) is None


def test_illegal_transitions_are_refused() -> None:
    done = outcome(spellchecking(ready(registered(1), ["e1"])), ["e1"])
    assert done is not None
    with pytest.raises(lifecycle.IllegalTransition):
        lifecycle._move(done, lifecycle.READY, LATER)


def test_next_phase_is_the_first_pending() -> None:
    batch = registered()
    assert lifecycle.next_phase(batch) == SPELLCHECK
    assert lifecycle.next_phase(spellchecking(ready(batch, ["e1"]))) is None
