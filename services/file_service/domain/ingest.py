"""The upload use case: one file in, one durable receipt out.

Order of work, so that nothing acknowledged is ever lost and nothing is announced twice:
1. the batch must be registered (wait briefly for a registration still in flight);
2. the file must fit under the batch's limit of different files (2 per essay, at least 10
   extra), so a flood of uploads to one batch costs nothing downstream; a file counted before
   may be recorded already: then it is a duplicate (a record never published is published now,
   with its original event id). A file counted just now has no record to look up (records are
   made after the count), which saves a read per new file; should one exist all the same (an
   upload of an earlier version), step 5 finds it. The upload's ids derive from batch, SHA-256
   and the admission's generation, so the same file taken again after its essay was erased is
   a new upload, announced anew;
3. extract and validate in the worker pool, store the raw bytes (and the text if accepted) in
   one call to the Content Service (a text that is the raw bytes themselves is not stored twice);
4. publish the event (its id is the upload's) and wait for JetStream's ack;
5. create the record, marked published, atomically: of concurrent uploads of the same bytes
   exactly one creates it and answers ACCEPTED; their publishes carried the same event id, so
   JetStream stored one event;
6. only then answer.

A crash after the publish and before the record leaves the event stored and no record: the
upload's retry does the work again, republishes the same event id (JetStream, or ELS after the
duplicate window, drops it) and creates the record. Records written by earlier versions before
their publish (`published` false) are published when the file comes again.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from services.file_service.domain.errors import (
    BatchFileLimitError,
    BatchNotRegisteredError,
    InvalidUploadError,
    UploadTooLargeError,
)
from services.file_service.domain.formats import MEDIA_TYPES, UNKNOWN_MEDIA_TYPE, DocumentFormat
from services.file_service.domain.ports import (
    BatchRegistration,
    BatchRegistry,
    ContentStore,
    Extractor,
    FileAdmissions,
    OutcomeAnnouncer,
    UploadLedger,
)
from services.file_service.domain.uploads import (
    Admission,
    Receipt,
    UploadRecord,
    display_file_name,
    file_upload_id_for,
    outcome_event_id_for,
    receipt_for,
)
from services.mesh.free_text import text_problem
from services.mesh.hashing import hashed

MIN_EXTRA_FILES = 10


@dataclass(frozen=True)
class IngestPolicy:
    """Limits of the upload use case."""

    max_upload_bytes: int = 10 * 1024 * 1024
    registration_wait_s: float = 5.0
    max_files_per_essay: float = 2.0

    def file_limit(self, expected_essay_count: int) -> int:
        """How many different files a batch of `expected_essay_count` essays takes: enough for
        every essay, a replacement for each and a few strays, so excess files are still
        reported; never unbounded."""
        return max(
            math.ceil(expected_essay_count * self.max_files_per_essay),
            expected_essay_count + MIN_EXTRA_FILES,
        )


class KeyedLock:
    """One asyncio lock per key, dropped when nobody holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold the lock of `key` for the block."""
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users <= 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


def check_request(batch_id: str, file_name: str) -> None:
    """Refuse a request that names no batch or no file, or names them with text that is too
    long or holds control characters (services.mesh.free_text)."""
    if not batch_id.strip():
        raise InvalidUploadError(
            "batch_id is empty: give the id RegisterBatch returned", field="batch_id"
        )
    problem = text_problem(batch_id)
    if problem is not None:
        raise InvalidUploadError(
            f"batch_id {problem}: give the id RegisterBatch returned", field="batch_id"
        )
    problem = text_problem(file_name)
    if problem is not None:
        raise InvalidUploadError(f"file_name {problem}", field="file_name")
    if not display_file_name(file_name).strip("\ufffd "):
        raise InvalidUploadError(
            "file_name is empty: give the name of the uploaded file", field="file_name"
        )


class UploadIngestor:
    """Turns an uploaded file into a durable, announced record and a receipt."""

    def __init__(
        self,
        *,
        registry: BatchRegistry,
        extractor: Extractor,
        content: ContentStore,
        ledger: UploadLedger,
        admissions: FileAdmissions,
        announcer: OutcomeAnnouncer,
        policy: IngestPolicy,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
    ) -> None:
        self._registry = registry
        self._extractor = extractor
        self._content = content
        self._ledger = ledger
        self._admissions = admissions
        self._announcer = announcer
        self._policy = policy
        self._clock_ms = clock_ms
        self._same_file = KeyedLock()

    async def ingest(
        self, batch_id: str, file_name: str, content: bytes, *, tenant_id: str = ""
    ) -> Receipt:
        """Ingest one file into a batch of the tenant; raises InvalidUploadError,
        UploadTooLargeError, BatchNotRegisteredError (also for another tenant's batch, which is
        answered exactly as a missing one) or BatchFileLimitError for a request that must not
        be stored."""
        check_request(batch_id, file_name)
        if len(content) > self._policy.max_upload_bytes:
            raise UploadTooLargeError(
                f"{display_file_name(file_name)!r} is {_mib(len(content))}; the limit is "
                f"{_mib(self._policy.max_upload_bytes)} per file (FILE_MAX_UPLOAD_BYTES)"
            )
        registration = await self._registry.wait_for(batch_id, self._policy.registration_wait_s)
        if registration is None or registration.tenant_id != tenant_id:
            raise BatchNotRegisteredError(
                f"batch {batch_id!r} is not registered: register it with RegisterBatch first "
                "(or check the id)"
            )
        sha256, md5 = await hashed(content, _digests)
        async with self._same_file.hold(f"{batch_id}\x1f{sha256}"):
            limit = self._policy.file_limit(registration.expected_essay_count)
            admission, generation = await self._admissions.admit(batch_id, sha256, limit)
            if admission is Admission.REFUSED:
                raise BatchFileLimitError(
                    f"batch {batch_id!r} already has {limit} different files for its "
                    f"{registration.expected_essay_count} essays, the most it takes "
                    f"(FILE_MAX_FILES_PER_ESSAY); {display_file_name(file_name)!r} was not "
                    "stored. Files uploaded before may be sent again (duplicates are detected)"
                )
            if admission is Admission.KNOWN:
                existing = await self._ledger.get(batch_id, sha256)
                if existing is not None:
                    return await self._settle(existing, file_name)
            record = await self._process(
                registration, file_name, content, (sha256, md5), generation
            )
            stored_now = await self._announcer.announce(record)
            if await self._ledger.create(record.as_published()):
                return receipt_for(record, file_name, duplicate=False)
            existing = await self._ledger.get(batch_id, sha256)
            if existing is None:  # created and deleted in between: nothing sane to do
                raise RuntimeError(f"upload record of {sha256} vanished while being read")
            # A record left unpublished by an earlier version was announced just now.
            return receipt_for(existing, file_name, duplicate=existing.published or not stored_now)

    async def _settle(self, record: UploadRecord, file_name: str) -> Receipt:
        """A file the batch has a record of: a duplicate, unless the record was never published
        (written by an earlier version that recorded before publishing, then cut off): then
        publish it now, and answer ACCEPTED if the stream did not have the event yet."""
        if record.published:
            return receipt_for(record, file_name, duplicate=True)
        stored_now = await self._announcer.announce(record)
        return receipt_for(record, file_name, duplicate=not stored_now)

    async def _process(
        self,
        registration: BatchRegistration,
        file_name: str,
        content: bytes,
        digests: tuple[str, str],
        generation: int,
    ) -> UploadRecord:
        sha256, md5 = digests
        outcome = await self._extractor.extract(content, file_name)
        media_type = (
            MEDIA_TYPES[DocumentFormat(outcome.detected_format)]
            if outcome.detected_format
            else UNKNOWN_MEDIA_TYPE
        )
        raw_storage_id, text_storage_id = await self._content.put_upload(
            content,
            media_type,
            outcome.text if outcome.accepted else None,
            tenant=registration.tenant_id,
            batch_id=registration.batch_id,
        )
        batch_id = registration.batch_id
        if raw_storage_id != sha256:
            raise RuntimeError(f"content service stored {sha256} as {raw_storage_id}")
        return UploadRecord(
            batch_id=batch_id,
            correlation_id=registration.correlation_id,
            file_upload_id=file_upload_id_for(batch_id, sha256, generation),
            event_id=outcome_event_id_for(batch_id, sha256, generation),
            file_name=display_file_name(file_name),
            content_sha256=sha256,
            content_md5=md5,
            file_size_bytes=len(content),
            raw_storage_id=raw_storage_id,
            detected_format=outcome.detected_format,
            text_storage_id=text_storage_id,
            word_count=outcome.word_count,
            rejection=outcome.rejection,
            detail=outcome.detail,
            occurred_at_ms=self._clock_ms(),
        )


def _digests(content: bytes) -> tuple[str, str]:
    return (
        hashlib.sha256(content).hexdigest(),
        hashlib.md5(content, usedforsecurity=False).hexdigest(),
    )


def _mib(size: int) -> str:
    return f"{size / 1048576:.1f} MiB" if size >= 1048576 else f"{size} bytes"
