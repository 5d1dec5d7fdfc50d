"""The upload use case with fakes: durability order, duplicates, crash recovery, bad requests."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib

import pytest

from services.file_service.domain.errors import (
    BatchFileLimitError,
    BatchNotRegisteredError,
    InvalidUploadError,
    RejectionCode,
    UploadTooLargeError,
)
from services.file_service.domain.extraction import (
    ExtractionLimits,
    ExtractionOutcome,
    process_upload,
)
from services.file_service.domain.ingest import IngestPolicy, UploadIngestor
from services.file_service.domain.ports import BatchRegistration
from services.file_service.domain.uploads import Admission, UploadRecord, UploadStatus
from tests.unit.file_service.catalogue import essay


class FakeRegistry:
    def __init__(self, *batch_ids: str) -> None:
        self.batches = set(batch_ids)
        self.waited: list[float] = []

    async def wait_for(self, batch_id: str, timeout_s: float) -> BatchRegistration | None:
        self.waited.append(timeout_s)
        if batch_id in self.batches:
            return BatchRegistration(batch_id, f"corr-{batch_id}", 3)
        return None


class FakeExtractor:
    def __init__(self) -> None:
        self.calls = 0
        self.gate: asyncio.Event | None = None

    async def extract(self, content: bytes, file_name: str) -> ExtractionOutcome:
        self.calls += 1
        if self.gate is not None:
            await self.gate.wait()
        return process_upload(content, file_name, ExtractionLimits())


class FakeContent:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def _put(self, content: bytes) -> str:
        storage_id = hashlib.sha256(content).hexdigest()
        self.objects[storage_id] = content
        return storage_id

    async def put_upload(
        self, content: bytes, media_type: str, text: str | None, *, tenant: str, batch_id: str
    ) -> tuple[str, str]:
        return self._put(content), "" if text is None else self._put(text.encode())


class FakeLedger:
    def __init__(self) -> None:
        self.records: dict[tuple[str, str], UploadRecord] = {}
        self.fail_next_create = False
        self.lookups = 0

    async def get(self, batch_id: str, content_sha256: str) -> UploadRecord | None:
        self.lookups += 1
        return self.records.get((batch_id, content_sha256))

    async def create(self, record: UploadRecord) -> bool:
        if self.fail_next_create:
            self.fail_next_create = False
            raise ConnectionError("process died before the record was written")
        key = (record.batch_id, record.content_sha256)
        if key in self.records:
            return False
        self.records[key] = record
        return True


class FakeStream:
    """JetStream's dedupe by event id, and a switch to fail the next publish (a crash)."""

    def __init__(self) -> None:
        self.stored: list[UploadRecord] = []
        self.fail_next = False

    async def announce(self, record: UploadRecord) -> bool:
        if self.fail_next:
            self.fail_next = False
            raise ConnectionError("process died before the publish")
        if any(stored.event_id == record.event_id for stored in self.stored):
            return False
        self.stored.append(record)
        return True


class FakeAdmissions:
    def __init__(self) -> None:
        self.files: dict[str, list[str]] = {}

    async def admit(self, batch_id: str, content_sha256: str, limit: int) -> tuple[Admission, int]:
        admitted = self.files.setdefault(batch_id, [])
        if content_sha256 in admitted:
            return Admission.KNOWN, 0
        if len(admitted) >= limit:
            return Admission.REFUSED, 0
        admitted.append(content_sha256)
        return Admission.NEW, 0


Parts = tuple[FakeRegistry, FakeExtractor, FakeContent, FakeLedger, FakeStream]


@pytest.fixture
def parts() -> Parts:
    return FakeRegistry("b1", "b2"), FakeExtractor(), FakeContent(), FakeLedger(), FakeStream()


def ingestor_of(
    parts: Parts, admissions: FakeAdmissions | None = None, **policy: float
) -> UploadIngestor:
    registry, extractor, content, ledger, stream = parts
    return UploadIngestor(
        registry=registry,
        extractor=extractor,
        content=content,
        ledger=ledger,
        admissions=admissions or FakeAdmissions(),
        announcer=stream,
        policy=IngestPolicy(**policy),  # type: ignore[arg-type]
        clock_ms=lambda: 1_700_000_000_000,
    )


async def test_accepted_file_is_stored_recorded_and_announced_once(parts: Parts) -> None:
    registry, _, content, ledger, stream = parts
    receipt = await ingestor_of(parts).ingest("b1", "essay.txt", essay(1))

    assert receipt.status is UploadStatus.ACCEPTED
    assert receipt.raw_storage_id == hashlib.sha256(essay(1)).hexdigest()
    assert content.objects[receipt.text_storage_id].decode().strip()
    assert receipt.word_count > 25
    assert receipt.detected_format == "txt"
    [record] = ledger.records.values()
    assert record.published and record.correlation_id == "corr-b1"
    assert [stored.file_upload_id for stored in stream.stored] == [receipt.file_upload_id]
    assert registry.waited == [5.0]


