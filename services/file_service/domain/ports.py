"""What the upload rules need from the outside world; adapters implement these, tests fake them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.file_service.domain.extraction import ExtractionOutcome
from services.file_service.domain.uploads import Admission, UploadRecord


@dataclass(frozen=True)
class BatchRegistration:
    """What the File Service knows of a registered batch."""

    batch_id: str
    correlation_id: str
    expected_essay_count: int
    tenant_id: str = ""


class BatchRegistry(Protocol):
    """The batches announced by BatchEssaysRegistered."""

    async def wait_for(self, batch_id: str, timeout_s: float) -> BatchRegistration | None:
        """The batch's registration, waiting up to `timeout_s` for it to arrive; None if not."""
        ...


class ContentStore(Protocol):
    """Durable storage of raw uploads and extracted text (the Content Service)."""

    async def put_upload(
        self, content: bytes, media_type: str, text: str | None, *, tenant: str, batch_id: str
    ) -> tuple[str, str]:
        """Store an upload's bytes and, unless None, its extracted text (UTF-8), as the
        tenant's, held by the batch; returns the storage ids (SHA-256s) of the bytes and of
        the text ("" when None)."""
        ...


class Extractor(Protocol):
    """Runs extraction and validation of one file, contained and time-limited."""

    async def extract(self, content: bytes, file_name: str) -> ExtractionOutcome:
        """The accepted text, or the rejection, of one file."""
        ...


class UploadLedger(Protocol):
    """One durable record per distinct file (by SHA-256) per batch."""

    async def get(self, batch_id: str, content_sha256: str) -> UploadRecord | None:
        """The record of this file in this batch, if any."""
        ...

    async def create(self, record: UploadRecord) -> bool:
        """Store the record if none exists (atomically); False when one already did."""
        ...


class FileAdmissions(Protocol):
    """The different files (by SHA-256) each batch has taken, up to the batch's limit."""

    async def admit(self, batch_id: str, content_sha256: str, limit: int) -> tuple[Admission, int]:
        """Count the file among the batch's files unless `limit` are counted already: NEW when
        counted now, KNOWN when it was counted before, REFUSED otherwise; with the file's
        generation (how many of the batch's files were forgotten when it was admitted), which its
        upload's ids derive from."""
        ...


class OutcomeAnnouncer(Protocol):
    """Publishes EssayContentProvisioned or EssayValidationFailed for a record."""

    async def announce(self, record: UploadRecord) -> bool:
        """Publish the record's event and wait for the ack; False if the stream already had it."""
        ...
