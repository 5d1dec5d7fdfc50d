"""The committed sample class is what the generator writes, and each file reads as its student's
essay through the File Service's extraction (the broken one as CORRUPT_FILE)."""

from __future__ import annotations

import pytest

from examples.make_sample_class import ESSAYS_DIR, sample_files
from examples.sample_class import BROKEN_FILE_NAME, ESSAYS, SampleEssay
from services.file_service.domain.errors import RejectionCode
from services.file_service.domain.extraction import ExtractionLimits, process_upload


def test_the_committed_files_are_what_the_generator_writes() -> None:
    files = sample_files()
    assert sorted(path.name for path in ESSAYS_DIR.iterdir()) == sorted(files)
    for name, content in files.items():
        assert (ESSAYS_DIR / name).read_bytes() == content, f"run make sample-class ({name})"


def test_the_class_mixes_every_supported_format() -> None:
    assert len(ESSAYS) == 12
    assert {essay.file_format for essay in ESSAYS} == {"txt", "md", "html", "rtf", "docx", "pdf"}


@pytest.mark.parametrize("essay", ESSAYS, ids=[essay.file_name for essay in ESSAYS])
def test_each_essay_extracts_to_its_text(essay: SampleEssay) -> None:
    outcome = process_upload(
        (ESSAYS_DIR / essay.file_name).read_bytes(), essay.file_name, ExtractionLimits()
    )
    assert outcome.accepted, outcome.detail
    assert outcome.detected_format == essay.file_format
    text = " ".join(outcome.text.split())
    assert essay.title in text
    for paragraph in essay.paragraphs:
        assert " ".join(paragraph.split()) in text


def test_the_broken_file_is_rejected_as_corrupt() -> None:
    outcome = process_upload(
        (ESSAYS_DIR / BROKEN_FILE_NAME).read_bytes(), BROKEN_FILE_NAME, ExtractionLimits()
    )
    assert outcome.rejection is RejectionCode.CORRUPT_FILE
