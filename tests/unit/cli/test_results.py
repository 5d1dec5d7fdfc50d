"""The submit result as data: the --json document, the table rows, the progress line."""

from __future__ import annotations

from huleedu.batch.v1.batch_service_pb2 import Batch, BatchCounts
from huleedu.common.v1 import common_pb2
from huleedu.essay.v1.essay_service_pb2 import Essay
from services.cli.results import (
    LocalDuplicate,
    LocalFailure,
    progress_text,
    result_document,
    summary_line,
    table_rows,
)


def finished_batch() -> tuple[Batch, list[Essay]]:
    batch = Batch(
        batch_id="b-1",
        status=common_pb2.BATCH_STATUS_COMPLETED_WITH_FAILURES,
        validation_failures=[
            common_pb2.ValidationFailure(
                original_file_name="broken.pdf",
                error_code=common_pb2.VALIDATION_ERROR_CODE_CORRUPT_FILE,
                detail="The PDF cannot be read.",
                essay_id="e-2",
            )
        ],
        excess_content=[
            common_pb2.ExcessContent(
                original_file_name="extra.txt",
                text_storage_id="t-9",
                reason=common_pb2.EXCESS_CONTENT_REASON_NO_FREE_SLOT,
            )
        ],
    )
    essays = [
        Essay(
            essay_id="e-1",
            original_file_name="good.txt",
            status=common_pb2.ESSAY_STATUS_SPELLCHECKED_SUCCESS,
            word_count=120,
            correction_count=1,
            corrected_text_storage_id="c-1",
            corrections=[
                common_pb2.Correction(offset=4, length=7, original="recieve", replacement="receive")
            ],
        ),
        Essay(
            essay_id="e-2",
            original_file_name="broken.pdf",
            status=common_pb2.ESSAY_STATUS_VALIDATION_FAILED,
            failure_reason="The PDF cannot be read.",
        ),
    ]
    return batch, essays


def test_the_json_document_has_the_documented_shape() -> None:
    batch, essays = finished_batch()
    document = result_document(
        batch,
        essays,
        local_failures=[LocalFailure("huge.pdf", "FILE_TOO_LARGE", "12.0 MiB is over")],
        local_duplicates=[LocalDuplicate("copy.txt", "good.txt")],
    )
    assert document["batch_id"] == "b-1"
    assert document["status"] == "COMPLETED_WITH_FAILURES"
    assert document["essays"][0] == {
        "essay_id": "e-1",
        "file_name": "good.txt",
        "status": "SPELLCHECKED_SUCCESS",
        "word_count": 120,
        "correction_count": 1,
        "corrections": [
            {"offset": 4, "length": 7, "original": "recieve", "replacement": "receive"}
        ],
        "corrected_text_storage_id": "c-1",
        "warning": "",
    }
    assert document["essays"][1]["status"] == "VALIDATION_FAILED"
    assert document["failures"] == [
        {
            "file_name": "broken.pdf",
            "error_code": "CORRUPT_FILE",
            "detail": "The PDF cannot be read.",
        },
        {"file_name": "huge.pdf", "error_code": "FILE_TOO_LARGE", "detail": "12.0 MiB is over"},
    ]
    assert [(e["file_name"], e["reason"]) for e in document["excess"]] == [
        ("extra.txt", "NO_FREE_SLOT"),
        ("copy.txt", "DUPLICATE_CONTENT"),
    ]


def test_spellcheck_failures_are_listed_as_failures() -> None:
    essay = Essay(
        essay_id="e-3",
        original_file_name="odd.txt",
        status=common_pb2.ESSAY_STATUS_SPELLCHECK_FAILED,
        failure_reason="content not found",
    )
    document = result_document(Batch(batch_id="b", status=common_pb2.BATCH_STATUS_FAILED), [essay])
    assert document["status"] == "FAILED"
    assert document["failures"] == [
        {"file_name": "odd.txt", "error_code": "SPELLCHECK_FAILED", "detail": "content not found"}
    ]


def test_the_table_has_one_row_per_file() -> None:
    batch, essays = finished_batch()
    document = result_document(
        batch, essays, local_failures=[LocalFailure("huge.pdf", "FILE_TOO_LARGE", "too big")]
    )
    rows = table_rows(document)
    assert [row[0] for row in rows] == ["broken.pdf", "good.txt", "huge.pdf", "extra.txt"]
    assert rows[0][2:] == ("VALIDATION_FAILED", "-", "-", "CORRUPT_FILE: The PDF cannot be read.")
    assert rows[1][2:5] == ("SPELLCHECKED_SUCCESS", "120", "1")
    assert rows[2][2] == "NOT_UPLOADED" and rows[3][2] == "EXCESS"
    assert "1 spell-checked (1 corrections), 2 failed, 1 excess" in summary_line(document, 2.0)


def test_a_spell_check_warning_shows_in_the_json_and_the_table() -> None:
    essay = Essay(
        essay_id="e-4",
        original_file_name="uppsats.txt",
        status=common_pb2.ESSAY_STATUS_SPELLCHECKED_SUCCESS,
        word_count=180,
        spellcheck_warning="150 of 180 words are not en words: left unchanged",
    )
    document = result_document(
        Batch(batch_id="b", status=common_pb2.BATCH_STATUS_COMPLETED), [essay]
    )
    assert document["essays"][0]["warning"] == essay.spellcheck_warning
    (row,) = table_rows(document)
    assert row[-1] == f"warning: {essay.spellcheck_warning}"


def test_the_progress_line_counts_files_ready_essays_and_spellchecked_ones() -> None:
    waiting = Batch(
        status=common_pb2.BATCH_STATUS_AWAITING_CONTENT,
        counts=BatchCounts(expected=4, assigned=2, failed_validation=1),
    )
    assert "files in 3/4 · ready 0 · spell-checked 0/0" in progress_text(waiting)
    running = Batch(
        status=common_pb2.BATCH_STATUS_SPELLCHECKING,
        counts=BatchCounts(expected=4, assigned=4, spellchecked=2),
        ready_essays=[common_pb2.EssayRef(essay_id=str(n)) for n in range(4)],
    )
    text = progress_text(running)
    assert text.startswith("[##########----------] SPELLCHECKING")
    assert "ready 4 · spell-checked 2/4" in text
