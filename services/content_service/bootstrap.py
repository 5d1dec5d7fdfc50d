"""Wires the Content Service: NATS, the `content` Object Store, the gRPC server."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from nats.aio.client import Client

from huleedu.content.v1 import content_service_pb2_grpc
from services.content_service.adapters.object_store import CONTENT_BUCKET, ObjectStoreRepository
from services.content_service.domain.content import ContentLibrary
from services.content_service.entrypoints.grpc_servicer import SERVICE_NAME, ContentServicer
from services.content_service.settings import ContentServiceSettings
from services.mesh.connection import close_nats, connect_nats
from services.mesh.grpc_server import GrpcServer, start_grpc_server
from services.mesh.runtime import ServiceProgram, undone_on_failure
from services.mesh.storage_health import storage_health
from services.mesh.streams import ensure_object_store

log = logging.getLogger(__name__)


@dataclass
class ContentService:
    """A running Content Service."""

    grpc: GrpcServer
    nats: Client
    shutdown_grace_s: float

    @property
    def port(self) -> int:
        """The bound gRPC port."""
        return self.grpc.port

    async def stop(self) -> None:
        """NOT_SERVING, finish calls in flight (within the shutdown grace), then close NATS."""
        await self.grpc.stop(self.shutdown_grace_s)
        await close_nats(self.nats)
        log.info("content service stopped")


async def start_content_service(settings: ContentServiceSettings) -> ContentService:
    """Connect, provision the bucket and serve."""
    async with undone_on_failure() as undo:
        client, js = await connect_nats(settings.nats, "content_service")
        undo.push_async_callback(close_nats, client)
        await ensure_object_store(js, CONTENT_BUCKET, settings.nats)
        library = ContentLibrary(
            ObjectStoreRepository(js), max_object_bytes=settings.max_object_bytes
        )
        servicer = ContentServicer(library)
        server = await start_grpc_server(
            settings.addr,
            lambda grpc_server: content_service_pb2_grpc.add_ContentServiceServicer_to_server(
                servicer, grpc_server
            ),
            [SERVICE_NAME],
            max_message_bytes=settings.grpc_max_message_bytes,
        )
    server.follow([storage_health(js)])
    log.info(
        "content service ready",
        extra={"port": server.port, "max_object_bytes": settings.max_object_bytes},
    )
    return ContentService(grpc=server, nats=client, shutdown_grace_s=settings.shutdown_grace_s)


PROGRAM = ServiceProgram("content_service", ContentServiceSettings.from_env, start_content_service)
