"""The upload rules: deterministic ids, the durable record of one file in one batch, receipts."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace
from enum import StrEnum

from services.file_service.domain.errors import RejectionCode
from services.mesh.event_ids import derived_event_id

MAX_FILE_NAME_CHARS = 255
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")


class UploadStatus(StrEnum):
    """What became of one uploaded file."""

    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    DUPLICATE = "DUPLICATE"


def _admission_parts(batch_id: str, content_sha256: str, generation: int) -> list[str]:
    parts = [batch_id, content_sha256]
    return [*parts, str(generation)] if generation else parts


def file_upload_id_for(batch_id: str, content_sha256: str, generation: int = 0) -> str:
    """The upload id: the same bytes uploaded to the same batch always get the same id, until
    the batch's files of erased essays are forgotten (`generation`: how many were when the file
    was admitted), so the same file admitted again after its essay's erasure gets a new one."""
    return derived_event_id("file_upload", *_admission_parts(batch_id, content_sha256, generation))


def outcome_event_id_for(batch_id: str, content_sha256: str, generation: int = 0) -> str:
    """The id of the one event (provisioned or failed) announcing a file admitted to a batch."""
    return derived_event_id(
        "file_upload_outcome", *_admission_parts(batch_id, content_sha256, generation)
    )


def display_file_name(file_name: str) -> str:
    """The name as data to show and announce: no control or bidi characters, at most 255
    characters. It is never used as a path."""
    cleaned = _UNPRINTABLE.sub("\ufffd", unicodedata.normalize("NFC", file_name)).strip()
    return cleaned[:MAX_FILE_NAME_CHARS]


class Admission(StrEnum):
    """What a batch's list of files said to one more file."""

    NEW = "NEW"  # counted now: no upload of these bytes to the batch has been recorded
    KNOWN = "KNOWN"  # counted before: its record may exist (or its upload is under way)
    REFUSED = "REFUSED"  # the batch has as many different files as it takes


@dataclass(frozen=True)
class UploadRecord:
    """The durable outcome of one distinct file (by SHA-256) in one batch.

    It is written, marked `published`, only after JetStream acknowledged its event, so a record
    always means an announced file; an upload retried after a crash before that re-publishes
    the same event (same id) instead of losing it. Records with `published` false were written
    by earlier versions, which recorded before publishing.
    """

    batch_id: str
    correlation_id: str
    file_upload_id: str
    event_id: str
    file_name: str
    content_sha256: str
    content_md5: str
    file_size_bytes: int
    raw_storage_id: str
    detected_format: str
    text_storage_id: str = ""
    word_count: int = 0
    rejection: RejectionCode | None = None
    detail: str = ""
    occurred_at_ms: int = 0
    published: bool = False

    @property
    def status(self) -> UploadStatus:
        """ACCEPTED or REJECTED, as first decided."""
        return UploadStatus.ACCEPTED if self.rejection is None else UploadStatus.REJECTED

    def as_published(self) -> UploadRecord:
        """The same record, marked as announced."""
        return replace(self, published=True)


@dataclass(frozen=True)
class Receipt:
    """What the client is told about one file."""

    file_upload_id: str
    file_name: str
    status: UploadStatus
    content_sha256: str
    content_md5: str
    raw_storage_id: str = ""
    text_storage_id: str = ""
    word_count: int = 0
    detected_format: str = ""
    rejection: RejectionCode | None = None
    detail: str = ""


def receipt_for(record: UploadRecord, file_name: str, *, duplicate: bool) -> Receipt:
    """The receipt for `record`, sent to a client that uploaded it as `file_name`."""
    if duplicate:
        outcome = "accepted" if record.rejection is None else f"rejected: {record.detail}"
        detail = (
            f"The same file was already uploaded to this batch as {record.file_name!r} "
            f"({outcome}); it was not added again."
        )
        status = UploadStatus.DUPLICATE
    else:
        detail = record.detail
        status = record.status
    return Receipt(
        file_upload_id=record.file_upload_id,
        file_name=file_name,
        status=status,
        content_sha256=record.content_sha256,
        content_md5=record.content_md5,
        raw_storage_id=record.raw_storage_id,
        text_storage_id=record.text_storage_id,
        word_count=record.word_count,
        detected_format=record.detected_format,
        rejection=record.rejection,
        detail=detail,
    )
