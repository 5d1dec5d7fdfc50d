"""Hostile request fields to every service over gRPC: each field out of range, too long, with
control characters or NATS wildcards, the wrong kind of id, a forged page token, a file too big.
Every call is answered with the status a client can act on, and nothing bad is announced."""

from __future__ import annotations

import hashlib
import math
import os
import uuid
from collections.abc import AsyncIterator, Awaitable

import grpc
import pytest

from huleedu.batch.v1 import batch_service_pb2 as batch_pb
from huleedu.batch.v1 import batch_service_pb2_grpc as batch_grpc
from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2 as content_pb
from huleedu.essay.v1 import essay_service_pb2 as essay_pb
from huleedu.file.v1 import file_service_pb2 as file_pb
from tests.integration.test_file_service_support import outcome_events, register_batch
from tests.integration.test_hostile_grpc_support import (
    JS,
    LONG,
    MAX_OBJECT,
    Code,
    Mesh,
    assert_actionable,
    status_of,
)
from tests.support import wait_until
from tests.unit.file_service.catalogue import essay


async def watch_status(stub: batch_grpc.BatchOrchestratorServiceStub, batch_id: str) -> Code:
    try:
        async for _ in stub.WatchBatch(batch_pb.WatchBatchRequest(batch_id=batch_id), timeout=5):
            return Code.OK
    except grpc.aio.AioRpcError as error:
        return error.code()
    return Code.OK


def register(**fields: object) -> batch_pb.RegisterBatchRequest:
    values: dict[str, object] = {"expected_essay_count": 3, "course_code": "ENG5", "language": "en"}
    values.update(fields)
    return batch_pb.RegisterBatchRequest(**values)  # type: ignore[arg-type]


def readiness(timeout_s: int = 0, threshold: float = 0.0) -> common_pb2.ReadinessConfig:
    return common_pb2.ReadinessConfig(timeout_seconds=timeout_s, partial_batch_threshold=threshold)


REGISTER_CASES: dict[str, batch_pb.RegisterBatchRequest] = {
    "no essays": register(expected_essay_count=0),
    "4,294,967,295 essays": register(expected_essay_count=2**32 - 1),
    "501 essays (BOS_MAX_ESSAYS is 500)": register(expected_essay_count=501),
    "no course code": register(course_code=""),
    "course code of 10,000 characters": register(course_code=LONG),
    "course code with control characters": register(course_code="ENG\x00\x1b[31m"),
    "no language": register(language=""),
    "language of 10,000 characters": register(language=LONG),
    "language that is a word": register(language="english"),
    "phase out of the enum": register(phases=[999]),
    "a phase twice": register(phases=[common_pb2.PHASE_SPELLCHECK, common_pb2.PHASE_SPELLCHECK]),
    "deadline in 136 years": register(readiness=readiness(timeout_s=2**32 - 1)),
    "threshold NaN": register(readiness=readiness(threshold=math.nan)),
    "threshold -1": register(readiness=readiness(threshold=-1.0)),
    "threshold 2": register(readiness=readiness(threshold=2.0)),
    "threshold infinity": register(readiness=readiness(threshold=math.inf)),
    "title of 10,000 characters": register(title=LONG),
    "title of 150 characters and 300 bytes": register(title="ö" * 150),
    "title with a NUL": register(title="Class 9B\x00"),
    "title with a line break": register(title="Class 9B\nDROP"),
    "teacher reference of 10,000 characters": register(teacher_reference=LONG),
    "teacher reference with a right-to-left override": register(
        teacher_reference="teacher\u202etxt.exe"
    ),
    "course code of 64 characters and 256 bytes": register(course_code="\U0001f600" * 64),
    "request id of 10,000 characters": register(request_id=LONG),
    "request id with NATS wildcards": register(request_id="*.>"),
    "request id with a space": register(request_id="order 17"),
}


@pytest.mark.parametrize("case", REGISTER_CASES)
async def test_register_batch_refuses_each_bad_field(mesh: Mesh, case: str) -> None:
    code, details = await status_of(mesh.batch_stub.RegisterBatch(REGISTER_CASES[case]))
    assert_actionable(code, details, Code.INVALID_ARGUMENT, case)


