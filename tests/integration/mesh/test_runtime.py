"""The runtime's start and stop (services.mesh.runtime) with a service made of recording parts, on
a real nats-server: what `wire` registers is started once the wiring is done and stopped in the
documented order; a wiring that fails leaves nothing running."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from huleedu.events.v1 import events_pb2
from services.mesh import subjects
from services.mesh.consumer import Delivery
from services.mesh.metrics import METRICS_OFF, MetricsSettings
from services.mesh.runtime import ServiceProgram, Wiring
from services.mesh.settings import NatsSettings
from services.mesh.streams import ConsumerSpec


@dataclass(frozen=True)
class ToySettings:
    nats: NatsSettings
    addr: str = "127.0.0.1:0"
    shutdown_grace_s: float = 1.0
    log_level: str = "INFO"
    metrics: MetricsSettings = METRICS_OFF


class Recorder:
    """What the toy service's parts did, in order."""

    def __init__(self) -> None:
        self.steps: list[str] = []
        self.background_started = asyncio.Event()
        self.wirings: list[Wiring] = []

    def closer(self, name: str) -> object:
        async def close() -> None:
            self.steps.append(f"closed {name}")

        return close


async def _ignore(message: events_pb2.EssaySpellcheckCompleted, delivery: Delivery) -> None:
    return None


def toy_program(recorder: Recorder, *, fail: bool = False) -> ServiceProgram[ToySettings, Wiring]:
    async def wire(mesh: Wiring, settings: ToySettings) -> Wiring:
        recorder.wirings.append(mesh)
        mesh.closing(recorder.closer("first"))  # type: ignore[arg-type]
        mesh.closing(recorder.closer("second"))  # type: ignore[arg-type]
        consumer = await mesh.consume(
            ConsumerSpec(
                durable="toy",
                filter_subjects=[subjects.ESSAY_SPELLCHECK_COMPLETED],
                max_deliver=2,
                ack_wait_s=5.0,
            ),
            {events_pb2.EssaySpellcheckCompleted: _ignore},
        )
        stop_consumer = consumer.stop

        async def recorded_stop() -> None:
            await stop_consumer()
            recorder.steps.append("consumer stopped")

        consumer.stop = recorded_stop  # type: ignore[method-assign]

        async def background() -> None:
            recorder.background_started.set()
            try:
                await asyncio.Event().wait()
            finally:
                recorder.steps.append("background cancelled")

        async def drain() -> None:
            recorder.steps.append("drained")

        mesh.background(background)
        mesh.draining(drain)
        mesh.ready_fields["toy"] = True
        if fail:
            raise RuntimeError("the toy's wiring failed")
        return mesh

    return ServiceProgram("toy_service", lambda: ToySettings(NatsSettings.from_env()), wire)


async def _health(port: int) -> int:
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        reply = await health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest())
        return int(reply.status)


async def test_the_runtime_starts_what_the_wiring_registered_and_stops_it_in_order(
    nats_settings: NatsSettings,
) -> None:
    recorder = Recorder()
    running = await toy_program(recorder).start(ToySettings(nats_settings))
    mesh = running.wired
    try:
        assert await _health(running.port) == health_pb2.HealthCheckResponse.SERVING
        await asyncio.wait_for(recorder.background_started.wait(), 10)
        assert recorder.steps == []  # nothing stops while the service runs
    finally:
        await running.stop()

    assert recorder.steps == [
        "background cancelled",
        "consumer stopped",
        "drained",
        "closed second",
        "closed first",
    ]
    assert mesh.nats.is_closed
    with pytest.raises(grpc.aio.AioRpcError):
        await asyncio.wait_for(_health(running.port), 5)


async def test_a_wiring_that_fails_undoes_what_it_registered_and_closes_nats(
    nats_settings: NatsSettings,
) -> None:
    recorder = Recorder()
    with pytest.raises(RuntimeError, match="wiring failed"):
        await toy_program(recorder, fail=True).start(ToySettings(nats_settings))
    assert recorder.steps == ["closed second", "closed first"]
    assert recorder.wirings[0].nats.is_closed
    assert not recorder.background_started.is_set()
