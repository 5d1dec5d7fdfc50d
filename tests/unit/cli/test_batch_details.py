"""`huleedu status`'s text: an essay erased by DeleteEssay is listed as erased, and its failure,
whose name and detail were erased with it, is not printed as an empty line."""

from __future__ import annotations

from huleedu.batch.v1.batch_service_pb2 import Batch
from huleedu.common.v1 import common_pb2
from services.cli.render import batch_details

EMPTY = common_pb2.ValidationErrorCode.VALIDATION_ERROR_CODE_EMPTY_CONTENT


def test_erased_essays_are_named_and_their_failures_left_out() -> None:
    batch = Batch(batch_id="b1", erased_essay_ids=["e-gone"])
    batch.validation_failures.add(essay_id="e-gone", error_code=EMPTY)
    batch.validation_failures.add(
        essay_id="e-kept", original_file_name="blank.pdf", error_code=EMPTY, detail="no text"
    )
    lines = batch_details(batch).splitlines()
    assert [line for line in lines if line.startswith("failed")] == [
        "failed       blank.pdf: EMPTY_CONTENT: no text"
    ]
    assert "erased       e-gone" in lines


def test_a_batch_with_nothing_erased_has_no_erased_line() -> None:
    assert "erased" not in batch_details(Batch(batch_id="b1"))
