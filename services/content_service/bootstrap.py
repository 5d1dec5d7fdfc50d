"""Wires the Content Service: the `content` Object Store behind the ContentService gRPC API,
every call on record in the audit log."""

from __future__ import annotations

from huleedu.content.v1 import content_service_pb2_grpc
from services.content_service.adapters.object_store import CONTENT_BUCKET, ObjectStoreRepository
from services.content_service.domain.content import ContentLibrary
from services.content_service.entrypoints.content_audit import ContentAudit
from services.content_service.entrypoints.grpc_servicer import SERVICE_NAME, ContentServicer
from services.content_service.settings import ContentServiceSettings
from services.mesh.runtime import RunningService, ServiceProgram, Wiring

ContentService = RunningService[ContentLibrary]


async def wire(mesh: Wiring, settings: ContentServiceSettings) -> ContentLibrary:
    """The bucket, the library over it and its servicer."""
    await mesh.object_store(CONTENT_BUCKET)
    library = ContentLibrary(
        ObjectStoreRepository(mesh.js), max_object_bytes=settings.max_object_bytes
    )
    servicer = ContentServicer(library, ContentAudit(await mesh.audit(), SERVICE_NAME))
    mesh.serve(
        SERVICE_NAME,
        lambda server: content_service_pb2_grpc.add_ContentServiceServicer_to_server(
            servicer, server
        ),
        max_message_bytes=settings.grpc_max_message_bytes,
    )
    mesh.ready_fields["max_object_bytes"] = settings.max_object_bytes
    return library


PROGRAM = ServiceProgram("content_service", ContentServiceSettings.from_env, wire)
