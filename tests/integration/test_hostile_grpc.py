"""Hostile gRPC requests to every service: each field out of range, too long, the wrong kind of id,
oversized messages, undecodable bytes; and a flood of uploads to a batch of five. Every call is
answered with the status a client can act on, and the services stay up with bounded memory."""

from __future__ import annotations

import asyncio
import hashlib
import math
import os
import sys
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.batch.v1 import batch_service_pb2 as batch_pb
from huleedu.batch.v1 import batch_service_pb2_grpc as batch_grpc
from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2 as content_pb
from huleedu.content.v1 import content_service_pb2_grpc as content_grpc
from huleedu.essay.v1 import essay_service_pb2 as essay_pb
from huleedu.essay.v1 import essay_service_pb2_grpc as essay_grpc
from huleedu.file.v1 import file_service_pb2 as file_pb
from huleedu.file.v1 import file_service_pb2_grpc as file_grpc
from services.batch_orchestrator.bootstrap import RunningBos
from services.batch_orchestrator.bootstrap import start as start_bos
from services.batch_orchestrator.domain.registration import RegistrationPolicy
from services.batch_orchestrator.settings import BosSettings
from services.content_service.bootstrap import ContentService
from services.devstack.nats_server import free_port
from services.devstack.processes import ManagedProcess, spawn, stop
from services.essay_lifecycle.bootstrap import EssayLifecycleApp
from services.essay_lifecycle.bootstrap import start as start_els
from services.essay_lifecycle.domain.slots import ReadinessRules
from services.essay_lifecycle.settings import EssayLifecycleSettings
from services.file_service.bootstrap import FileService
from services.file_service.domain.ingest import IngestPolicy
from services.mesh.settings import NatsSettings
from tests.integration.test_file_service_support import (
    outcome_events,
    register_batch,
    running_content_service,
    running_file_service,
    wait_serving,
)
from tests.support import REPO_ROOT, wait_until
from tests.unit.file_service.catalogue import essay

JS = tuple[Client, JetStreamContext]
Code = grpc.StatusCode
KIB = 1024
MIB = 1024 * KIB
MAX_OBJECT = 1 * MIB  # CONTENT_MAX_OBJECT_BYTES and FILE_MAX_UPLOAD_BYTES of these services
BIG_OPTIONS = [
    ("grpc.max_send_message_length", 64 * MIB),
    ("grpc.max_receive_message_length", 64 * MIB),
]
LONG = "x" * 10_000
HUGE_ID = "y" * (17 * MIB)  # over every server's gRPC message limit (16 MiB by default)


@dataclass
class Mesh:
    content: ContentService
    files: FileService
    bos: RunningBos
    els: EssayLifecycleApp
    channels: list[grpc.aio.Channel]

    def channel(self, port: int) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=BIG_OPTIONS)
        self.channels.append(channel)
        return channel

    @property
    def content_stub(self) -> content_grpc.ContentServiceStub:
        return content_grpc.ContentServiceStub(self.channel(self.content.port))

    @property
    def file_stub(self) -> file_grpc.FileServiceStub:
        return file_grpc.FileServiceStub(self.channel(self.files.port))

    @property
    def batch_stub(self) -> batch_grpc.BatchOrchestratorServiceStub:
        return batch_grpc.BatchOrchestratorServiceStub(self.channel(self.bos.port))

    @property
    def essay_stub(self) -> essay_grpc.EssayLifecycleServiceStub:
        return essay_grpc.EssayLifecycleServiceStub(self.channel(self.els.port))


@pytest.fixture(scope="module")
async def mesh(nats_settings: NatsSettings) -> AsyncIterator[Mesh]:
    bos = await start_bos(
        BosSettings(addr="127.0.0.1:0", nats=nats_settings, policy=RegistrationPolicy())
    )
    els = await start_els(
        EssayLifecycleSettings(
            addr="127.0.0.1:0",
            nats=nats_settings,
            readiness=ReadinessRules(timeout_s=600, partial_threshold=1.0),
            consumer_concurrency=8,
            shutdown_grace_s=1.0,
            log_level="INFO",
        )
    )
    policy = IngestPolicy(max_upload_bytes=MAX_OBJECT, registration_wait_s=0.3)
    async with (
        running_content_service(nats_settings, max_object_bytes=MAX_OBJECT) as content,
        running_file_service(nats_settings, content.port, ingest=policy) as files,
    ):
        running = Mesh(content, files, bos, els, [])
        yield running
        for channel in running.channels:
            await channel.close(None)
    await els.stop()
    await bos.stop()


