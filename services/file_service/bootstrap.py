"""Wires the File Service: its KV buckets, the extraction pool, the Content Service client, the
ingestor behind the gRPC API and the `file_service` consumer of batch registrations."""

from __future__ import annotations

from huleedu.events.v1 import events_pb2
from huleedu.file.v1 import file_service_pb2_grpc
from services.file_service.adapters.announcer import PRODUCER, JetStreamAnnouncer
from services.file_service.adapters.batch_registry import BATCHES_BUCKET, KvBatchRegistry
from services.file_service.adapters.content_store import GrpcContentStore
from services.file_service.adapters.erasure import UploadEraser, forget_batch
from services.file_service.adapters.extraction_pool import ExtractionPool
from services.file_service.adapters.file_admissions import BATCH_FILES_BUCKET, KvFileAdmissions
from services.file_service.adapters.upload_ledger import UPLOADS_BUCKET, KvUploadLedger
from services.file_service.domain.ingest import UploadIngestor
from services.file_service.entrypoints.event_handlers import (
    erasure_handler,
    registration_handler,
    uploads_erased_handler,
)
from services.file_service.entrypoints.grpc_servicer import SERVICE_NAME, FileServicer
from services.file_service.entrypoints.upload_audit import UploadAudit
from services.file_service.settings import FileServiceSettings
from services.mesh import subjects
from services.mesh.content_client import ContentClient
from services.mesh.runtime import RunningService, ServiceProgram, Wiring
from services.mesh.streams import ConsumerSpec

DURABLE = "file_service"
# Exactly the subjects the File Service handles.
CONSUMED_SUBJECTS = [
    subjects.BATCH_ESSAYS_REGISTERED,
    subjects.BATCH_ERASURE_REQUESTED,
    subjects.ESSAY_UPLOADS_ERASED,
]

FileService = RunningService[ExtractionPool]


def consumer_spec(settings: FileServiceSettings) -> ConsumerSpec:
    """The File Service's durable consumer: batch registrations, erasures, erased uploads."""
    return ConsumerSpec.of_service(
        DURABLE,
        CONSUMED_SUBJECTS,
        settings.nats,
        "File Service: learns which batches exist and which are erased",
    )


async def wire(mesh: Wiring, settings: FileServiceSettings) -> ExtractionPool:
    """The buckets, the workers and the content client behind the ingestor; the registrations
    consumer."""
    registry = KvBatchRegistry(await mesh.kv(BATCHES_BUCKET))
    uploads_kv = await mesh.kv(UPLOADS_BUCKET)
    ledger = KvUploadLedger(uploads_kv, mesh.nats)
    admissions = KvFileAdmissions(await mesh.kv(BATCH_FILES_BUCKET))
    pool = ExtractionPool(settings.pool, settings.limits)
    await pool.start()
    mesh.closing(pool.stop)
    content = ContentClient(
        settings.content_service_addr,
        max_message_bytes=settings.grpc_max_message_bytes,
        service=mesh.name,
    )
    mesh.closing(content.close)
    ingestor = UploadIngestor(
        registry=registry,
        extractor=pool,
        content=GrpcContentStore(content),
        ledger=ledger,
        admissions=admissions,
        announcer=JetStreamAnnouncer(await mesh.events()),
        policy=settings.ingest,
    )
    await mesh.consume(
        consumer_spec(settings),
        {
            events_pb2.BatchEssaysRegistered: registration_handler(registry),
            events_pb2.BatchErasureRequested: erasure_handler(
                registry, lambda batch_id: forget_batch(mesh.js, batch_id)
            ),
            events_pb2.EssayUploadsErased: uploads_erased_handler(
                UploadEraser(mesh.js, uploads_kv, admissions).forget
            ),
        },
    )
    audit = UploadAudit(await mesh.audit(), SERVICE_NAME)
    servicer = FileServicer(ingestor, audit, upload_concurrency=settings.upload_concurrency)
    mesh.serve(
        SERVICE_NAME,
        lambda server: file_service_pb2_grpc.add_FileServiceServicer_to_server(servicer, server),
        max_message_bytes=settings.grpc_max_message_bytes,
    )
    mesh.ready_fields["content_service"] = settings.content_service_addr
    return pool


PROGRAM = ServiceProgram(PRODUCER, FileServiceSettings.from_env, wire)
