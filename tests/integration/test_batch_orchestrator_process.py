"""`python -m services.batch_orchestrator` as a process: start, serve, SIGTERM, exit 0."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from devstack.nats_server import NatsServer, free_port
from huleedu.batch.v1 import batch_service_pb2 as pb
from huleedu.batch.v1 import batch_service_pb2_grpc as pb_grpc
from services.batch_orchestrator.bootstrap import PROGRAM
from services.batch_orchestrator.domain.registration import RegistrationPolicy
from services.batch_orchestrator.settings import BosSettings
from services.mesh.settings import NatsSettings
from tests.support import REPO_ROOT, wait_until

SERVICE = "huleedu.batch.v1.BatchOrchestratorService"


def spawn(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "services.batch_orchestrator"],
        cwd=REPO_ROOT,
        env={**os.environ, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def test_serves_until_sigterm_then_exits_cleanly(nats_server: NatsServer) -> None:
    addr = f"127.0.0.1:{free_port()}"
    process = spawn({"NATS_URL": nats_server.url, "BATCH_ORCHESTRATOR_ADDR": addr})
    channel = grpc.aio.insecure_channel(addr)
    try:
        health = health_pb2_grpc.HealthStub(channel)

        async def serving() -> bool:
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            try:
                reply = await health.Check(health_pb2.HealthCheckRequest(service=SERVICE))
            except grpc.aio.AioRpcError:
                return False
            return reply.status == health_pb2.HealthCheckResponse.SERVING

        await wait_until(serving, timeout_s=20, interval_s=0.1, message="BOS serving")
        stub = pb_grpc.BatchOrchestratorServiceStub(channel)
        reg = await stub.RegisterBatch(
            pb.RegisterBatchRequest(expected_essay_count=2, course_code="ENG5", language="en"),
            timeout=10,
        )
        watch = stub.WatchBatch(pb.WatchBatchRequest(batch_id=reg.batch_id), timeout=30)
        first = await watch.read()
        assert first is not grpc.aio.EOF
        assert first.batch.batch_id == reg.batch_id
        # (No health Watch here: the mesh's sync health servicer blocks a thread per Watch, and
        # the process cannot exit while it does; see test_stop_order for NOT_SERVING.)
        process.send_signal(signal.SIGTERM)

        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await watch.read()
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert "shutting down" in (ended.value.details() or "")
        _, stderr = await asyncio.to_thread(process.communicate, None, 20)
        assert process.returncode == 0, stderr.decode()
        assert b"batch orchestrator stopped" in stderr
    finally:
        await channel.close()
        if process.poll() is None:
            process.kill()
            process.wait()


async def test_a_bad_setting_stops_start_up_naming_it(nats_server: NatsServer) -> None:
    process = spawn({"NATS_URL": nats_server.url, "BOS_MAX_ESSAYS": "lots"})
    _, stderr = await asyncio.to_thread(process.communicate, None, 20)
    assert process.returncode == 2
    assert b"BOS_MAX_ESSAYS" in stderr


async def test_stop_order(nats_settings: NatsSettings) -> None:
    """NOT_SERVING before the consumer stops; open watches end UNAVAILABLE; NATS drained."""
    running = await PROGRAM.start(
        BosSettings(addr="127.0.0.1:0", nats=nats_settings, policy=RegistrationPolicy())
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{running.port}")
    stub = pb_grpc.BatchOrchestratorServiceStub(channel)
    reg = await stub.RegisterBatch(
        pb.RegisterBatchRequest(expected_essay_count=1, course_code="ENG5", language="en")
    )
    watch = stub.WatchBatch(pb.WatchBatchRequest(batch_id=reg.batch_id))
    await watch.read()

    health_when_consumer_stopped: list[int] = []
    consumer_stop = running.consumers[0].stop

    async def stop_consumer() -> None:
        check = health_pb2.HealthCheckRequest(service=SERVICE)
        health_when_consumer_stopped.append((await running.grpc.health.Check(check, None)).status)
        await consumer_stop()

    running.consumers[0].stop = stop_consumer  # type: ignore[method-assign]
    try:
        await running.stop()
        assert health_when_consumer_stopped == [health_pb2.HealthCheckResponse.NOT_SERVING]
        with pytest.raises(grpc.aio.AioRpcError) as ended:
            await watch.read()
        assert ended.value.code() == grpc.StatusCode.UNAVAILABLE
        assert running.nats.is_closed
    finally:
        await channel.close()
