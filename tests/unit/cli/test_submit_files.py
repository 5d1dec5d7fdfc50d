"""Which files a submission sends, under which names, and what it reports instead of sending."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from huleedu.common.v1 import common_pb2
from services.cli.errors import EXIT_USAGE, CliError
from services.cli.submit import SubmitOptions, collect_files, prepare, registration


def test_folders_are_read_recursively_without_hidden_files(tmp_path: Path) -> None:
    (tmp_path / "class" / "late").mkdir(parents=True)
    (tmp_path / "class" / "b.txt").write_text("b")
    (tmp_path / "class" / "late" / "a.pdf").write_bytes(b"%PDF")
    (tmp_path / "class" / ".DS_Store").write_bytes(b"x")
    (tmp_path / "class" / ".git").mkdir()
    (tmp_path / "class" / ".git" / "config").write_text("x")
    single = tmp_path / "single.md"
    single.write_text("# s")
    found = collect_files([tmp_path / "class", single])
    assert [name for _, name in found] == ["b.txt", "late/a.pdf", "single.md"]


def test_a_missing_path_or_an_empty_folder_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(CliError) as missing:
        collect_files([tmp_path / "nope"])
    assert missing.value.exit_code == EXIT_USAGE
    with pytest.raises(CliError, match="no files to submit"):
        collect_files([tmp_path])


def test_the_same_bytes_are_sent_once_and_oversized_files_not_at_all(tmp_path: Path) -> None:
    files = []
    for name, content in (("a.txt", b"same"), ("b.txt", b"same"), ("big.txt", b"x" * 2048)):
        (tmp_path / name).write_bytes(content)
        files.append((tmp_path / name, name))
    submission = prepare(files, max_file_bytes=1024)
    assert [upload.file_name for upload in submission.uploads] == ["a.txt"]
    assert [(d.file_name, d.same_as) for d in submission.duplicates] == [("b.txt", "a.txt")]
    assert [(f.file_name, f.error_code) for f in submission.failures] == [
        ("big.txt", "FILE_TOO_LARGE")
    ]


def test_the_batch_is_registered_with_one_slot_per_file_sent() -> None:
    plain = registration(SubmitOptions(paths=[], course_code="SV3", language="sv"), 7)
    assert plain.expected_essay_count == 7
    assert (plain.course_code, plain.language) == ("SV3", "sv")
    assert not plain.HasField("readiness")  # the service's defaults
    tuned = registration(SubmitOptions(paths=[], timeout_s=30, partial_threshold=0.5), 2)
    assert tuned.readiness == common_pb2.ReadinessConfig(
        timeout_seconds=30, partial_batch_threshold=0.5
    )


def test_each_submission_has_its_own_request_id() -> None:
    options = SubmitOptions(paths=[])
    first, second = registration(options, 3), registration(options, 3)
    assert uuid.UUID(first.request_id).version == 4
    assert first.request_id != second.request_id
