"""DeleteEssay in BOS's record: an erased essay keeps its id and loses its file name, storage
ids and failure detail wherever the record names it; doing it twice changes nothing more."""

from __future__ import annotations

from huleedu.common.v1 import common_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain.erasure import essay_erased, without_erased


def record() -> BatchRecord:
    batch = BatchRecord(batch_id="b1", essay_ids=["gone", "kept", "failed"])
    for essay_id in ("gone", "kept"):
        batch.ready_essays.add(
            essay_id=essay_id, text_storage_id=f"t-{essay_id}", original_file_name=f"{essay_id}.txt"
        )
    phase = batch.phase_states.add()
    phase.processed_essays.add(
        essay_id="gone", text_storage_id="c-gone", original_file_name="gone.txt"
    )
    batch.validation_failures.add(
        essay_id="failed",
        original_file_name="amira_hassan_empty.pdf",
        detail="amira_hassan_empty.pdf has no text",
        error_code=common_pb2.ValidationErrorCode.VALIDATION_ERROR_CODE_EMPTY_CONTENT,
    )
    return batch


def test_an_erased_essay_keeps_only_its_id() -> None:
    batch = essay_erased(record(), "gone")
    assert list(batch.erased_essay_ids) == ["gone"]
    assert [(r.essay_id, r.original_file_name, r.text_storage_id) for r in batch.ready_essays] == [
        ("gone", "", ""),
        ("kept", "kept.txt", "t-kept"),
    ]
    assert batch.phase_states[0].processed_essays[0].original_file_name == ""
    assert batch.phase_states[0].processed_essays[0].text_storage_id == ""
    assert batch.validation_failures[0].original_file_name == "amira_hassan_empty.pdf"


def test_a_failed_essays_name_and_detail_go_and_erasing_twice_changes_nothing() -> None:
    once = essay_erased(record(), "failed")
    twice = essay_erased(BatchRecord.FromString(once.SerializeToString()), "failed")
    assert twice == once
    assert list(once.erased_essay_ids) == ["failed"]
    failure = once.validation_failures[0]
    assert (failure.essay_id, failure.original_file_name, failure.detail) == ("failed", "", "")


def test_a_record_with_no_erased_essay_is_left_as_it_is() -> None:
    assert without_erased(record()) == record()
