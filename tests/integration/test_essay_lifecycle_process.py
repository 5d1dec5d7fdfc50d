"""ELS as a real process: graceful SIGTERM, and a deadline that passes while ELS is down."""

from __future__ import annotations

import json
from pathlib import Path

import grpc
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.nats_server import NatsServer
from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2, essay_service_pb2_grpc
from huleedu.events.v1 import events_pb2
from services.mesh import subjects
from services.mesh.publisher import EventPublisher
from tests.harness.coordination_events import new_batch, provisioned, registered
from tests.harness.coordination_harness import EventTap, els_process
from tests.support import wait_until

NatsJs = tuple[Client, JetStreamContext]


async def slot_statuses(addr: str, batch_id: str) -> list[int]:
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = essay_service_pb2_grpc.EssayLifecycleServiceStub(channel)
        try:
            reply = await stub.ListBatchEssays(
                essay_service_pb2.ListBatchEssaysRequest(batch_id=batch_id), timeout=2
            )
        except grpc.aio.AioRpcError:
            return []
        return [essay.status for essay in reply.essays]


async def has_status(addr: str, batch_id: str, status: int) -> bool:
    return status in await slot_statuses(addr, batch_id)


async def test_deadline_passing_while_els_is_stopped_fires_when_it_restarts(
    nats_server: NatsServer, nats_js: NatsJs, tap: EventTap, tmp_path: Path
) -> None:
    els = els_process(nats_server.url, tmp_path / "els.log", NATS_ACK_WAIT_S="5")
    await els.start()
    publisher = EventPublisher(nats_js[1], "test")
    batch_id, essay_ids = new_batch(2)
    try:
        await publisher.publish(registered(batch_id, essay_ids, timeout_s=3, threshold=1.0))
        await publisher.publish(provisioned(batch_id, "only.txt"))
        ready_for_processing = common_pb2.EssayStatus.ESSAY_STATUS_READY_FOR_PROCESSING
        await wait_until(
            lambda: has_status(els.addr, batch_id, ready_for_processing),
            message="the upload assigned",
        )
        assert await els.stop() == 0  # SIGTERM: a clean exit

        await wait_until(
            lambda: tap.of(
                events_pb2.BatchReadinessDeadlineReached,
                {batch_id},
                subject=subjects.BATCH_READINESS_DEADLINE,
            ),
            timeout_s=10,
            message="the deadline stored while ELS is down",
        )
        assert tap.of(events_pb2.BatchReadinessTimedOut, {batch_id}) == []

        await els.start()
        (timed_out,) = await wait_until(
            lambda: tap.of(events_pb2.BatchReadinessTimedOut, {batch_id}),
            timeout_s=10,
            message="BatchReadinessTimedOut after the restart",
        )
        assert (timed_out.assigned, timed_out.expected) == (1, 2)
    finally:
        await els.stop()
    messages = [json.loads(line)["message"] for line in els.log_path.read_text().splitlines()]
    shutdown = [m for m in messages if m in {"consumer stopped", "grpc server stopping"}]
    assert shutdown[:2] == ["consumer stopped", "grpc server stopping"]
