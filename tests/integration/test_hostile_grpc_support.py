"""Helpers for the hostile gRPC tests (no tests here): every service in-process against the
module's nats-server with small size limits, and the checks that a call ends with a status a
client can act on."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.batch.v1 import batch_service_pb2_grpc as batch_grpc
from huleedu.content.v1 import content_service_pb2_grpc as content_grpc
from huleedu.essay.v1 import essay_service_pb2_grpc as essay_grpc
from huleedu.file.v1 import file_service_pb2_grpc as file_grpc
from services.batch_orchestrator.bootstrap import PROGRAM as BOS
from services.batch_orchestrator.bootstrap import RunningBos
from services.batch_orchestrator.domain.registration import RegistrationPolicy
from services.batch_orchestrator.settings import BosSettings
from services.content_service.bootstrap import ContentService
from services.essay_lifecycle.bootstrap import PROGRAM as ELS
from services.essay_lifecycle.bootstrap import EssayLifecycleApp
from services.essay_lifecycle.domain.slots import ReadinessRules
from services.essay_lifecycle.settings import EssayLifecycleSettings
from services.file_service.bootstrap import FileService
from services.file_service.domain.ingest import IngestPolicy
from services.mesh.settings import NatsSettings
from tests.integration.test_file_service_support import (
    running_content_service,
    running_file_service,
)

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


@dataclass
class Mesh:
    """The four gRPC services, and clients that may send messages of up to 64 MiB."""

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


@asynccontextmanager
async def running_mesh(nats_settings: NatsSettings) -> AsyncIterator[Mesh]:
    """BOS, ELS, the Content and the File Service in this process, for the block."""
    policy = IngestPolicy(max_upload_bytes=MAX_OBJECT, registration_wait_s=0.3)
    async with (
        running_content_service(nats_settings, max_object_bytes=MAX_OBJECT) as content,
        running_file_service(nats_settings, content.port, ingest=policy) as files,
    ):
        bos = await BOS.start(
            BosSettings(addr="127.0.0.1:0", nats=nats_settings, policy=RegistrationPolicy())
        )
        els = await ELS.start(els_settings(nats_settings, content.port, consumer_concurrency=8))
        running = Mesh(content, files, bos, els, [])
        try:
            yield running
        finally:
            for channel in running.channels:
                await channel.close(None)
            await els.stop()
            await bos.stop()


def els_settings(
    nats_settings: NatsSettings, content_port: int, **overrides: object
) -> EssayLifecycleSettings:
    """ELS on a free port, reading essays' details from the Content Service on `content_port`."""
    settings = EssayLifecycleSettings(
        addr="127.0.0.1:0",
        content_addr=f"127.0.0.1:{content_port}",
        nats=nats_settings,
        readiness=ReadinessRules(timeout_s=600, partial_threshold=1.0),
        consumer_concurrency=16,
        shutdown_grace_s=1.0,
        log_level="INFO",
    )
    return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


async def status_of(call: Awaitable[object]) -> tuple[Code, str]:
    """The status code and details a call ends with (OK and "" when it succeeds)."""
    try:
        await call
    except grpc.aio.AioRpcError as error:
        return error.code(), error.details() or ""
    return Code.OK, ""


def assert_actionable(code: Code, details: str, expected: Code, case: str) -> None:
    """The call ended with `expected`, and details a client can read: short, no traceback, no
    echo of a 10,000-character field."""
    assert code == expected, (case, code, details[:300])
    assert details and len(details) < 2_000, (case, len(details))
    assert "Traceback" not in details and LONG not in details, case
