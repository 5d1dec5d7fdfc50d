"""The gRPC bootstrap: health, reflection and graceful stop, on a real server bound to port 0."""

from __future__ import annotations

import asyncio

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from huleedu.content.v1 import content_service_pb2_grpc
from services.mesh.grpc_server import start_grpc_server

SERVICE = "huleedu.content.v1.ContentService"


class IdleContentService(content_service_pb2_grpc.ContentServiceServicer):
    """A servicer with no behaviour: these tests exercise only the bootstrap."""


def reflected_services(port: int) -> list[str]:
    """Service names listed through the grpcio-reflection client (what grpcurl list uses)."""
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return list(ProtoReflectionDescriptorDatabase(channel).get_services())


async def test_health_reflection_and_graceful_stop() -> None:
    server = await start_grpc_server(
        "127.0.0.1:0",
        lambda s: content_service_pb2_grpc.add_ContentServiceServicer_to_server(
            IdleContentService(), s
        ),
        [SERVICE],
    )
    async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", SERVICE):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING

        services = await asyncio.to_thread(reflected_services, server.port)
        assert SERVICE in services
        assert "grpc.health.v1.Health" in services

        watch = health.Watch(health_pb2.HealthCheckRequest(service=SERVICE), timeout=10)
        first = await watch.read()
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        stopping = asyncio.create_task(server.stop(grace_s=2.0))
        seen = await watch.read()
        assert seen.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await stopping
