"""What a submitted batch came to, as data: the `--json` document, the table rows, the progress
line. Pure functions of protobuf messages, no I/O."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from huleedu.batch.v1.batch_service_pb2 import Batch
from huleedu.common.v1 import common_pb2
from huleedu.essay.v1.essay_service_pb2 import Essay

TERMINAL = frozenset(
    {
        common_pb2.BATCH_STATUS_COMPLETED,
        common_pb2.BATCH_STATUS_COMPLETED_WITH_FAILURES,
        common_pb2.BATCH_STATUS_FAILED,
    }
)
SUCCEEDED = frozenset(
    {common_pb2.BATCH_STATUS_COMPLETED, common_pb2.BATCH_STATUS_COMPLETED_WITH_FAILURES}
)


def batch_status(value: int) -> str:
    """`BATCH_STATUS_COMPLETED` → `COMPLETED`."""
    return common_pb2.BatchStatus.Name(value).removeprefix("BATCH_STATUS_")  # type: ignore[arg-type]


def essay_status(value: int) -> str:
    """`ESSAY_STATUS_SPELLCHECKED_SUCCESS` → `SPELLCHECKED_SUCCESS`."""
    return common_pb2.EssayStatus.Name(value).removeprefix("ESSAY_STATUS_")  # type: ignore[arg-type]


def error_code(value: int) -> str:
    """`VALIDATION_ERROR_CODE_CORRUPT_FILE` → `CORRUPT_FILE`."""
    name = common_pb2.ValidationErrorCode.Name(value)  # type: ignore[arg-type]
    return name.removeprefix("VALIDATION_ERROR_CODE_")


def excess_reason(value: int) -> str:
    """`EXCESS_CONTENT_REASON_NO_FREE_SLOT` → `NO_FREE_SLOT`."""
    name = common_pb2.ExcessContentReason.Name(value)  # type: ignore[arg-type]
    return name.removeprefix("EXCESS_CONTENT_REASON_")


@dataclass(frozen=True)
class LocalFailure:
    """A file the CLI did not upload, and why."""

    file_name: str
    error_code: str
    detail: str


@dataclass(frozen=True)
class LocalDuplicate:
    """A file with the same bytes as another file of the submission, so not uploaded twice."""

    file_name: str
    same_as: str


def result_document(
    batch: Batch,
    essays: Sequence[Essay],
    *,
    local_failures: Sequence[LocalFailure] = (),
    local_duplicates: Sequence[LocalDuplicate] = (),
) -> dict[str, Any]:
    """The `huleedu submit --json` document."""
    failures: list[dict[str, str]] = [
        {
            "file_name": failure.original_file_name,
            "error_code": error_code(failure.error_code),
            "detail": failure.detail,
        }
        for failure in batch.validation_failures
    ]
    failures += [
        {
            "file_name": essay.original_file_name,
            "error_code": "SPELLCHECK_FAILED",
            "detail": essay.failure_reason,
        }
        for essay in essays
        if essay.status == common_pb2.ESSAY_STATUS_SPELLCHECK_FAILED
    ]
    failures += [
        {"file_name": f.file_name, "error_code": f.error_code, "detail": f.detail}
        for f in local_failures
    ]
    excess: list[dict[str, str]] = [
        {
            "file_name": item.original_file_name,
            "reason": excess_reason(item.reason),
            "detail": f"not assigned to a slot; its text is stored as {item.text_storage_id}",
        }
        for item in batch.excess_content
    ]
    excess += [
        {
            "file_name": d.file_name,
            "reason": "DUPLICATE_CONTENT",
            "detail": f"same bytes as {d.same_as}; uploaded once",
        }
        for d in local_duplicates
    ]
    return {
        "batch_id": batch.batch_id,
        "status": batch_status(batch.status),
        "essays": [essay_entry(essay) for essay in essays],
        "failures": failures,
        "excess": excess,
    }


def essay_entry(essay: Essay) -> dict[str, Any]:
    """One essay of the `--json` document."""
    return {
        "essay_id": essay.essay_id,
        "file_name": essay.original_file_name,
        "status": essay_status(essay.status),
        "word_count": essay.word_count,
        "correction_count": essay.correction_count,
        "corrections": [
            {
                "offset": c.offset,
                "length": c.length,
                "original": c.original,
                "replacement": c.replacement,
            }
            for c in essay.corrections
        ],
        "corrected_text_storage_id": essay.corrected_text_storage_id,
        "warning": essay.spellcheck_warning,
    }


TABLE_HEADER = ("FILE", "ESSAY ID", "STATUS", "WORDS", "CORRECTIONS", "FAILURE")


def table_rows(document: dict[str, Any]) -> list[tuple[str, ...]]:
    """One row per file: the essays by file name, then files that found no slot."""
    reasons = {f["file_name"]: f"{f['error_code']}: {f['detail']}" for f in document["failures"]}
    rows: list[tuple[str, ...]] = []
    for essay in sorted(document["essays"], key=lambda e: (e["file_name"] == "", e["file_name"])):
        succeeded = essay["status"] == "SPELLCHECKED_SUCCESS"
        rows.append(
            (
                essay["file_name"] or "(no file)",
                essay["essay_id"],
                essay["status"],
                str(essay["word_count"]) if succeeded else "-",
                str(essay["correction_count"]) if succeeded else "-",
                (reasons.get(essay["file_name"], "") if essay["file_name"] else "")
                or (f"warning: {essay['warning']}" if essay.get("warning") else ""),
            )
        )
    slotted = {essay["file_name"] for essay in document["essays"]}
    for failure in document["failures"]:
        if failure["file_name"] not in slotted:
            detail = f"{failure['error_code']}: {failure['detail']}"
            rows.append((failure["file_name"], "-", "NOT_UPLOADED", "-", "-", detail))
    for item in document["excess"]:
        detail = f"{item['reason']}: {item['detail']}"
        rows.append((item["file_name"], "-", "EXCESS", "-", "-", detail))
    return rows


def summary_line(document: dict[str, Any], elapsed_s: float) -> str:
    """One sentence on the whole batch."""
    essays = document["essays"]
    checked = [e for e in essays if e["status"] == "SPELLCHECKED_SUCCESS"]
    corrections = sum(e["correction_count"] for e in checked)
    return (
        f"batch {document['batch_id']}: {document['status']} in {elapsed_s:.1f} s — "
        f"{len(checked)} spell-checked ({corrections} corrections), "
        f"{len(document['failures'])} failed, {len(document['excess'])} excess"
    )


def progress_text(batch: Batch) -> str:
    """The progress line: a bar of spell-checked essays, then files in, ready, spell-checked."""
    counts = batch.counts
    resolved = counts.assigned + counts.failed_validation
    waiting = batch.status in (common_pb2.BATCH_STATUS_UNSPECIFIED, _AWAITING)
    ready = len(batch.ready_essays) or (0 if waiting else counts.assigned)
    checked = counts.spellchecked + counts.spellcheck_failed
    width = 20
    filled = min(width, round(width * checked / ready)) if ready else 0
    bar = "#" * filled + "-" * (width - filled)
    return (
        f"[{bar}] {batch_status(batch.status):<23} files in {resolved}/{counts.expected} · "
        f"ready {ready} · spell-checked {checked}/{ready}"
    )


_AWAITING = common_pb2.BATCH_STATUS_AWAITING_CONTENT
