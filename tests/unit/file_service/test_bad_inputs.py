"""Every entry of the bad-input catalogue gets its code from the extraction pipeline."""

from __future__ import annotations

import pytest

from services.file_service.domain.extraction import ExtractionLimits, process_upload
from tests.unit.file_service.catalogue import ACCEPTED, BadInput, bad_inputs


def test_catalogue_is_big_enough() -> None:
    assert len(bad_inputs()) >= 15


@pytest.mark.parametrize("bad", bad_inputs(), ids=lambda bad: bad.label)
def test_bad_input_gets_its_code(bad: BadInput) -> None:
    outcome = process_upload(bad.content, bad.file_name, ExtractionLimits())

    got = outcome.rejection.value if outcome.rejection else ACCEPTED
    assert got == bad.expected, outcome.detail
    if outcome.rejection is not None:
        assert outcome.detail.endswith("."), "a rejection says what to do in a sentence"
        assert outcome.text == ""
