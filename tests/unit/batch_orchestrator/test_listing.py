"""ListBatches page sizes and tokens."""

from __future__ import annotations

import pytest

from huleedu.batch.v1.batch_service_pb2 import BatchCounts, PhaseState
from huleedu.common.v1 import common_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain.errors import InvalidRequest
from services.batch_orchestrator.domain.listing import (
    decode_page_token,
    encode_page_token,
    page_size,
    summary,
)


def test_page_size_defaults_and_limits() -> None:
    assert page_size(0) == 20
    assert page_size(1) == 1
    assert page_size(100) == 100
    with pytest.raises(InvalidRequest, match="page_size"):
        page_size(101)


def test_tokens_round_trip_and_are_opaque() -> None:
    token = encode_page_token("index.8234.abc")
    assert "index" not in token
    assert decode_page_token(token) == "index.8234.abc"
    assert encode_page_token("") == ""
    assert decode_page_token("") == ""


@pytest.mark.parametrize("token", ["nonsense", "!!!", encode_page_token("x")[:-2] + "@@"])
def test_foreign_tokens_are_refused(token: str) -> None:
    with pytest.raises(InvalidRequest, match="page_token"):
        decode_page_token(token)


def test_summaries_keep_counts_and_drop_per_essay_lists() -> None:
    batch = BatchRecord(
        batch_id="b",
        essay_ids=["e1", "e2"],
        ready_essays=[common_pb2.EssayRef(essay_id="e1")],
        failed_essay_ids=["e2"],
        counts=BatchCounts(expected=2, assigned=1),
        phase_states=[
            PhaseState(
                phase=common_pb2.PHASE_SPELLCHECK,
                processed_essays=[common_pb2.EssayRef(essay_id="e1")],
                failed_essay_ids=["e2"],
            )
        ],
    )
    brief = summary(batch)
    assert not brief.essay_ids and not brief.ready_essays and not brief.failed_essay_ids
    assert not brief.phase_states[0].processed_essays
    assert brief.counts == batch.counts
    assert len(batch.essay_ids) == 2  # the input is untouched
