"""Wires the Spell Checker: the worker pool (dictionaries and indexes loaded before anything
else starts), the Content Service client and the handler behind the `spell_checker` consumer.
It serves health and reflection only."""

from __future__ import annotations

from huleedu.events.v1 import events_pb2
from services.mesh import subjects
from services.mesh.content_client import ContentClient
from services.mesh.process_stats import process_memory
from services.mesh.runtime import RunningService, ServiceProgram, Wiring
from services.mesh.streams import ConsumerSpec
from services.spell_checker.adapters.pool import ProcessPoolChecker
from services.spell_checker.entrypoints.event_handlers import SpellcheckRequestHandler
from services.spell_checker.settings import SERVICE_NAME, SpellCheckerSettings

DURABLE = "spell_checker"
# Groups are what ELS sends; one-essay requests are still taken (from an ELS of before groups).
CONSUMED_SUBJECTS = [subjects.SPELLCHECK_GROUP_REQUESTED, subjects.ESSAY_SPELLCHECK_REQUESTED]
_MIB = 1024 * 1024

SpellCheckerService = RunningService[ProcessPoolChecker]


def consumer_spec(settings: SpellCheckerSettings) -> ConsumerSpec:
    """The durable every Spell Checker instance binds, so instances share the requests."""
    return ConsumerSpec.of_service(
        DURABLE,
        CONSUMED_SUBJECTS,
        settings.nats,
        "Spell Checker: groups of a batch's essays (or one essay) per request",
    )


async def wire(mesh: Wiring, settings: SpellCheckerSettings) -> ProcessPoolChecker:
    """The workers, the content client and the requests' handler."""
    pool = ProcessPoolChecker(
        settings.checker, settings.workers, logging_as=(SERVICE_NAME, settings.log_level)
    )
    workers = await pool.start()
    mesh.closing(pool.close)
    content = ContentClient(settings.content_addr, service=mesh.name)
    mesh.closing(content.close)
    handler = SpellcheckRequestHandler(
        content=content,
        checker=pool,
        events=await mesh.events(),
        default_language=settings.default_language,
        retry_delay_s=settings.retry_delay_s,
        max_group=settings.max_group,
    )
    await mesh.consume(
        consumer_spec(settings),
        {
            events_pb2.SpellcheckGroupRequested: handler,
            events_pb2.EssayLifecycleSpellcheckRequest: handler,
        },
        concurrency=settings.in_flight,
    )
    main = process_memory()
    mesh.ready_fields.update(
        workers=len(workers),
        engine=str(settings.checker.engine),
        languages=",".join(settings.checker.preload_languages),
        in_flight=settings.in_flight,
        max_group=settings.max_group,
        rss_main_mib=round(main.rss_bytes / _MIB, 1),
        rss_workers_mib=",".join(f"{w.memory.rss_bytes / _MIB:.1f}" for w in workers),
        rss_total_mib=round((main.rss_bytes + sum(w.memory.rss_bytes for w in workers)) / _MIB, 1),
    )
    return pool


PROGRAM = ServiceProgram(SERVICE_NAME, SpellCheckerSettings.from_env, wire)
