"""Helpers for the Content and File Service integration tests (no tests here): services on free
ports against the module's nats-server, batch registration, reading events back."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from huleedu.content.v1 import content_service_pb2_grpc
from huleedu.events.v1 import events_pb2
from huleedu.file.v1 import file_service_pb2_grpc
from services.content_service.bootstrap import PROGRAM as CONTENT
from services.content_service.bootstrap import ContentService
from services.content_service.settings import ContentServiceSettings
from services.file_service.adapters.extraction_pool import PoolSettings
from services.file_service.bootstrap import PROGRAM as FILE
from services.file_service.bootstrap import FileService
from services.file_service.domain.extraction import ExtractionLimits
from services.file_service.domain.ingest import IngestPolicy
from services.file_service.settings import FileServiceSettings
from services.mesh import subjects
from services.mesh.event_ids import new_metadata
from services.mesh.publisher import EventPublisher
from services.mesh.settings import NatsSettings
from services.mesh.streams import EVENTS_STREAM
from tests.support import REPO_ROOT, unique, wait_until

OUTCOME_SUBJECTS = [subjects.ESSAY_CONTENT_PROVISIONED, subjects.ESSAY_VALIDATION_FAILED]
GRPC_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


def content_settings(nats: NatsSettings, **overrides: object) -> ContentServiceSettings:
    """Content Service settings on a free port."""
    settings = ContentServiceSettings(
        addr="127.0.0.1:0", max_object_bytes=10 * 1024 * 1024, log_level="INFO", nats=nats
    )
    return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


def file_settings(
    nats: NatsSettings, content_port: int, **overrides: object
) -> FileServiceSettings:
    """File Service settings on a free port, talking to the Content Service on `content_port`."""
    settings = FileServiceSettings(
        addr="127.0.0.1:0",
        content_service_addr=f"127.0.0.1:{content_port}",
        ingest=IngestPolicy(max_upload_bytes=10 * 1024 * 1024, registration_wait_s=2.0),
        limits=ExtractionLimits(),
        pool=PoolSettings(workers=2, timeout_s=20.0),
        upload_concurrency=8,
        log_level="INFO",
        nats=nats,
        shutdown_grace_s=1.0,
    )
    return dataclasses.replace(settings, **overrides)  # type: ignore[arg-type]


@asynccontextmanager
async def running_content_service(
    nats: NatsSettings, **overrides: object
) -> AsyncIterator[ContentService]:
    """A Content Service in this process for the duration of the block."""
    service = await CONTENT.start(content_settings(nats, **overrides))
    try:
        yield service
    finally:
        await service.stop()


@asynccontextmanager
async def content_stub(port: int) -> AsyncIterator[content_service_pb2_grpc.ContentServiceStub]:
    """A stub of the Content Service on `port` for the duration of the block."""
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=GRPC_OPTIONS)
    try:
        yield content_service_pb2_grpc.ContentServiceStub(channel)
    finally:
        await channel.close(None)


@asynccontextmanager
async def running_file_service(
    nats: NatsSettings, content_port: int, **overrides: object
) -> AsyncIterator[FileService]:
    """A File Service in this process for the duration of the block."""
    service = await FILE.start(file_settings(nats, content_port, **overrides))
    try:
        yield service
    finally:
        await service.stop()


@asynccontextmanager
async def file_stub(port: int) -> AsyncIterator[file_service_pb2_grpc.FileServiceStub]:
    """A FileService client for the block."""
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=GRPC_OPTIONS)
    try:
        yield file_service_pb2_grpc.FileServiceStub(channel)
    finally:
        await channel.close(None)


async def register_batch(
    js: JetStreamContext, expected: int = 3, batch_id: str | None = None
) -> tuple[str, str]:
    """Publish a BatchEssaysRegistered as BOS would; returns (batch_id, correlation_id)."""
    batch_id = batch_id or unique("batch")
    correlation_id = unique("corr")
    event = events_pb2.BatchEssaysRegistered(
        metadata=new_metadata("batch_orchestrator", correlation_id=correlation_id),
        batch_id=batch_id,
        essay_ids=[unique("essay") for _ in range(expected)],
        expected_essay_count=expected,
        course_code="ENG5",
        language="en",
    )
    await EventPublisher(js, "test").publish(event)
    return batch_id, correlation_id


async def outcome_events(js: JetStreamContext, batch_id: str) -> list[Message]:
    """Every provisioned/failed event of the batch now in the stream, in stream order."""
    subscription = await js.pull_subscribe(
        subjects.ESSAY_CONTENT_PROVISIONED,
        stream=EVENTS_STREAM,
        config=ConsumerConfig(
            filter_subjects=OUTCOME_SUBJECTS,
            deliver_policy=DeliverPolicy.ALL,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
        ),
    )
    try:
        pending = (await subscription.consumer_info()).num_pending
        events: list[Message] = []
        while len(events) < pending:
            for msg in await subscription.fetch(batch=min(256, pending - len(events)), timeout=5):
                event_type = (
                    events_pb2.EssayContentProvisioned
                    if msg.subject == subjects.ESSAY_CONTENT_PROVISIONED
                    else events_pb2.EssayValidationFailed
                )
                event = event_type.FromString(msg.data)
                events.append(event)
        return [event for event in events if getattr(event, "batch_id", "") == batch_id]
    finally:
        await subscription.unsubscribe()


def service_subprocess(module: str, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    """Start `python -m <module>` from the repository root with `env` added."""
    with open(log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module],
            cwd=REPO_ROOT,
            env={**os.environ, **env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )


async def wait_serving(port: int, service: str, timeout_s: float = 30.0) -> None:
    """Poll gRPC health until `service` answers SERVING."""
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    stub = health_pb2_grpc.HealthStub(channel)

    async def serving() -> bool:
        try:
            response = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=1)
        except grpc.aio.AioRpcError:
            return False
        return response.status == health_pb2.HealthCheckResponse.SERVING

    try:
        await wait_until(serving, timeout_s=timeout_s, message=f"{service} on port {port}")
    finally:
        await channel.close(None)
