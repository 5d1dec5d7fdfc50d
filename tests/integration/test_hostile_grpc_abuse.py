"""Abuse of the gRPC services themselves: messages over the gRPC size limit and bytes that are no
protobuf, to every service, which stays up; and a flood of uploads to a batch of five against a
File Service process, where every upload is answered and memory stays bounded."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.nats_server import free_port
from devstack.processes import ManagedProcess, spawn, stop
from huleedu.batch.v1 import batch_service_pb2 as batch_pb
from huleedu.content.v1 import content_service_pb2 as content_pb
from huleedu.essay.v1 import essay_service_pb2 as essay_pb
from huleedu.file.v1 import file_service_pb2 as file_pb
from huleedu.file.v1 import file_service_pb2_grpc as file_grpc
from services.content_service.bootstrap import ContentService
from services.file_service.domain.ingest import IngestPolicy
from services.mesh.settings import NatsSettings
from tests.integration.test_file_service_support import (
    outcome_events,
    register_batch,
    running_content_service,
    wait_serving,
)
from tests.integration.test_hostile_grpc_support import (
    JS,
    KIB,
    MIB,
    Code,
    Mesh,
    status_of,
)
from tests.support import REPO_ROOT
from tests.unit.file_service.catalogue import essay

HUGE_ID = "y" * (17 * MIB)  # over every server's gRPC message limit (16 MiB by default)


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
