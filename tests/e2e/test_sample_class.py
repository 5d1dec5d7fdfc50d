"""The sample class through the whole mesh with `huleedu submit --json`, then every read command of
the CLI on the batch it made."""

from __future__ import annotations

import json
from typing import Any

import grpc
import pytest

from examples.sample_class import BROKEN_FILE_NAME, ESSAYS
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from tests.e2e.conftest import SAMPLE_CLASS, E2EStack, huleedu, submit_json

JSON_KEYS = {"batch_id", "status", "essays", "failures", "excess"}
ESSAY_KEYS = {
    "essay_id",
    "file_name",
    "status",
    "word_count",
    "correction_count",
    "corrections",
    "corrected_text_storage_id",
    "warning",
}
# Misspellings planted in the sample class that any English spell checker gets right.
PLANTED = {"becuase": "because", "beleive": "believe", "enviroment": "environment"}


@pytest.fixture(scope="module")
def sample(stack: E2EStack) -> dict[str, Any]:
    """The --json result of submitting examples/essays once."""
    return submit_json(stack, SAMPLE_CLASS)


def by_file(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {essay["file_name"]: essay for essay in document["essays"]}


def test_the_batch_completes_with_the_broken_file_as_its_only_failure(
    sample: dict[str, Any],
) -> None:
    assert set(sample) == JSON_KEYS
    assert sample["status"] == "COMPLETED_WITH_FAILURES"
    assert sample["failures"] == [
        {
            "file_name": BROKEN_FILE_NAME,
            "error_code": "CORRUPT_FILE",
            "detail": sample["failures"][0]["detail"],
        }
    ]
    assert "PDF" in sample["failures"][0]["detail"]
    assert sample["excess"] == []
    assert by_file(sample)[BROKEN_FILE_NAME]["status"] == "VALIDATION_FAILED"


def test_every_good_file_is_spellchecked_with_its_corrections(sample: dict[str, Any]) -> None:
    essays = by_file(sample)
    assert set(essays) == {essay.file_name for essay in ESSAYS} | {BROKEN_FILE_NAME}
    formats = set()
    fixed: dict[str, str] = {}
    for expected in ESSAYS:
        essay = essays[expected.file_name]
        assert set(essay) == ESSAY_KEYS
        assert essay["warning"] == ""  # English essays checked as English
        assert essay["status"] == "SPELLCHECKED_SUCCESS", essay
        words = len(" ".join((expected.title, *expected.paragraphs)).split())
        assert abs(essay["word_count"] - words) <= 3, (expected.file_name, essay["word_count"])
        assert essay["correction_count"] == len(essay["corrections"]) >= 1
        assert len(essay["corrected_text_storage_id"]) == 64
        for correction in essay["corrections"]:
            assert set(correction) == {"offset", "length", "original", "replacement"}
            assert correction["original"] != correction["replacement"]
            assert len(correction["original"]) == correction["length"]
            fixed[correction["original"]] = correction["replacement"]
        formats.add(expected.file_format)
    assert formats == {"txt", "md", "html", "rtf", "docx", "pdf"}
    assert {word: fixed.get(word) for word in PLANTED} == PLANTED


def test_each_format_is_extracted_to_the_students_text(
    stack: E2EStack, sample: dict[str, Any]
) -> None:
    listed = huleedu(stack, "essays", sample["batch_id"], "--json")
    assert listed.returncode == 0, listed.stderr
    text_ids = {
        e["original_file_name"]: e.get("text_storage_id") for e in json.loads(listed.stdout)
    }
    shown = huleedu(stack, "text", text_ids[ESSAYS[0].file_name])
    assert shown.returncode == 0 and ESSAYS[0].title in shown.stdout, shown.stderr
    with grpc.insecure_channel(stack.addr("CONTENT_SERVICE_ADDR")) as channel:
        content = content_service_pb2_grpc.ContentServiceStub(channel)
        texts = {
            name: content.GetContent(
                content_service_pb2.GetContentRequest(storage_id=storage_id),
                timeout=10,
                metadata=stack.call_metadata,
            ).content.decode()
            for name, storage_id in text_ids.items()
            if storage_id
        }
    for expected in ESSAYS:
        text = " ".join(texts[expected.file_name].split())
        assert expected.title in text, expected.file_name
        for paragraph in expected.paragraphs:
            assert " ".join(paragraph.split()[:8]) in text, expected.file_name


def test_corrected_text_and_diff_show_the_corrections(
    stack: E2EStack, sample: dict[str, Any]
) -> None:
    essay = max(sample["essays"], key=lambda e: e["correction_count"])
    corrected = huleedu(stack, "text", essay["corrected_text_storage_id"])
    assert corrected.returncode == 0, corrected.stderr
    for correction in essay["corrections"]:
        assert correction["replacement"] in corrected.stdout
    diff = huleedu(stack, "diff", essay["essay_id"], "--color", "never")
    assert diff.returncode == 0, diff.stderr
    for correction in essay["corrections"]:
        assert f"[-{correction['original']}-]{{+{correction['replacement']}+}}" in diff.stdout
    assert f"{essay['correction_count']} correction(s)" in diff.stdout


def test_diff_of_the_broken_file_says_why_there_is_nothing_to_show(
    stack: E2EStack, sample: dict[str, Any]
) -> None:
    broken = by_file(sample)[BROKEN_FILE_NAME]
    result = huleedu(stack, "diff", broken["essay_id"])
    assert result.returncode == 1
    assert result.stderr.startswith("huleedu: ")
    assert "VALIDATION_FAILED" in result.stderr and "Traceback" not in result.stderr


def test_status_batches_and_essays_describe_the_batch(
    stack: E2EStack, sample: dict[str, Any]
) -> None:
    batch_id = sample["batch_id"]
    status = huleedu(stack, "status", batch_id)
    assert status.returncode == 0, status.stderr
    assert "COMPLETED_WITH_FAILURES" in status.stdout
    assert f"{BROKEN_FILE_NAME}: CORRUPT_FILE" in status.stdout
    batches = huleedu(stack, "batches", "--limit", "100")
    assert batches.returncode == 0 and batch_id in batches.stdout
    essays = huleedu(stack, "essays", batch_id)
    assert essays.returncode == 0
    assert essays.stdout.count("SPELLCHECKED_SUCCESS") == len(ESSAYS)


def test_events_decode_the_batchs_whole_story(stack: E2EStack, sample: dict[str, Any]) -> None:
    result = huleedu(stack, "events", "--batch", sample["batch_id"], "--json")
    assert result.returncode == 0, result.stderr
    entries = [json.loads(line) for line in result.stdout.splitlines()]
    types = [entry["type"] for entry in entries]
    assert types.count("EssayContentProvisioned") == len(ESSAYS)
    assert types.count("EssayValidationFailed") == 1
    results = [e for e in entries if e["type"] == "SpellcheckGroupCompleted"]
    assert sum(len(e["fields"]["results"]) for e in results) == len(ESSAYS)
    for name in (
        "BatchEssaysRegistered",
        "BatchEssaysReady",
        "BatchSpellcheckInitiateCommand",
        "ELSBatchPhaseOutcome",
    ):
        assert name in types
    failed = next(e for e in entries if e["type"] == "EssayValidationFailed")
    assert failed["fields"]["error_code"] == "VALIDATION_ERROR_CODE_CORRUPT_FILE"
    assert failed["subject"] == "huleedu.file.essay_validation_failed.v1"
    assert all(entry["batch_id"] == sample["batch_id"] for entry in entries)
    readable = huleedu(stack, "events", "--batch", sample["batch_id"])
    assert "huleedu.els.batch_essays_ready.v1  BatchEssaysReady  from essay_lifecycle" in (
        readable.stdout
    )


def test_the_dead_letter_queue_is_readable(stack: E2EStack) -> None:
    result = huleedu(stack, "dlq", "--json")
    assert result.returncode == 0, result.stderr
    for line in result.stdout.splitlines():
        assert "reason" in json.loads(line)["dlq"]


def test_submitting_the_same_file_twice_uploads_it_once(stack: E2EStack) -> None:
    essay = SAMPLE_CLASS / ESSAYS[0].file_name
    document = submit_json(stack, essay, essay)
    assert document["status"] == "COMPLETED"
    assert len(document["essays"]) == 1
    assert [item["reason"] for item in document["excess"]] == ["DUPLICATE_CONTENT"]


def test_the_table_names_every_file(stack: E2EStack) -> None:
    files = [SAMPLE_CLASS / ESSAYS[1].file_name, SAMPLE_CLASS / BROKEN_FILE_NAME]
    result = huleedu(stack, "submit", *map(str, files))
    assert result.returncode == 0, result.stderr
    assert "COMPLETED_WITH_FAILURES" in result.stdout
    assert ESSAYS[1].file_name in result.stdout and "SPELLCHECKED_SUCCESS" in result.stdout
    assert f"{BROKEN_FILE_NAME}" in result.stdout and "CORRUPT_FILE" in result.stdout
    assert "spell-checked 1/1" in result.stderr