async def test_batch_reads_answer_bad_ids_and_pages(mesh: Mesh) -> None:
    stub = mesh.batch_stub
    registered = await stub.RegisterBatch(register())
    essay_id = registered.essay_ids[0]  # a real id of the wrong kind
    cases: dict[str, tuple[str, Code]] = {
        "empty": ("", Code.INVALID_ARGUMENT),
        "not a UUID": ("batch-1", Code.INVALID_ARGUMENT),
        "10,000 characters": (LONG, Code.INVALID_ARGUMENT),
        "NATS wildcards": ("*.>", Code.INVALID_ARGUMENT),
        "an essay id": (essay_id, Code.NOT_FOUND),
        "an unknown UUID": (str(uuid.uuid4()), Code.NOT_FOUND),
    }
    for case, (batch_id, expected) in cases.items():
        code, details = await status_of(stub.GetBatch(batch_pb.GetBatchRequest(batch_id=batch_id)))
        assert_actionable(code, details, expected, f"GetBatch {case}")
        assert await watch_status(stub, batch_id) == expected, f"WatchBatch {case}"
    pages: dict[str, batch_pb.ListBatchesRequest] = {
        "page size 101": batch_pb.ListBatchesRequest(page_size=101),
        "page size 2**32-1": batch_pb.ListBatchesRequest(page_size=2**32 - 1),
        "forged page token": batch_pb.ListBatchesRequest(page_token="bm90IGEgdG9rZW4"),
        "page token of 10,000 characters": batch_pb.ListBatchesRequest(page_token=LONG),
    }
    for case, request in pages.items():
        code, details = await status_of(stub.ListBatches(request))
        assert_actionable(code, details, Code.INVALID_ARGUMENT, case)


async def test_essay_reads_answer_bad_ids(mesh: Mesh) -> None:
    stub = mesh.essay_stub
    registered = await mesh.batch_stub.RegisterBatch(register())
    batch_id, essay_id = registered.batch_id, registered.essay_ids[0]

    async def essays_known() -> bool:
        code, _ = await status_of(stub.GetEssay(essay_pb.GetEssayRequest(essay_id=essay_id)))
        return code == Code.OK

    await wait_until(essays_known, timeout_s=15, message="ELS has the batch's essays")
    bad_ids: dict[str, tuple[str, Code]] = {
        "empty": ("", Code.INVALID_ARGUMENT),
        "10,000 characters": (LONG, Code.INVALID_ARGUMENT),
        "NATS wildcards": ("a.*.>", Code.INVALID_ARGUMENT),
        "a path": ("../../etc/passwd", Code.INVALID_ARGUMENT),
        "control characters": ("e\x00\n1", Code.INVALID_ARGUMENT),
        "an unknown UUID": (str(uuid.uuid4()), Code.NOT_FOUND),
    }
    for case, (value, expected) in {**bad_ids, "a batch id": (batch_id, Code.NOT_FOUND)}.items():
        code, details = await status_of(stub.GetEssay(essay_pb.GetEssayRequest(essay_id=value)))
        assert_actionable(code, details, expected, f"GetEssay {case}")
    for case, (value, expected) in {**bad_ids, "an essay id": (essay_id, Code.NOT_FOUND)}.items():
        request = essay_pb.ListBatchEssaysRequest(batch_id=value)
        code, details = await status_of(stub.ListBatchEssays(request))
        assert_actionable(code, details, expected, f"ListBatchEssays {case}")


async def test_content_service_answers_bad_puts_and_gets(mesh: Mesh) -> None:
    stub = mesh.content_stub
    raw = common_pb2.CONTENT_KIND_RAW_UPLOAD
    puts: dict[str, tuple[content_pb.PutContentRequest, Code]] = {
        "kind out of the enum": (
            content_pb.PutContentRequest(content=b"x", kind=999),  # type: ignore[arg-type]
            Code.INVALID_ARGUMENT,
        ),
        "no kind": (content_pb.PutContentRequest(content=b"x"), Code.INVALID_ARGUMENT),
        "media type of 10,000 characters": (
            content_pb.PutContentRequest(content=b"x", kind=raw, media_type=LONG),
            Code.INVALID_ARGUMENT,
        ),
        "media type with control characters": (
            content_pb.PutContentRequest(content=b"x", kind=raw, media_type="text/\x00plain"),
            Code.INVALID_ARGUMENT,
        ),
        "over CONTENT_MAX_OBJECT_BYTES": (
            content_pb.PutContentRequest(content=b"x" * (MAX_OBJECT + 1), kind=raw),
            Code.RESOURCE_EXHAUSTED,
        ),
        "over the gRPC message limit": (
            content_pb.PutContentRequest(content=b"x" * (4 * MAX_OBJECT), kind=raw),
            Code.RESOURCE_EXHAUSTED,
        ),
    }
    for case, (put, expected) in puts.items():
        code, details = await status_of(stub.PutContent(put))
        assert_actionable(code, details, expected, f"PutContent {case}")
    gets: dict[str, tuple[str, Code]] = {
        "empty": ("", Code.INVALID_ARGUMENT),
        "10,000 characters": (LONG, Code.INVALID_ARGUMENT),
        "upper-case hex": ("A" * 64, Code.INVALID_ARGUMENT),
        "a batch id": (str(uuid.uuid4()), Code.INVALID_ARGUMENT),
        "a path": ("../../etc/passwd", Code.INVALID_ARGUMENT),
        "nothing stored under it": (hashlib.sha256(os.urandom(16)).hexdigest(), Code.NOT_FOUND),
    }
    for case, (storage_id, expected) in gets.items():
        get = content_pb.GetContentRequest(storage_id=storage_id)
        code, details = await status_of(stub.GetContent(get))
        assert_actionable(code, details, expected, f"GetContent {case}")