async def test_rejected_file_keeps_raw_bytes_and_announces_the_failure(parts: Parts) -> None:
    _, _, content, _, stream = parts
    receipt = await ingestor_of(parts).ingest("b1", "short.txt", b"Too short.")

    assert receipt.status is UploadStatus.REJECTED
    assert receipt.rejection is RejectionCode.CONTENT_TOO_SHORT
    assert receipt.text_storage_id == ""
    assert receipt.raw_storage_id in content.objects
    assert stream.stored[0].rejection is RejectionCode.CONTENT_TOO_SHORT


async def test_same_file_twice_is_a_duplicate_with_the_same_ids(parts: Parts) -> None:
    _, extractor, _, _, stream = parts
    ingestor = ingestor_of(parts)
    first = await ingestor.ingest("b1", "a.txt", essay(1))
    second = await ingestor.ingest("b1", "copy of a.txt", essay(1))

    assert second.status is UploadStatus.DUPLICATE
    assert second.file_upload_id == first.file_upload_id
    assert second.text_storage_id == first.text_storage_id
    assert second.file_name == "copy of a.txt"
    assert "'a.txt'" in second.detail
    assert len(stream.stored) == 1
    assert extractor.calls == 1


async def test_only_a_file_counted_before_is_looked_up_in_the_ledger(parts: Parts) -> None:
    """A file the batch's list counts for the first time cannot have a record yet: a new file
    costs no read of the ledger; the second upload of it reads its record."""
    ledger = parts[3]
    ingestor = ingestor_of(parts)
    await ingestor.ingest("b1", "a.txt", essay(1))
    await ingestor.ingest("b1", "b.txt", essay(2))
    assert ledger.lookups == 0

    await ingestor.ingest("b1", "a again.txt", essay(1))
    assert ledger.lookups == 1


async def test_same_file_in_another_batch_is_a_new_upload(parts: Parts) -> None:
    ingestor = ingestor_of(parts)
    first = await ingestor.ingest("b1", "a.txt", essay(1))
    other = await ingestor.ingest("b2", "a.txt", essay(1))

    assert other.status is UploadStatus.ACCEPTED
    assert other.file_upload_id != first.file_upload_id


async def test_concurrent_uploads_of_one_file_give_one_accepted(parts: Parts) -> None:
    _, extractor, _, _, stream = parts
    extractor.gate = asyncio.Event()
    ingestor = ingestor_of(parts)
    tasks = [asyncio.create_task(ingestor.ingest("b1", f"{i}.txt", essay(1))) for i in range(5)]
    await asyncio.sleep(0)
    extractor.gate.set()
    receipts = await asyncio.gather(*tasks)

    statuses = sorted(receipt.status.value for receipt in receipts)
    assert statuses == ["ACCEPTED"] + ["DUPLICATE"] * 4
    assert len(stream.stored) == 1


async def test_a_crash_before_the_publish_is_repaired_by_the_retry(parts: Parts) -> None:
    _, _, _, ledger, stream = parts
    ingestor = ingestor_of(parts)
    stream.fail_next = True
    with pytest.raises(ConnectionError):
        await ingestor.ingest("b1", "a.txt", essay(1))
    assert ledger.records == {} and stream.stored == []

    retry = await ingestor.ingest("b1", "a.txt", essay(1))

    assert retry.status is UploadStatus.ACCEPTED
    [record] = ledger.records.values()
    assert record.published
    assert [stored.event_id for stored in stream.stored] == [record.event_id]


async def test_a_crash_between_publish_and_record_is_repaired_by_the_retry(parts: Parts) -> None:
    _, _, _, ledger, stream = parts
    ingestor = ingestor_of(parts)
    ledger.fail_next_create = True
    with pytest.raises(ConnectionError):
        await ingestor.ingest("b1", "a.txt", essay(1))
    assert ledger.records == {} and len(stream.stored) == 1

    retry = await ingestor.ingest("b1", "a.txt", essay(1))

    assert retry.status is UploadStatus.ACCEPTED  # this call made the record
    [record] = ledger.records.values()
    assert record.published
    assert [stored.event_id for stored in stream.stored] == [record.event_id]  # one event


