"""Wires BOS together by plain parameters: NATS, the KV bucket, the `bos` consumer, the gRPC
server and the announcer. `start()` is what `python -m services.batch_orchestrator` runs, and
what tests call to run a real BOS in-process (BATCH_ORCHESTRATOR_ADDR port 0 picks a free one)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from nats.aio.client import Client

from huleedu.batch.v1 import batch_service_pb2_grpc
from services.batch_orchestrator.adapters.event_publisher import JetStreamEventPublisher
from services.batch_orchestrator.adapters.kv_batches import BUCKET, KvBatchRepository
from services.batch_orchestrator.adapters.metrics import batch_census
from services.batch_orchestrator.entrypoints.event_handlers import (
    BosEventHandlers,
    consumer_spec,
)
from services.batch_orchestrator.entrypoints.grpc_api import (
    SERVICE_NAME,
    BatchOrchestratorServicer,
)
from services.batch_orchestrator.service_layer.handlers import BatchProgress
from services.batch_orchestrator.service_layer.publishing import PRODUCER
from services.batch_orchestrator.service_layer.queries import BatchQueries
from services.batch_orchestrator.service_layer.registration import BatchRegistrar
from services.batch_orchestrator.settings import BosSettings
from services.mesh.connection import Reconnects, close_nats, connect_nats
from services.mesh.consumer import EventConsumer
from services.mesh.grpc_server import GrpcServer, start_grpc_server
from services.mesh.kv_census import KvCensus
from services.mesh.lifecycle import cancel_and_wait
from services.mesh.publisher import EventPublisher
from services.mesh.runtime import ServiceProgram, undone_on_failure
from services.mesh.storage_health import storage_health
from services.mesh.streams import ensure_kv, ensure_streams

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


@dataclass
class RunningBos:
    """A started BOS: its gRPC port and the parts `stop()` takes down in order."""

    grpc: GrpcServer
    servicer: BatchOrchestratorServicer
    consumer: EventConsumer
    announcer: asyncio.Task[None]
    nats: Client
    shutdown_grace_s: float
    census: KvCensus

    @property
    def port(self) -> int:
        """The bound gRPC port."""
        return self.grpc.port

    async def stop(self) -> None:
        """NOT_SERVING, stop consuming (in-flight messages finish), end watches, stop gRPC
        (in-flight calls finish within the grace), then drain NATS."""
        await self.grpc.enter_graceful_shutdown()
        await cancel_and_wait(self.announcer)
        await self.consumer.stop()
        await self.census.stop()
        await self.servicer.close()
        await self.grpc.stop(self.shutdown_grace_s)
        await close_nats(self.nats)
        log.info("batch orchestrator stopped")


async def start(settings: BosSettings) -> RunningBos:
    """Provision streams, bucket and consumer; serve gRPC; return once ready (health SERVING)."""
    reconnects = Reconnects()
    async with undone_on_failure() as undo:
        client, js = await connect_nats(settings.nats, PRODUCER, reconnects)
        undo.push_async_callback(client.close)
        await ensure_streams(js, settings.nats)
        batches_kv = await ensure_kv(js, BUCKET, settings.nats)
        repository = KvBatchRepository(js, batches_kv)
        publisher = JetStreamEventPublisher(EventPublisher(js, PRODUCER))
        registrar = BatchRegistrar(
            repository,
            publisher,
            settings.policy,
            clock=utc_now,
            announce_grace_s=settings.announce_grace_s,
        )
        entrypoints = BosEventHandlers(
            BatchProgress(repository, publisher, utc_now),
            unknown_batch_retry_s=settings.unknown_batch_retry_s,
        )
        consumer = EventConsumer.configured(
            js,
            consumer_spec(settings.nats),
            entrypoints.handlers(),
            service=PRODUCER,
            nats=settings.nats,
            concurrency=settings.consumer_concurrency,
        )
        await consumer.start()
        undo.push_async_callback(consumer.stop)
        servicer = BatchOrchestratorServicer(registrar, BatchQueries(repository))
        reconnects.add(servicer.end_watches)
        server = await start_grpc_server(
            settings.addr,
            lambda s: batch_service_pb2_grpc.add_BatchOrchestratorServiceServicer_to_server(
                servicer, s
            ),
            [SERVICE_NAME],
        )
    server.follow([consumer, storage_health(js)])
    announcer = asyncio.create_task(registrar.run_announcer(settings.announce_retry_s))
    census = batch_census(batches_kv)
    census.start()
    log.info(
        "batch orchestrator ready",
        extra={"port": server.port, "max_essays": settings.policy.max_essays},
    )
    return RunningBos(
        grpc=server,
        servicer=servicer,
        consumer=consumer,
        announcer=announcer,
        nats=client,
        shutdown_grace_s=settings.shutdown_grace_s,
        census=census,
    )


PROGRAM = ServiceProgram("batch_orchestrator", BosSettings.from_env, start)
