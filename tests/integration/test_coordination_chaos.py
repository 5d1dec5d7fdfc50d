"""SIGKILL ELS or BOS at random moments of a 20-batch run, restart it, and check that every batch
still ends in the right state, every upload holds exactly one slot, and the spell checker never
receives the same request twice (counted by event id on the stream)."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import Message
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.nats_server import NatsServer
from huleedu.batch.v1 import batch_service_pb2, batch_service_pb2_grpc
from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2, essay_service_pb2_grpc
from huleedu.events.v1 import events_pb2
from services.cli.results import TERMINAL
from services.mesh.publisher import EventPublisher
from tests.harness.coordination_events import essay_requests, provisioned, validation_failed
from tests.harness.coordination_harness import (
    EventTap,
    ServiceProcess,
    StubSpellChecker,
    bos_process,
    els_process,
)
from tests.support import wait_until

B = common_pb2.BatchStatus
NatsJs = tuple[Client, JetStreamContext]
BATCHES = 20
ESSAYS = 5
KILLS = 4  # at random steps of the run: registrations, upload waves, processing
# Short ack waits so a message whose handler was killed comes back within seconds.
FAST_RECOVERY = {"NATS_ACK_WAIT_S": "2", "BOS_ANNOUNCE_RETRY_S": "1", "LOG_LEVEL": "WARNING"}


@dataclass
class Plan:
    """One batch of the run: what is uploaded and the state it must end in."""

    batch_id: str
    uploads: list[Message]
    spoiled_text_ids: set[str]
    expected: int
    expected_excess: int


def plan_batch(index: int, batch_id: str) -> Plan:
    good = [provisioned(batch_id, f"essay{i}.txt") for i in range(ESSAYS)]
    kind = index % 4
    if kind == 0:  # one upload fails validation
        uploads: list[Message] = [*good[:-1], validation_failed(batch_id, "broken.txt")]
        return Plan(batch_id, uploads, set(), B.BATCH_STATUS_COMPLETED_WITH_FAILURES, 0)
    if kind == 1:  # the spell checker fails one essay
        return Plan(
            batch_id,
            list(good),
            {good[0].text_storage_id},
            B.BATCH_STATUS_COMPLETED_WITH_FAILURES,
            0,
        )
    if kind == 2:  # the same file twice: one slot, one DUPLICATE_CONTENT
        copy = provisioned(batch_id, "essay0 (copy).txt", body=f"{batch_id}/essay0.txt")
        return Plan(batch_id, [*good, copy], set(), B.BATCH_STATUS_COMPLETED, 1)
    return Plan(batch_id, list(good), set(), B.BATCH_STATUS_COMPLETED, 0)


@pytest.fixture
async def services(
    nats_server: NatsServer, tmp_path: Path
) -> AsyncIterator[dict[str, ServiceProcess]]:
    running = {
        "els": els_process(nats_server.url, tmp_path / "els.log", **FAST_RECOVERY),
        "bos": bos_process(nats_server.url, tmp_path / "bos.log", **FAST_RECOVERY),
    }
    await asyncio.gather(*(process.start() for process in running.values()))
    yield running
    await asyncio.gather(*(process.stop() for process in running.values()))


async def call_with_retry(call, request):  # type: ignore[no-untyped-def]
    """A unary call that waits out a BOS that is being restarted."""
    for _ in range(200):
        try:
            return await call(request, timeout=5)
        except grpc.aio.AioRpcError as error:
            if error.code() not in {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}:
                raise
            await asyncio.sleep(0.1)
    raise AssertionError("BOS stayed unavailable")


async def test_killing_els_or_bos_at_random_points_loses_and_repeats_nothing(
    services: dict[str, ServiceProcess], nats_js: NatsJs
) -> None:
    seed = int(os.environ.get("CHAOS_SEED", random.randrange(1_000_000)))
    chance = random.Random(seed)
    tap = EventTap(nats_js[1])
    await tap.start()
    spoiled: set[str] = set()
    stub = StubSpellChecker(nats_js[1], fails=lambda request: request.text_storage_id in spoiled)
    await stub.start()
    publisher = EventPublisher(nats_js[1], "file_service")
    kills: list[str] = []
    restarts: dict[str, asyncio.Task[None]] = {}

    async def kill_someone() -> None:
        victim = chance.choice(["els", "bos"])
        if victim in restarts:
            await restarts.pop(victim)  # still coming back from an earlier kill
        kills.append(victim)
        await services[victim].stop(kill=True)
        restarts[victim] = asyncio.create_task(services[victim].start())

    async with grpc.aio.insecure_channel(services["bos"].addr) as channel:
        bos = batch_service_pb2_grpc.BatchOrchestratorServiceStub(channel)
        plans: list[Plan] = []

        async def register_one(index: int) -> None:
            reply = await call_with_retry(
                bos.RegisterBatch,
                batch_service_pb2.RegisterBatchRequest(
                    expected_essay_count=ESSAYS,
                    course_code="ENG5",
                    language="en",
                    readiness=common_pb2.ReadinessConfig(
                        timeout_seconds=600, partial_batch_threshold=1.0
                    ),
                    request_id=str(uuid.uuid4()),  # kept by every retry: one batch per plan
                ),
            )
            plans.append(plan_batch(index, reply.batch_id))
            spoiled.update(plans[-1].spoiled_text_ids)

        async def upload_wave(wave: int) -> None:
            if wave == 0:
                uploads[:] = [upload for plan in plans for upload in plan.uploads]
                chance.shuffle(uploads)
            await asyncio.gather(
                *(publisher.publish(u) for u in uploads[wave * 10 : wave * 10 + 10])
            )

        async def let_it_work(_: int) -> None:
            await asyncio.sleep(chance.uniform(0.1, 0.4))

        uploads: list[Message] = []
        waves = -(-sum(len(plan_batch(i, "x").uploads) for i in range(BATCHES)) // 10)
        steps = (
            [(register_one, i) for i in range(BATCHES)]
            + [(upload_wave, w) for w in range(waves)]
            + [(let_it_work, i) for i in range(4)]
        )
        kill_at = set(chance.sample(range(1, len(steps)), KILLS))
        for position, (step, argument) in enumerate(steps):
            if position in kill_at:
                await kill_someone()
            await step(argument)
        await asyncio.gather(*restarts.values())

        async def all_terminal() -> dict[str, batch_service_pb2.Batch] | None:
            batches = {}
            for plan in plans:
                reply = await call_with_retry(
                    bos.GetBatch, batch_service_pb2.GetBatchRequest(batch_id=plan.batch_id)
                )
                # An upload that found no slot may reach BOS after the batch completed (its
                # wave came last, or ELS was down): the batch is settled once it is counted.
                settled = reply.batch.counts.excess >= plan.expected_excess
                if reply.batch.status not in TERMINAL or not settled:
                    return None
                batches[plan.batch_id] = reply.batch
            return batches

        context = f"seed {seed}, kills {kills}"
        print(context)
        final = await wait_until(all_terminal, timeout_s=60, interval_s=0.3, message=context)
    await stub.stop()
    await tap.stop()

    async with grpc.aio.insecure_channel(services["els"].addr) as channel:
        els = essay_service_pb2_grpc.EssayLifecycleServiceStub(channel)
        for plan in plans:
            batch = final[plan.batch_id]
            assert batch.status == plan.expected, f"{plan.batch_id}: {batch}; {context}"
            assert batch.counts.excess == plan.expected_excess, context
            listed = await els.ListBatchEssays(
                essay_service_pb2.ListBatchEssaysRequest(batch_id=plan.batch_id)
            )
            assert [e.essay_id for e in listed.essays] == list(batch.essay_ids), context
            held = [e.content_sha256 for e in listed.essays]
            uploaded = {getattr(u, "content_sha256") for u in plan.uploads}  # noqa: B009
            assert sorted(held) == sorted(uploaded), context  # each upload in exactly one slot
            requests = tap.id_counts(events_pb2.SpellcheckGroupRequested, {plan.batch_id})
            assert set(requests.values()) == {1}, f"repeated requests {requests}; {context}"
            ready_essays = [e.essay_id for e in listed.essays if e.text_storage_id]
            groups = tap.of(events_pb2.SpellcheckGroupRequested, {plan.batch_id})
            requested = [r.essay_id for r in essay_requests(groups)]
            assert sorted(requested) == sorted(ready_essays), context  # each essay once
