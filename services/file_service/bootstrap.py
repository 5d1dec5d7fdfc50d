"""Wires the File Service: NATS (streams, KV buckets, its durable consumer), the extraction
pool, the Content Service client and the gRPC server."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nats.aio.client import Client

from huleedu.events.v1 import events_pb2
from huleedu.file.v1 import file_service_pb2_grpc
from services.file_service.adapters.announcer import PRODUCER, JetStreamAnnouncer
from services.file_service.adapters.batch_registry import BATCHES_BUCKET, KvBatchRegistry
from services.file_service.adapters.content_store import GrpcContentStore
from services.file_service.adapters.extraction_pool import ExtractionPool
from services.file_service.adapters.file_admissions import BATCH_FILES_BUCKET, KvFileAdmissions
from services.file_service.adapters.upload_ledger import UPLOADS_BUCKET, KvUploadLedger
from services.file_service.domain.ingest import UploadIngestor
from services.file_service.entrypoints.event_handlers import registration_handler
from services.file_service.entrypoints.grpc_servicer import SERVICE_NAME, FileServicer
from services.file_service.settings import FileServiceSettings
from services.mesh import subjects
from services.mesh.connection import close_nats, connect_nats
from services.mesh.consumer import EventConsumer
from services.mesh.content_client import ContentClient
from services.mesh.grpc_server import GrpcServer, start_grpc_server
from services.mesh.publisher import EventPublisher
from services.mesh.runtime import ServiceProgram, undone_on_failure
from services.mesh.storage_health import storage_health
from services.mesh.streams import ConsumerSpec, ensure_kv, ensure_streams

log = logging.getLogger(__name__)
DURABLE = "file_service"


@dataclass
class FileService:
    """A running File Service."""

    grpc: GrpcServer
    consumer: EventConsumer
    pool: ExtractionPool
    content: ContentClient
    nats: Client
    shutdown_grace_s: float

    @property
    def port(self) -> int:
        """The bound gRPC port."""
        return self.grpc.port

    async def stop(self) -> None:
        """NOT_SERVING, finish uploads in flight (within the shutdown grace), stop consuming,
        stop workers, close NATS."""
        await self.grpc.stop(self.shutdown_grace_s)
        await self.consumer.stop()
        await self.pool.stop()
        await self.content.close()
        await close_nats(self.nats)
        log.info("file service stopped")


def consumer_spec(settings: FileServiceSettings) -> ConsumerSpec:
    """The File Service's durable consumer: batch registrations only."""
    return ConsumerSpec(
        durable=DURABLE,
        filter_subjects=[subjects.BATCH_ESSAYS_REGISTERED],
        max_deliver=settings.nats.max_deliver,
        ack_wait_s=settings.nats.ack_wait_s,
        description="File Service: learns which batches exist",
    )


async def start_file_service(settings: FileServiceSettings) -> FileService:
    """Connect, provision, start the workers, the consumer and the gRPC server."""
    async with undone_on_failure() as undo:
        client, js = await connect_nats(settings.nats, "file_service")
        undo.push_async_callback(close_nats, client)
        await ensure_streams(js, settings.nats)
        registry = KvBatchRegistry(await ensure_kv(js, BATCHES_BUCKET, settings.nats))
        ledger = KvUploadLedger(await ensure_kv(js, UPLOADS_BUCKET, settings.nats), client)
        admissions = KvFileAdmissions(await ensure_kv(js, BATCH_FILES_BUCKET, settings.nats))
        pool = ExtractionPool(settings.pool, settings.limits)
        await pool.start()
        undo.push_async_callback(pool.stop)
        content = ContentClient(
            settings.content_service_addr, max_message_bytes=settings.grpc_max_message_bytes
        )
        undo.push_async_callback(content.close)
        ingestor = UploadIngestor(
            registry=registry,
            extractor=pool,
            content=GrpcContentStore(content),
            ledger=ledger,
            admissions=admissions,
            announcer=JetStreamAnnouncer(EventPublisher(js, PRODUCER)),
            policy=settings.ingest,
        )
        consumer = EventConsumer.configured(
            js,
            consumer_spec(settings),
            {events_pb2.BatchEssaysRegistered: registration_handler(registry)},
            service=PRODUCER,
            nats=settings.nats,
        )
        await consumer.start()
        undo.push_async_callback(consumer.stop)
        servicer = FileServicer(ingestor, upload_concurrency=settings.upload_concurrency)
        server = await start_grpc_server(
            settings.addr,
            lambda grpc_server: file_service_pb2_grpc.add_FileServiceServicer_to_server(
                servicer, grpc_server
            ),
            [SERVICE_NAME],
            max_message_bytes=settings.grpc_max_message_bytes,
        )
    server.follow([consumer, storage_health(js)])
    log.info(
        "file service ready",
        extra={"port": server.port, "content_service": settings.content_service_addr},
    )
    return FileService(
        grpc=server,
        consumer=consumer,
        pool=pool,
        content=content,
        nats=client,
        shutdown_grace_s=settings.shutdown_grace_s,
    )


PROGRAM = ServiceProgram("file_service", FileServiceSettings.from_env, start_file_service)