async def test_a_file_name_is_refused_with_its_problem_or_kept_as_written(
    mesh: Mesh, nats_js: JS
) -> None:
    stub = mesh.file_stub
    batch_id, _ = await register_batch(nats_js[1], expected=5)

    def upload(name: str, number: int) -> Awaitable[file_pb.UploadFileResponse]:
        request = file_pb.UploadFileRequest(
            batch_id=batch_id, file_name=name, content=essay(number)
        )
        return stub.UploadFile(request, timeout=30)

    code, details = await status_of(upload("e" * 4996 + ".txt", 31))
    assert code == Code.INVALID_ARGUMENT
    assert "file_name is 5000 bytes long in UTF-8; at most 255 are allowed" in details
    code, details = await status_of(upload("essay\x00.txt", 32))
    assert code == Code.INVALID_ARGUMENT
    assert "file_name holds U+0000" in details and "at character 6" in details
    swedish = "Åsa Öberg – uppsats om ängar " + "ö" * 108 + "e.txt"  # 255 bytes in UTF-8
    assert len(swedish.encode()) == 255
    reply = await upload(swedish, 33)
    assert reply.receipt.file_name == swedish


async def test_file_service_answers_bad_uploads(mesh: Mesh, nats_js: JS) -> None:
    stub = mesh.file_stub
    batch_id, _ = await register_batch(nats_js[1], expected=5)
    registered = await mesh.batch_stub.RegisterBatch(register())
    good = essay(21)

    def upload(batch: str = batch_id, name: str = "e.txt", data: bytes = good) -> Awaitable[object]:
        request = file_pb.UploadFileRequest(batch_id=batch, file_name=name, content=data)
        return stub.UploadFile(request, timeout=30)

    cases: dict[str, tuple[Awaitable[object], Code]] = {
        "no batch id": (upload(batch=""), Code.INVALID_ARGUMENT),
        "batch id of 10,000 characters": (upload(batch=LONG), Code.INVALID_ARGUMENT),
        "an essay id as batch id": (upload(batch=registered.essay_ids[0]), Code.NOT_FOUND),
        "a batch nobody registered": (upload(batch=str(uuid.uuid4())), Code.NOT_FOUND),
        "no file name": (upload(name=""), Code.INVALID_ARGUMENT),
        "file name of control characters only": (
            upload(name="\x00\x1b\r\n"),
            Code.INVALID_ARGUMENT,
        ),
        "file name of 5,000 characters": (upload(name="e" * 4996 + ".txt"), Code.INVALID_ARGUMENT),
        "file name of 256 bytes": (upload(name="é" * 126 + ".txt"), Code.INVALID_ARGUMENT),
        "file name holding a NUL": (upload(name="essay\x00.txt"), Code.INVALID_ARGUMENT),
        "file name with a right-to-left override": (
            upload(name="essay\u202etxt.exe"),
            Code.INVALID_ARGUMENT,
        ),
        "batch id holding an escape": (upload(batch="\x1b[31m"), Code.INVALID_ARGUMENT),
        "over FILE_MAX_UPLOAD_BYTES": (
            upload(data=b"y" * (MAX_OBJECT + 1)),
            Code.RESOURCE_EXHAUSTED,
        ),
        "over the gRPC message limit": (
            upload(data=b"z" * (4 * MAX_OBJECT)),
            Code.RESOURCE_EXHAUSTED,
        ),
    }
    for case, (call, expected) in cases.items():
        code, details = await status_of(call)
        assert_actionable(code, details, expected, f"UploadFile {case}")
    assert await outcome_events(nats_js[1], batch_id) == []  # nothing of that was announced

    # a stream stops at its first bad file and names it; the good files before it are durable
    async def files() -> AsyncIterator[file_pb.UploadFilesRequest]:
        yield file_pb.UploadFilesRequest(batch_id=batch_id, file_name="ok.txt", content=good)
        yield file_pb.UploadFilesRequest(batch_id=batch_id, file_name="", content=essay(22))

    code, details = await status_of(stub.UploadFiles(files(), timeout=30))
    assert_actionable(code, details, Code.INVALID_ARGUMENT, "UploadFiles with a nameless file")
    assert "file #2" in details
    [event] = await outcome_events(nats_js[1], batch_id)
    assert getattr(event, "original_file_name", "") == "ok.txt"
