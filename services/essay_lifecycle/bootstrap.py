"""Wiring: settings -> NATS, streams, buckets, adapters, handlers, consumer and gRPC server."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nats.aio.client import Client

from huleedu.essay.v1 import essay_service_pb2_grpc
from services.essay_lifecycle.adapters.deadline import JetStreamDeadlineScheduler
from services.essay_lifecycle.adapters.kv_store import (
    BATCHES_BUCKET,
    ESSAYS_BUCKET,
    KvEssayIndex,
    KvTrackerRepository,
)
from services.essay_lifecycle.adapters.metrics import (
    count_registration,
    count_upload,
    essay_census,
)
from services.essay_lifecycle.domain.derived import PRODUCER
from services.essay_lifecycle.entrypoints.event_handlers import EssayLifecycleHandlers
from services.essay_lifecycle.entrypoints.grpc_servicer import (
    SERVICE_NAME,
    EssayLifecycleServicer,
)
from services.essay_lifecycle.settings import EssayLifecycleSettings
from services.mesh import subjects
from services.mesh.connection import close_nats, connect_nats
from services.mesh.consumer import EventConsumer
from services.mesh.grpc_server import GrpcServer, start_grpc_server
from services.mesh.kv_census import KvCensus
from services.mesh.publisher import EventPublisher
from services.mesh.runtime import ServiceProgram, undone_on_failure
from services.mesh.storage_health import storage_health
from services.mesh.streams import ConsumerSpec, ensure_kv, ensure_streams

log = logging.getLogger(__name__)

CONSUMER_DURABLE = "els"
# Exactly the subjects ELS handles (the deadline schedules themselves are not among them).
CONSUMED_SUBJECTS = [
    subjects.BATCH_ESSAYS_REGISTERED,
    subjects.ESSAY_CONTENT_PROVISIONED,
    subjects.ESSAY_VALIDATION_FAILED,
    subjects.BATCH_READINESS_DEADLINE,
    subjects.BATCH_SPELLCHECK_INITIATE,
    subjects.ESSAY_SPELLCHECK_COMPLETED,
]


def consumer_spec(settings: EssayLifecycleSettings) -> ConsumerSpec:
    """The durable consumer every ELS instance binds."""
    return ConsumerSpec(
        durable=CONSUMER_DURABLE,
        filter_subjects=list(CONSUMED_SUBJECTS),
        max_deliver=settings.nats.max_deliver,
        ack_wait_s=settings.nats.ack_wait_s,
        description="Essay Lifecycle Service: slots, readiness, phases",
    )


@dataclass
class EssayLifecycleApp:
    """A running ELS: the NATS connection, the consumer and the gRPC server."""

    settings: EssayLifecycleSettings
    nats: Client
    consumer: EventConsumer
    grpc: GrpcServer
    census: KvCensus

    @property
    def port(self) -> int:
        """The bound gRPC port (useful when the address asked for port 0)."""
        return self.grpc.port

    async def stop(self) -> None:
        """NOT_SERVING, finish the events in hand, stop gRPC, drain NATS."""
        await self.grpc.enter_graceful_shutdown()
        await self.consumer.stop()
        await self.census.stop()
        await self.grpc.stop(self.settings.shutdown_grace_s)
        await close_nats(self.nats)
        log.info("essay lifecycle stopped")


async def start(settings: EssayLifecycleSettings) -> EssayLifecycleApp:
    """Provision what ELS needs, start consuming and serving."""
    async with undone_on_failure() as undo:
        client, js = await connect_nats(settings.nats, "essay_lifecycle")
        undo.push_async_callback(close_nats, client)
        await ensure_streams(js, settings.nats)
        batches_kv = await ensure_kv(js, BATCHES_BUCKET, settings.nats)
        trackers = KvTrackerRepository(batches_kv)
        essays = KvEssayIndex(await ensure_kv(js, ESSAYS_BUCKET, settings.nats), client)
        publisher = EventPublisher(js, PRODUCER)
        handlers = EssayLifecycleHandlers(
            trackers,
            essays,
            publisher,
            JetStreamDeadlineScheduler(publisher),
            rules=settings.readiness,
            on_upload=count_upload,
            on_registered=count_registration,
        )
        consumer = EventConsumer.configured(
            js,
            consumer_spec(settings),
            handlers.handlers(),
            service=PRODUCER,
            nats=settings.nats,
            concurrency=settings.consumer_concurrency,
        )
        await consumer.start()
        undo.push_async_callback(consumer.stop)
        servicer = EssayLifecycleServicer(trackers, essays)
        server = await start_grpc_server(
            settings.addr,
            lambda grpc_server: essay_service_pb2_grpc.add_EssayLifecycleServiceServicer_to_server(
                servicer, grpc_server
            ),
            [SERVICE_NAME],
        )
    server.follow([consumer, storage_health(js)])
    census = essay_census(batches_kv)
    census.start()
    log.info("essay lifecycle started", extra={"grpc_port": server.port})
    return EssayLifecycleApp(settings, client, consumer, server, census)


PROGRAM = ServiceProgram(PRODUCER, EssayLifecycleSettings.from_env, start)
