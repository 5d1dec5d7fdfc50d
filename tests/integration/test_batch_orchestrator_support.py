"""Helpers for the Batch Orchestrator integration tests (no tests here): BOS in-process on a free
port against the module's nats-server, the events ELS would publish, reading events back."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.batch.v1 import batch_service_pb2 as pb
from huleedu.batch.v1 import batch_service_pb2_grpc as pb_grpc
from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.batch_orchestrator.bootstrap import PROGRAM, RunningBos
from services.batch_orchestrator.domain.registration import RegistrationPolicy
from services.batch_orchestrator.settings import BosSettings
from services.mesh.connection import connect_nats
from services.mesh.event_ids import new_metadata
from services.mesh.publisher import HEADER_MSG_ID, EventPublisher
from services.mesh.settings import NatsSettings
from services.mesh.streams import EVENTS_STREAM, ensure_streams
from tests.support import unique, wait_until

M = TypeVar("M", bound=Message)
Status = common_pb2.BatchStatus
POLICY = RegistrationPolicy(max_essays=50)


@dataclass
class Bos:
    """A running BOS with a gRPC client, and a connection that publishes as ELS."""

    running: RunningBos
    stub: pb_grpc.BatchOrchestratorServiceAsyncStub
    nc: Client
    js: JetStreamContext
    els: EventPublisher

    async def register(self, count: int = 3, **fields: Any) -> pb.RegisterBatchResponse:
        request = pb.RegisterBatchRequest(
            expected_essay_count=count, course_code=unique("ENG"), language="en", **fields
        )
        return await self.stub.RegisterBatch(request, timeout=10)

    async def batch(self, batch_id: str) -> pb.Batch:
        return (await self.stub.GetBatch(pb.GetBatchRequest(batch_id=batch_id), timeout=10)).batch

    async def wait_status(self, batch_id: str, status: int) -> pb.Batch:
        async def reached() -> pb.Batch | None:
            batch = await self.batch(batch_id)
            return batch if batch.status == status else None

        return await wait_until(reached, timeout_s=10, message=f"{Status.Name(status)}")  # type: ignore[arg-type]

    async def emit(self, event: Message, *, redelivery: bool = False) -> int:
        """Publish as ELS would; `redelivery` stores the same event (same event id) again, as
        if JetStream delivered it a second time. Returns its stream sequence."""
        headers = {HEADER_MSG_ID: str(uuid.uuid4())} if redelivery else None
        return (await self.els.publish(event, headers=headers)).seq

    async def handled(self, seq: int) -> None:
        """Wait until the `bos` consumer has acknowledged every message up to `seq`."""

        async def acked() -> bool:
            info = await self.js.consumer_info(EVENTS_STREAM, "bos")
            return info.ack_floor is not None and (info.ack_floor.stream_seq or 0) >= seq

        await wait_until(acked, timeout_s=15, message=f"bos acknowledged seq {seq}")


@asynccontextmanager
async def running_bos(nats_settings: NatsSettings) -> AsyncIterator[Bos]:
    """A BOS in this process on a free port, with short retry delays, for the block."""
    settings = BosSettings(
        addr="127.0.0.1:0",
        nats=nats_settings,
        policy=POLICY,
        announce_retry_s=0.2,
        announce_grace_s=0.5,
        unknown_batch_retry_s=0.1,
    )
    running = await PROGRAM.start(settings)
    nc, js = await connect_nats(nats_settings, "bos-test")
    await ensure_streams(js, nats_settings)
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    stub = pb_grpc.BatchOrchestratorServiceStub(channel)
    try:
        yield Bos(running, stub, nc, js, EventPublisher(js, "essay_lifecycle"))
    finally:
        await channel.close()
        await running.stop()
        await nc.drain()


def meta(correlation_id: str = "", event_id: str | None = None) -> common_pb2.EventMetadata:
    """Event metadata as ELS stamps it."""
    return new_metadata("essay_lifecycle", correlation_id=correlation_id, event_id=event_id)


def refs(essay_ids: list[str]) -> list[common_pb2.EssayRef]:
    """An EssayRef with made-up text and file name for each essay id."""
    return [
        common_pb2.EssayRef(essay_id=i, text_storage_id=f"text-{i}", original_file_name=f"{i}.txt")
        for i in essay_ids
    ]


def ready_event(
    reg: pb.RegisterBatchResponse, essay_ids: list[str], *, failures: int = 0, **fields: Any
) -> events_pb2.BatchEssaysReady:
    """BatchEssaysReady for the registered batch, with `failures` corrupt files besides."""
    return events_pb2.BatchEssaysReady(
        metadata=meta(reg.correlation_id),
        batch_id=reg.batch_id,
        ready_essays=refs(essay_ids),
        validation_failures=[
            common_pb2.ValidationFailure(
                file_upload_id=f"bad-{n}",
                original_file_name=f"bad-{n}.pdf",
                error_code=common_pb2.VALIDATION_ERROR_CODE_CORRUPT_FILE,
                detail="cannot be parsed",
            )
            for n in range(failures)
        ],
        **fields,
    )


def outcome_event(
    reg: pb.RegisterBatchResponse, processed: list[str], failed: list[str]
) -> events_pb2.ELSBatchPhaseOutcome:
    """The spell-check phase outcome of the registered batch."""
    return events_pb2.ELSBatchPhaseOutcome(
        metadata=meta(reg.correlation_id),
        batch_id=reg.batch_id,
        phase=common_pb2.PHASE_SPELLCHECK,
        processed_essays=refs(processed),
        failed_essay_ids=failed,
    )


async def stored(
    js: JetStreamContext, stream: str, subject: str, message_type: type[M], batch_id: str
) -> list[tuple[dict[str, str], M]]:
    """Every message stored on `subject` for the batch, with its headers."""
    info = await js.stream_info(stream, subjects_filter=subject)
    if not (info.state.subjects or {}).get(subject):
        return []
    found: list[tuple[dict[str, str], M]] = []
    sub = await js.subscribe(subject, stream=stream, ordered_consumer=True)
    try:
        while True:
            msg = await sub.next_msg(timeout=5)
            event = message_type.FromString(msg.data)
            if getattr(event, "batch_id", None) == batch_id:
                found.append((dict(msg.headers or {}), event))
            if msg.metadata.num_pending == 0:
                return found
    finally:
        await sub.unsubscribe()
