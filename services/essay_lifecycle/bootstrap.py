"""Wires ELS: its KV buckets, the handlers behind the `els` consumer, the gRPC queries (with the
Content Service client GetEssay reads an essay's details with) and the essay census."""

from __future__ import annotations

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
from services.mesh.content_client import ContentClient
from services.mesh.runtime import RunningService, ServiceProgram, Wiring
from services.mesh.streams import ConsumerSpec

CONSUMER_DURABLE = "els"
# Exactly the subjects ELS handles (the deadline schedules themselves are not among them).
CONSUMED_SUBJECTS = [
    subjects.BATCH_ESSAYS_REGISTERED,
    subjects.ESSAY_CONTENT_PROVISIONED,
    subjects.ESSAY_VALIDATION_FAILED,
    subjects.BATCH_READINESS_DEADLINE,
    subjects.BATCH_SPELLCHECK_INITIATE,
    subjects.SPELLCHECK_GROUP_COMPLETED,
    subjects.ESSAY_SPELLCHECK_COMPLETED,
    subjects.BATCH_ERASURE_REQUESTED,
]

EssayLifecycleApp = RunningService[EssayLifecycleHandlers]


def consumer_spec(settings: EssayLifecycleSettings) -> ConsumerSpec:
    """The durable consumer every ELS instance binds."""
    return ConsumerSpec.of_service(
        CONSUMER_DURABLE,
        CONSUMED_SUBJECTS,
        settings.nats,
        "Essay Lifecycle Service: slots, readiness, phases",
    )


async def wire(mesh: Wiring, settings: EssayLifecycleSettings) -> EssayLifecycleHandlers:
    """Trackers and essay records in KV, the handlers, the queries over both and the Content
    Service."""
    batches_kv = await mesh.kv(BATCHES_BUCKET, message_ttls=True)
    trackers = KvTrackerRepository(
        batches_kv,
        unregistered_hold_s=settings.unregistered_hold_s,
        tombstone_s=settings.tombstone_s,
    )
    content = ContentClient(settings.content_addr, service=mesh.name)
    mesh.closing(content.close)
    essays = KvEssayIndex(await mesh.kv(ESSAYS_BUCKET), mesh.nats)
    publisher = await mesh.events()
    handlers = EssayLifecycleHandlers(
        trackers,
        essays,
        publisher,
        JetStreamDeadlineScheduler(publisher),
        content,
        rules=settings.readiness,
        on_upload=count_upload,
        on_registered=count_registration,
        spellcheck_group_size=settings.spellcheck_group_size,
    )
    await mesh.consume(
        consumer_spec(settings), handlers.handlers(), concurrency=settings.consumer_concurrency
    )
    servicer = EssayLifecycleServicer(trackers, essays, content)
    mesh.serve(
        SERVICE_NAME,
        lambda server: essay_service_pb2_grpc.add_EssayLifecycleServiceServicer_to_server(
            servicer, server
        ),
    )
    mesh.background(essay_census(batches_kv).follow)
    return handlers


PROGRAM = ServiceProgram(PRODUCER, EssayLifecycleSettings.from_env, wire)
