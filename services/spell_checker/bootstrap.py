"""Wires the Spell Checker: worker pool, NATS consumer, Content Service client, health server."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from nats.aio.client import Client

from huleedu.events.v1 import events_pb2
from services.mesh import subjects
from services.mesh.connection import close_nats, connect_nats
from services.mesh.consumer import EventConsumer
from services.mesh.content_client import ContentClient
from services.mesh.grpc_server import GrpcServer, start_grpc_server
from services.mesh.publisher import EventPublisher
from services.mesh.runtime import ServiceProgram, undone_on_failure
from services.mesh.storage_health import storage_health
from services.mesh.streams import ConsumerSpec, ensure_streams
from services.spell_checker.adapters.pool import ProcessPoolChecker
from services.spell_checker.adapters.process_stats import process_age_s, process_memory
from services.spell_checker.entrypoints.spellcheck_requests import SpellcheckRequestHandler
from services.spell_checker.settings import SERVICE_NAME, SpellCheckerSettings

log = logging.getLogger(__name__)

DURABLE = "spell_checker"
_MIB = 1024 * 1024


def consumer_spec(settings: SpellCheckerSettings) -> ConsumerSpec:
    """The durable every Spell Checker instance binds, so instances share the requests."""
    return ConsumerSpec(
        durable=DURABLE,
        filter_subjects=[subjects.ESSAY_SPELLCHECK_REQUESTED],
        max_deliver=settings.nats.max_deliver,
        ack_wait_s=settings.nats.ack_wait_s,
        description="Spell Checker: one essay per request",
    )


@dataclass
class SpellCheckerService:
    """A started Spell Checker; `stop()` finishes the essays in hand and releases everything."""

    pool: ProcessPoolChecker
    nats: Client
    consumer: EventConsumer
    content: ContentClient
    grpc: GrpcServer
    start_up_s: float
    shutdown_grace_s: float

    async def stop(self) -> None:
        """Health NOT_SERVING, stop taking requests, finish those in hand, close connections."""
        await self.grpc.enter_graceful_shutdown()
        await self.consumer.stop()
        await self.pool.close()
        await self.grpc.stop(self.shutdown_grace_s)
        await self.content.close()
        await close_nats(self.nats)
        log.info("spell checker stopped")


async def start_service(
    settings: SpellCheckerSettings, *, from_process_start: bool = False
) -> SpellCheckerService:
    """Start workers (dictionaries and indexes loaded), then the consumer and the health server.

    The logged `start_up_s` counts from this call, or from the start of the process (interpreter
    and imports included) with `from_process_start`.
    """
    started_at = time.monotonic()
    before_call_s = process_age_s() if from_process_start else 0.0
    async with undone_on_failure() as undo:
        pool = ProcessPoolChecker(
            settings.checker, settings.workers, logging_as=(SERVICE_NAME, settings.log_level)
        )
        workers = await pool.start()
        undo.push_async_callback(pool.close)
        nats_client, js = await connect_nats(settings.nats, SERVICE_NAME)
        undo.push_async_callback(close_nats, nats_client)
        await ensure_streams(js, settings.nats)
        content = ContentClient(settings.content_addr)
        undo.push_async_callback(content.close)
        handler = SpellcheckRequestHandler(
            content=content,
            checker=pool,
            events=EventPublisher(js, SERVICE_NAME),
            default_language=settings.default_language,
            retry_delay_s=settings.retry_delay_s,
            max_group=settings.max_group,
        )
        consumer = EventConsumer.configured(
            js,
            consumer_spec(settings),
            {events_pb2.EssayLifecycleSpellcheckRequest: handler},
            service=SERVICE_NAME,
            nats=settings.nats,
            concurrency=settings.in_flight,
        )
        await consumer.start()
        undo.push_async_callback(consumer.stop)
        grpc = await start_grpc_server(settings.addr, lambda server: None, [])
    grpc.follow([consumer, storage_health(js)])
    start_up_s = before_call_s + time.monotonic() - started_at
    main = process_memory()
    log.info(
        "spell checker ready",
        extra={
            "start_up_s": round(start_up_s, 2),
            "workers": len(workers),
            "engine": str(settings.checker.engine),
            "languages": ",".join(settings.checker.preload_languages),
            "in_flight": settings.in_flight,
            "max_group": settings.max_group,
            "grpc_port": grpc.port,
            "rss_main_mib": round(main.rss_bytes / _MIB, 1),
            "rss_workers_mib": ",".join(f"{w.memory.rss_bytes / _MIB:.1f}" for w in workers),
            "rss_total_mib": round(
                (main.rss_bytes + sum(w.memory.rss_bytes for w in workers)) / _MIB, 1
            ),
        },
    )
    return SpellCheckerService(
        pool, nats_client, consumer, content, grpc, start_up_s, settings.shutdown_grace_s
    )


async def start_process(settings: SpellCheckerSettings) -> SpellCheckerService:
    """`start_service` as the process's main program: start-up counted from the process's
    start."""
    return await start_service(settings, from_process_start=True)


PROGRAM = ServiceProgram(SERVICE_NAME, SpellCheckerSettings.from_env, start_process)