async def test_a_record_an_earlier_version_left_unpublished_is_published_by_the_next_upload(
    parts: Parts,
) -> None:
    _, _, _, ledger, stream = parts
    ingestor = ingestor_of(parts)
    await ingestor.ingest("b1", "a.txt", essay(1))
    key = next(iter(ledger.records))
    ledger.records[key] = dataclasses.replace(ledger.records[key], published=False)
    stream.stored.clear()  # recorded, then cut off before its publish

    retry = await ingestor.ingest("b1", "a.txt", essay(1))

    assert retry.status is UploadStatus.ACCEPTED  # the stream did not have the event
    assert [stored.event_id for stored in stream.stored] == [ledger.records[key].event_id]


async def test_an_unpublished_record_whose_event_is_stored_is_a_duplicate(
    parts: Parts,
) -> None:
    _, _, _, ledger, stream = parts
    ingestor = ingestor_of(parts)
    await ingestor.ingest("b1", "a.txt", essay(1))
    key = next(iter(ledger.records))
    ledger.records[key] = dataclasses.replace(ledger.records[key], published=False)

    retry = await ingestor.ingest("b1", "a.txt", essay(1))

    assert retry.status is UploadStatus.DUPLICATE  # the stream already had the event
    assert len(stream.stored) == 1


@pytest.mark.parametrize(
    ("batch_id", "file_name"),
    [("", "a.txt"), ("  ", "a.txt"), ("b1", ""), ("b1", "\x00\x01"), ("x" * 300, "a.txt")],
)
async def test_malformed_requests_store_nothing(
    parts: Parts, batch_id: str, file_name: str
) -> None:
    _, extractor, content, _, _ = parts
    with pytest.raises(InvalidUploadError):
        await ingestor_of(parts).ingest(batch_id, file_name, essay(1))
    assert content.objects == {} and extractor.calls == 0


async def test_unknown_batch_is_refused_after_waiting_and_stores_nothing(parts: Parts) -> None:
    registry, _, content, ledger, _ = parts
    with pytest.raises(BatchNotRegisteredError, match="RegisterBatch"):
        await ingestor_of(parts, registration_wait_s=0.25).ingest("nope", "a.txt", essay(1))
    assert registry.waited == [0.25]
    assert content.objects == {} and ledger.records == {}


async def test_oversized_file_is_refused_with_the_limit_named(parts: Parts) -> None:
    _, _, content, _, _ = parts
    with pytest.raises(UploadTooLargeError, match="FILE_MAX_UPLOAD_BYTES"):
        await ingestor_of(parts, max_upload_bytes=100).ingest("b1", "a.txt", b"x" * 101)
    assert content.objects == {}


@pytest.mark.parametrize(("expected", "limit"), [(1, 11), (3, 13), (5, 15), (25, 50), (500, 1000)])
def test_a_batch_takes_twice_its_essays_or_ten_more(expected: int, limit: int) -> None:
    assert IngestPolicy().file_limit(expected) == limit


async def test_files_beyond_the_batch_limit_are_refused_before_any_work(parts: Parts) -> None:
    _, extractor, content, ledger, stream = parts
    admissions = FakeAdmissions()
    ingestor = ingestor_of(parts, admissions, max_files_per_essay=1.0)  # 3 essays: 13 files
    files = [essay(n) for n in range(1, 16)]
    for data in files[:13]:
        assert (await ingestor.ingest("b1", "a.txt", data)).status is not UploadStatus.DUPLICATE
    stored = dict(content.objects)

    for data in files[13:]:
        with pytest.raises(BatchFileLimitError, match="13 different files for its 3 essays"):
            await ingestor.ingest("b1", "one too many.txt", data)

    assert extractor.calls == 13 and content.objects == stored
    assert len(stream.stored) == len(ledger.records) == 13
    # a file the batch already has is still answered, and another batch is not affected
    assert (await ingestor.ingest("b1", "again.txt", files[0])).status is UploadStatus.DUPLICATE
    assert (await ingestor.ingest("b2", "a.txt", files[14])).status is UploadStatus.ACCEPTED


async def test_an_admitted_file_whose_upload_failed_is_admitted_again(parts: Parts) -> None:
    _, _, _, _, stream = parts
    admissions = FakeAdmissions()
    ingestor = ingestor_of(parts, admissions, max_files_per_essay=1.0)
    for n in range(1, 13):
        await ingestor.ingest("b1", "a.txt", essay(n))
    stream.fail_next = True
    with pytest.raises(ConnectionError):
        await ingestor.ingest("b1", "last.txt", essay(13))  # the 13th and last file

    retry = await ingestor.ingest("b1", "last.txt", essay(13))

    assert retry.status is UploadStatus.ACCEPTED
    assert len(admissions.files["b1"]) == 13
