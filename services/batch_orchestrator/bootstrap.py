"""Wires BOS: the `bos_batches` bucket, the handlers behind the `bos` consumer, the gRPC API, the
announcer and the batch census."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from huleedu.batch.v1 import batch_service_pb2_grpc
from services.batch_orchestrator.adapters.event_publisher import JetStreamEventPublisher
from services.batch_orchestrator.adapters.kv_batches import BUCKET, KvBatchRepository
from services.batch_orchestrator.adapters.metrics import batch_census
from services.batch_orchestrator.domain.erasure import BatchEraser
from services.batch_orchestrator.domain.errors import BackendUnavailable
from services.batch_orchestrator.domain.progress import BatchProgress
from services.batch_orchestrator.domain.publishing import PRODUCER
from services.batch_orchestrator.domain.queries import BatchQueries
from services.batch_orchestrator.domain.registrar import BatchRegistrar
from services.batch_orchestrator.entrypoints.event_handlers import (
    BosEventHandlers,
    consumer_spec,
)
from services.batch_orchestrator.entrypoints.grpc_servicer import (
    SERVICE_NAME,
    BatchOrchestratorServicer,
)
from services.batch_orchestrator.settings import BosSettings
from services.mesh.runtime import RunningService, ServiceProgram, Wiring

RunningBos = RunningService[BatchOrchestratorServicer]
log = logging.getLogger(__name__)


def utc_now() -> datetime:
    """The wall clock, in UTC."""
    return datetime.now(UTC)


async def run_retention(eraser: BatchEraser, retention: timedelta, interval_s: float) -> None:
    """Erase the batches past `retention` now and every `interval_s` until cancelled."""
    while True:
        try:
            await eraser.erase_expired(retention)
        except BackendUnavailable as error:
            log.warning("erasing batches past their retention failed; will retry: %s", error)
        except Exception:
            # A bug must not end the loop that keeps old essays from being kept forever.
            log.exception("erasing batches past their retention failed; will retry")
        await asyncio.sleep(interval_s)


async def wire(mesh: Wiring, settings: BosSettings) -> BatchOrchestratorServicer:
    """Batches in KV, registration and progress over them, the API and its watches."""
    batches_kv = await mesh.kv(BUCKET)
    repository = KvBatchRepository(mesh.js, batches_kv)
    publisher = JetStreamEventPublisher(await mesh.events())
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
    await mesh.consume(
        consumer_spec(settings.nats),
        entrypoints.handlers(),
        concurrency=settings.consumer_concurrency,
    )
    eraser = BatchEraser(repository, publisher, clock=utc_now)
    servicer = BatchOrchestratorServicer(registrar, BatchQueries(repository), eraser)
    mesh.on_reconnect(servicer.end_watches)
    mesh.draining(servicer.close)  # open WatchBatch streams end, so the grace is not spent
    mesh.serve(
        SERVICE_NAME,
        lambda server: batch_service_pb2_grpc.add_BatchOrchestratorServiceServicer_to_server(
            servicer, server
        ),
    )
    mesh.background(lambda: registrar.run_announcer(settings.announce_retry_s))
    mesh.background(batch_census(batches_kv).follow)
    if settings.retention_days:
        retention = timedelta(days=settings.retention_days)
        mesh.background(lambda: run_retention(eraser, retention, settings.retention_check_s))
    mesh.ready_fields["max_essays"] = settings.policy.max_essays
    return servicer


PROGRAM = ServiceProgram(PRODUCER, BosSettings.from_env, wire)