async def status_of(call: Awaitable[object]) -> tuple[Code, str]:
    """The status code and details a call ends with (OK and "" when it succeeds)."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return Code.OK, ""


async def watch_status(stub: batch_grpc.BatchOrchestratorServiceStub, batch_id: str) -> Code:
    try:
        async for _ in stub.WatchBatch(batch_pb.WatchBatchRequest(batch_id=batch_id), timeout=5):
            return Code.OK
    except grpc.aio.AioRpcError as error:
        return error.code()
    return Code.OK


def assert_actionable(code: Code, details: str, expected: Code, case: str) -> None:
    assert code == expected, (case, code, details[:300])
    assert details and len(details) < 2_000, (case, len(details))
    assert "Traceback" not in details and LONG not in details, case


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
    "teacher reference of 10,000 characters": register(teacher_reference=LONG),
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


async def test_oversized_and_undecodable_requests_to_every_service(mesh: Mesh) -> None:
    over_limit = {
        "BOS GetBatch": mesh.batch_stub.GetBatch(batch_pb.GetBatchRequest(batch_id=HUGE_ID)),
        "ELS GetEssay": mesh.essay_stub.GetEssay(essay_pb.GetEssayRequest(essay_id=HUGE_ID)),
        "Content GetContent": mesh.content_stub.GetContent(
            content_pb.GetContentRequest(storage_id=HUGE_ID)
        ),
        "File UploadFile": mesh.file_stub.UploadFile(
            file_pb.UploadFileRequest(batch_id=HUGE_ID, file_name="a", content=b"")
        ),
    }
    for case, call in over_limit.items():
        code, details = await status_of(call)
        assert code == Code.RESOURCE_EXHAUSTED, (case, code, details[:200])
    # Bytes that are no protobuf of the request type: grpc-python's own deserializer refuses
    # them before any service code runs, and answers UNKNOWN naming the parse error.
    methods = {
        mesh.bos.port: "/huleedu.batch.v1.BatchOrchestratorService/GetBatch",
        mesh.els.port: "/huleedu.essay.v1.EssayLifecycleService/GetEssay",
        mesh.content.port: "/huleedu.content.v1.ContentService/GetContent",
        mesh.files.port: "/huleedu.file.v1.FileService/UploadFile",
    }
    for port, method in methods.items():
        call = mesh.channel(port).unary_unary(method)(b"\xff\xff\xff\xff", timeout=5)
        code, details = await status_of(call)
        assert code == Code.UNKNOWN and "Error parsing message" in details, (method, code, details)
    await assert_all_serving(mesh)


async def assert_all_serving(mesh: Mesh) -> None:
    for port in (mesh.bos.port, mesh.els.port, mesh.content.port, mesh.files.port):
        reply = await health_pb2_grpc.HealthStub(mesh.channel(port)).Check(
            health_pb2.HealthCheckRequest(), timeout=5
        )
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


# ------------------------------------------------------------------------------------------------
# A flood of uploads to a batch of five, against a File Service process whose memory we read.
# ------------------------------------------------------------------------------------------------


def rss_bytes(pid: int) -> int:
    """Resident set size of a process (VmRSS in /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * KIB
    raise LookupError(f"no VmRSS for {pid}")


@dataclass
class FileServiceProcess:
    process: ManagedProcess
    port: int
    log: Path


@pytest.fixture
async def file_service_process(
    nats_settings: NatsSettings, tmp_path: Path
) -> AsyncIterator[tuple[FileServiceProcess, ContentService]]:
    async with running_content_service(nats_settings) as content:
        port = free_port()
        env = {
            **os.environ,
            "NATS_URL": nats_settings.url,
            "FILE_SERVICE_ADDR": f"127.0.0.1:{port}",
            "CONTENT_SERVICE_ADDR": f"127.0.0.1:{content.port}",
            "FILE_REGISTRATION_WAIT_S": "0.2",
            "METRICS_ENABLED": "false",
        }
        log = tmp_path / "file_service.log"
        process = spawn(
            "file_service",
            [sys.executable, "-m", "services.file_service"],
            log_path=log,
            env=env,
            cwd=REPO_ROOT,
            marker="services.file_service",
        )
        try:
            await wait_serving(port, "huleedu.file.v1.FileService")
            yield FileServiceProcess(process, port, log), content
        finally:
            await asyncio.to_thread(stop, process)


@dataclass(frozen=True)
class Flood:
    """What to send: the same file again and again, new files, and nameless requests."""

    uploads: int

    def kind(self, index: int) -> str:
        if index % 100 == 99:
            return "nameless"
        return "same" if index % 2 == 0 else "new"

    def request(self, batch_id: str, index: int) -> file_pb.UploadFileRequest:
        kind = self.kind(index)
        if kind == "same":
            return file_pb.UploadFileRequest(batch_id=batch_id, file_name="a.txt", content=essay(1))
        content = essay(2 + index % 40) + f"\n\nDraft number {index}.".encode()
        name = "" if kind == "nameless" else f"draft-{index}.txt"
        return file_pb.UploadFileRequest(batch_id=batch_id, file_name=name, content=content)


@pytest.mark.parametrize(
    "uploads",
    [pytest.param(500, id="500"), pytest.param(10_000, id="10000", marks=pytest.mark.slow)],
)
async def test_a_flood_of_uploads_to_a_batch_of_five(
    file_service_process: tuple[FileServiceProcess, ContentService], nats_js: JS, uploads: int
) -> None:
    """Every upload is answered: the first file ACCEPTED and then DUPLICATE; new files ACCEPTED
    until the batch has 15 different files (5 essays: twice as many, at least 10 more), then
    RESOURCE_EXHAUSTED; nameless requests INVALID_ARGUMENT. Exactly 15 files are announced, and
    the File Service's resident memory after the flood is within 64 MiB of what it was after a
    warm-up of 200 uploads."""
    service, _ = file_service_process
    js = nats_js[1]
    batch_id, _ = await register_batch(js, expected=5)
    flood = Flood(uploads)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{service.port}")
    stub = file_grpc.FileServiceStub(channel)
    outcomes: dict[int, tuple[Code, str]] = {}
    in_flight = asyncio.Semaphore(32)

    async def send(index: int) -> None:
        async with in_flight:
            try:
                reply = await stub.UploadFile(flood.request(batch_id, index), timeout=60)
            except grpc.aio.AioRpcError as error:
                outcomes[index] = (error.code(), error.details() or "")
            else:
                outcomes[index] = (Code.OK, file_pb.UploadStatus.Name(reply.receipt.status))

    async def send_all(indexes: range) -> None:
        await asyncio.gather(*(send(index) for index in indexes))

    started = time.monotonic()
    try:
        await send(0)  # the file sent again and again is the batch's first
        await send_all(range(1, 200))
        warm_rss = rss_bytes(service.process.pid)
        await send_all(range(200, uploads))
        end_rss = rss_bytes(service.process.pid)
    finally:
        await channel.close(None)
    elapsed = time.monotonic() - started

    def label(code: Code, text: str) -> str:
        if code == Code.RESOURCE_EXHAUSTED and "15 different files for its 5 essays" in text:
            return "over the batch's file limit"
        if code == Code.INVALID_ARGUMENT and "file_name is empty" in text:
            return "no file name"
        return text[:120]

    tally = Counter(
        (flood.kind(i), code.name, label(code, text)) for i, (code, text) in outcomes.items()
    )
    kinds = Counter(flood.kind(i) for i in range(uploads))
    limit = IngestPolicy().file_limit(5)
    assert limit == 15 and len(outcomes) == uploads
    assert tally == {
        ("same", "OK", "UPLOAD_STATUS_ACCEPTED"): 1,
        ("same", "OK", "UPLOAD_STATUS_DUPLICATE"): kinds["same"] - 1,
        ("new", "OK", "UPLOAD_STATUS_ACCEPTED"): limit - 1,
        ("new", "RESOURCE_EXHAUSTED", "over the batch's file limit"): kinds["new"] - (limit - 1),
        ("nameless", "INVALID_ARGUMENT", "no file name"): kinds["nameless"],
    }, tally
    assert len(await outcome_events(js, batch_id)) == limit
    growth = end_rss - warm_rss
    print(  # the figures the closing note quotes
        f"\n{uploads} uploads in {elapsed:.1f} s ({uploads / elapsed:.0f}/s); File Service RSS "
        f"{warm_rss / MIB:.1f} MiB after 200, {end_rss / MIB:.1f} MiB after {uploads} "
        f"({growth / MIB:+.1f} MiB)"
    )
    assert growth < 64 * MIB
    assert service.process.alive
