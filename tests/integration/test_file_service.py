"""The File Service over real gRPC with a real Content Service and nats-server: durable receipts,
one event per distinct file, duplicates, the registration wait, bad requests and bad files."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from huleedu.events.v1 import events_pb2
from huleedu.file.v1 import file_service_pb2, file_service_pb2_grpc
from services.content_service.bootstrap import ContentService
from services.file_service.adapters.extraction_pool import PoolSettings
from services.file_service.adapters.upload_ledger import UPLOADS_BUCKET, KvUploadLedger
from services.file_service.bootstrap import FileService
from services.file_service.domain.uploads import (
    UploadRecord,
    file_upload_id_for,
    outcome_event_id_for,
)
from services.mesh.settings import NatsSettings
from tests.integration.test_file_service_support import (
    GRPC_OPTIONS,
    file_stub,
    outcome_events,
    register_batch,
    running_file_service,
)
from tests.support import unique
from tests.unit.file_service.catalogue import ACCEPTED, bad_inputs, corpus_bytes, essay, waves

Stub = file_service_pb2_grpc.FileServiceStub
JS = tuple[Client, JetStreamContext]
STATUS = file_service_pb2.UploadStatus


@pytest.fixture(scope="module")
async def files(nats_settings: NatsSettings, content: ContentService) -> AsyncIterator[FileService]:
    async with running_file_service(nats_settings, content.port) as service:
        yield service


@pytest.fixture
async def stub(files: FileService) -> AsyncIterator[Stub]:
    async with file_stub(files.port) as client:
        yield client


async def _upload(
    stub: Stub, batch_id: str, name: str, data: bytes
) -> file_service_pb2.FileReceipt:
    request = file_service_pb2.UploadFileRequest(batch_id=batch_id, file_name=name, content=data)
    return (await stub.UploadFile(request, timeout=60)).receipt


async def _content_of(content: ContentService, storage_id: str) -> bytes:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{content.port}", options=GRPC_OPTIONS)
    try:
        stub = content_service_pb2_grpc.ContentServiceStub(channel)
        request = content_service_pb2.GetContentRequest(storage_id=storage_id)
        return (await stub.GetContent(request)).content
    finally:
        await channel.close(None)


async def test_accepted_upload_is_stored_and_announced(
    stub: Stub, nats_js: JS, content: ContentService
) -> None:
    _, js = nats_js
    batch_id, correlation_id = await register_batch(js)
    data = essay(10)

    receipt = await _upload(stub, batch_id, "essay.txt", data)

    assert receipt.status == STATUS.UPLOAD_STATUS_ACCEPTED
    assert receipt.raw_storage_id == receipt.content_sha256 == hashlib.sha256(data).hexdigest()
    assert receipt.content_md5 == hashlib.md5(data, usedforsecurity=False).hexdigest()
    assert receipt.file_upload_id == file_upload_id_for(batch_id, receipt.content_sha256)
    assert receipt.detected_format == "txt" and receipt.word_count > 25
    assert await _content_of(content, receipt.raw_storage_id) == data
    text = (await _content_of(content, receipt.text_storage_id)).decode("utf-8")
    assert " ".join(text.split()) == " ".join(data.decode().split())
    # durable before the answer: the event is already in the stream
    [event] = await outcome_events(js, batch_id)
    assert isinstance(event, events_pb2.EssayContentProvisioned)
    assert event.metadata.correlation_id == correlation_id
    assert event.metadata.producer == "file_service"
    assert (event.file_upload_id, event.text_storage_id, event.word_count) == (
        receipt.file_upload_id,
        receipt.text_storage_id,
        receipt.word_count,
    )
    assert event.file_size_bytes == len(data) and event.original_file_name == "essay.txt"


async def test_same_file_twice_is_one_event(stub: Stub, nats_js: JS) -> None:
    _, js = nats_js
    batch_id, _ = await register_batch(js)

    first = await _upload(stub, batch_id, "a.txt", essay(11))
    second = await _upload(stub, batch_id, "b.txt", essay(11))

    assert first.status == STATUS.UPLOAD_STATUS_ACCEPTED
    assert second.status == STATUS.UPLOAD_STATUS_DUPLICATE
    assert second.file_upload_id == first.file_upload_id
    assert second.text_storage_id == first.text_storage_id
    assert "'a.txt'" in second.detail
    assert len(await outcome_events(js, batch_id)) == 1


async def test_thirty_concurrent_uploads(stub: Stub, nats_js: JS) -> None:
    _, js = nats_js
    batch_id, _ = await register_batch(js, expected=30)
    uploads = [(f"student-{n}.txt", essay(100 + n)) for n in range(30)]

    receipts = await asyncio.gather(*(_upload(stub, batch_id, n, d) for n, d in uploads))

    assert [receipt.status for receipt in receipts] == [STATUS.UPLOAD_STATUS_ACCEPTED] * 30
    events = await outcome_events(js, batch_id)
    assert len(events) == 30
    assert len({event.metadata.event_id for event in events}) == 30
    assert {event.content_sha256 for event in events} == {r.content_sha256 for r in receipts}


async def test_concurrent_uploads_of_one_file_accept_it_once(stub: Stub, nats_js: JS) -> None:
    _, js = nats_js
    batch_id, _ = await register_batch(js)

    receipts = await asyncio.gather(
        *(_upload(stub, batch_id, f"copy-{n}.txt", essay(12)) for n in range(6))
    )

    statuses = sorted(receipt.status for receipt in receipts)
    assert statuses == [STATUS.UPLOAD_STATUS_ACCEPTED] + [STATUS.UPLOAD_STATUS_DUPLICATE] * 5
    assert len(await outcome_events(js, batch_id)) == 1


async def test_upload_files_stream_keeps_order(stub: Stub, nats_js: JS) -> None:
    _, js = nats_js
    batch_id, _ = await register_batch(js, expected=12)
    files = [(f"{n:02d}.txt", essay(200 + n)) for n in range(10)]
    files += [("dup.txt", essay(200)), ("short.txt", b"Hi there.")]

    async def requests() -> AsyncIterator[file_service_pb2.UploadFilesRequest]:
        for name, data in files:
            yield file_service_pb2.UploadFilesRequest(
                batch_id=batch_id, file_name=name, content=data
            )

    response = await stub.UploadFiles(requests(), timeout=60)

    assert [receipt.file_name for receipt in response.receipts] == [name for name, _ in files]
    assert [receipt.status for receipt in response.receipts] == (
        [STATUS.UPLOAD_STATUS_ACCEPTED] * 10
        + [STATUS.UPLOAD_STATUS_DUPLICATE, STATUS.UPLOAD_STATUS_REJECTED]
    )
    assert response.receipts[-1].error_code == common_pb2.VALIDATION_ERROR_CODE_CONTENT_TOO_SHORT
    assert len(await outcome_events(js, batch_id)) == 11


async def test_upload_right_after_registration_waits_for_it(stub: Stub, nats_js: JS) -> None:
    _, js = nats_js
    batch_id = unique("late")
    upload = asyncio.create_task(_upload(stub, batch_id, "x.txt", essay(13)))
    await asyncio.sleep(0.3)  # the registration is still on its way when the upload arrives
    assert not upload.done()

    await register_batch(js, batch_id=batch_id)

    assert (await upload).status == STATUS.UPLOAD_STATUS_ACCEPTED


async def test_unknown_batch_is_not_found_and_nothing_is_stored(
    stub: Stub, content: ContentService
) -> None:
    data = essay(14) + unique("never stored").encode()
    started = time.monotonic()

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _upload(stub, unique("unknown"), "x.txt", data)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert "RegisterBatch" in (raised.value.details() or "")
    assert time.monotonic() - started >= 2.0  # it waited FILE_REGISTRATION_WAIT_S
    with pytest.raises(grpc.aio.AioRpcError) as missing:
        await _content_of(content, hashlib.sha256(data).hexdigest())
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("batch", "name", "size", "code"),
    [
        ("", "a.txt", 100, grpc.StatusCode.INVALID_ARGUMENT),
        ("known", "", 100, grpc.StatusCode.INVALID_ARGUMENT),
        ("known", "big.pdf", 10 * 1024 * 1024 + 1, grpc.StatusCode.RESOURCE_EXHAUSTED),
        ("known", "huge.pdf", 40 * 1024 * 1024, grpc.StatusCode.RESOURCE_EXHAUSTED),
    ],
)
async def test_bad_requests(
    *, stub: Stub, nats_js: JS, batch: str, name: str, size: int, code: grpc.StatusCode
) -> None:
    _, js = nats_js
    batch_id = (await register_batch(js))[0] if batch else ""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _upload(stub, batch_id, name, b"x" * size)
    assert raised.value.code() == code
    assert raised.value.details()
    if batch:
        assert await outcome_events(js, batch_id) == []


async def test_bad_input_catalogue(
    nats_settings: NatsSettings, nats_js: JS, content: ContentService
) -> None:
    """Every catalogue entry gets its code from a running service, a wave at a time: ordinary
    files and memory bombs on a service with a generous time limit (a busy machine must not
    turn a slow parse into a timeout), then the loops on one whose 3 s limit stops them. Both
    keep the 512 MiB memory limit (1 GiB and 20 s by default)."""
    _, js = nats_js
    batch_id, _ = await register_batch(js, expected=len(bad_inputs()))
    ordinary, bombs, loops = waves()
    memory = 512 * 1024 * 1024
    patient = PoolSettings(workers=2, timeout_s=60.0, memory_limit_bytes=memory)
    strict = PoolSettings(workers=2, timeout_s=3.0, memory_limit_bytes=memory)
    catalogue, receipts = [], []
    for pool, groups in ((patient, (ordinary, bombs)), (strict, (loops,))):
        async with (
            running_file_service(nats_settings, content.port, pool=pool) as files,
            file_stub(files.port) as stub,
        ):
            for wave in groups:  # each wave at once
                catalogue += wave
                receipts += await asyncio.gather(
                    *(_upload(stub, batch_id, bad.file_name, bad.content) for bad in wave)
                )
            # the service is still up, its killed workers replaced, and it takes a good file
            good = await _upload(stub, batch_id, f"good-{len(catalogue)}.txt", essay(15))
            assert good.status in (STATUS.UPLOAD_STATUS_ACCEPTED, STATUS.UPLOAD_STATUS_DUPLICATE)
            assert len(files.wired.worker_pids) == 2
    for bad, receipt in zip(catalogue, receipts, strict=True):
        if bad.expected == ACCEPTED:
            assert receipt.status == STATUS.UPLOAD_STATUS_ACCEPTED, bad.label
            continue
        assert receipt.status == STATUS.UPLOAD_STATUS_REJECTED, bad.label
        code = common_pb2.ValidationErrorCode.Name(receipt.error_code)
        assert code == f"VALIDATION_ERROR_CODE_{bad.expected}", (bad.label, receipt.detail)
        assert receipt.detail and receipt.text_storage_id == ""
        assert await _content_of(content, receipt.raw_storage_id) == bad.content

    events = await outcome_events(js, batch_id)
    assert len(events) == len(bad_inputs()) + 1  # and the good file
    names = [event.original_file_name for event in events]
    assert "../../etc/passwd/essay.txt" in names  # kept as written: a name is never a path
    assert "n" * 251 + ".txt" in names


async def test_a_stuck_extraction_times_out_and_the_service_goes_on(
    nats_settings: NatsSettings, nats_js: JS, content: ContentService
) -> None:
    _, js = nats_js
    batch_id, _ = await register_batch(js)
    big_pdf = corpus_bytes("pdf/sf009_GeoTopo-komprimiert.pdf")  # seconds of pypdf work
    pool = PoolSettings(workers=1, timeout_s=0.3)
    async with (
        running_file_service(nats_settings, content.port, pool=pool) as slow,
        file_stub(slow.port) as slow_stub,
    ):
        [worker] = slow.wired.worker_pids
        receipt = await _upload(slow_stub, batch_id, "lecture.pdf", big_pdf)
        after = await _upload(slow_stub, batch_id, "essay.txt", essay(16))
        [replacement] = slow.wired.worker_pids

    assert receipt.status == STATUS.UPLOAD_STATUS_REJECTED
    assert receipt.error_code == common_pb2.VALIDATION_ERROR_CODE_EXTRACTION_TIMEOUT
    assert after.status == STATUS.UPLOAD_STATUS_ACCEPTED
    assert replacement != worker


async def test_a_record_an_earlier_version_left_unpublished_is_published_by_the_retry(
    stub: Stub, nats_js: JS, files: FileService
) -> None:
    client, js = nats_js
    batch_id, correlation_id = await register_batch(js)
    data = essay(17)
    sha = hashlib.sha256(data).hexdigest()
    # what a process of an earlier version (it recorded before publishing) left when it died
    # between the two
    ledger = KvUploadLedger(await js.key_value(UPLOADS_BUCKET), client)
    pending = UploadRecord(
        batch_id=batch_id,
        correlation_id=correlation_id,
        file_upload_id=file_upload_id_for(batch_id, sha),
        event_id=outcome_event_id_for(batch_id, sha),
        file_name="essay.txt",
        content_sha256=sha,
        content_md5=hashlib.md5(data, usedforsecurity=False).hexdigest(),
        file_size_bytes=len(data),
        raw_storage_id=sha,
        detected_format="txt",
        text_storage_id=sha,
        word_count=400,
        occurred_at_ms=1_700_000_000_000,
    )
    assert await ledger.create(pending)
    assert await outcome_events(js, batch_id) == []

    first = await _upload(stub, batch_id, "essay.txt", data)
    second = await _upload(stub, batch_id, "essay.txt", data)

    assert first.status == STATUS.UPLOAD_STATUS_ACCEPTED  # this call made it durable
    assert second.status == STATUS.UPLOAD_STATUS_DUPLICATE
    [event] = await outcome_events(js, batch_id)
    assert event.metadata.event_id == pending.event_id


async def test_health_is_serving(files: FileService) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{files.port}")
    stub = health_pb2_grpc.HealthStub(channel)
    request = health_pb2.HealthCheckRequest(service="huleedu.file.v1.FileService")
    response = await stub.Check(request)
    await channel.close(None)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


async def test_any_batch_id_works_as_data(stub: Stub, nats_js: JS) -> None:
    _, js = nats_js
    batch_id, _ = await register_batch(js, batch_id=unique("class 9B/essays *.> å"))

    receipt = await _upload(stub, batch_id, "essay.txt", essay(18))

    assert receipt.status == STATUS.UPLOAD_STATUS_ACCEPTED
    [event] = await outcome_events(js, batch_id)
    assert event.batch_id == batch_id
