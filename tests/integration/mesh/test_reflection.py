"""Server reflection in both versions (services.mesh.reflection), on a real server bound to port 0,
read by a client that speaks only `grpc.reflection.v1` (its messages built from the v1 file the
server describes) and by grpcio-reflection's v1alpha client."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import grpc
import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

from huleedu.content.v1 import content_service_pb2_grpc
from services.mesh.grpc_server import GrpcServer, start_grpc_server
from services.mesh.reflection import V1_FILE, V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME
from tests.integration.mesh.test_grpc_server import SERVICE, IdleContentService, reflected_services

V1_METHOD = f"/{V1_SERVICE_NAME}/ServerReflectionInfo"


@pytest.fixture
async def server() -> AsyncIterator[GrpcServer]:
    server = await start_grpc_server(
        "127.0.0.1:0",
        lambda s: content_service_pb2_grpc.add_ContentServiceServicer_to_server(
            IdleContentService(), s
        ),
        [SERVICE],
    )
    yield server
    await server.stop(grace_s=1.0)


def v1_message(name: str) -> type[Message]:
    """A grpc.reflection.v1 message class, from the file the server added to the default pool."""
    pool = descriptor_pool.Default()
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"grpc.reflection.v1.{name}"))


async def ask_v1(port: int, **request: object) -> Message:
    """One v1 reflection request, its one answer."""
    request_type = v1_message("ServerReflectionRequest")
    response_type = v1_message("ServerReflectionResponse")
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = channel.stream_stream(
            V1_METHOD,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=response_type.FromString,
        )
        responses = [r async for r in call(iter([request_type(**request)]), timeout=10)]
    assert len(responses) == 1
    return responses[0]


async def test_v1_lists_every_service_with_both_reflection_versions(server: GrpcServer) -> None:
    answer = await ask_v1(server.port, list_services="")

    names = {service.name for service in answer.list_services_response.service}

    assert names == {SERVICE, "grpc.health.v1.Health", V1_SERVICE_NAME, V1ALPHA_SERVICE_NAME}


@pytest.mark.parametrize(
    ("symbol", "file_name", "package"),
    [
        (SERVICE, "huleedu/content/v1/content_service.proto", "huleedu.content.v1"),
        (V1_SERVICE_NAME, V1_FILE, "grpc.reflection.v1"),
    ],
)
async def test_v1_describes_a_service_by_its_file(
    server: GrpcServer, symbol: str, file_name: str, package: str
) -> None:
    answer = await ask_v1(server.port, file_containing_symbol=symbol)

    files = answer.file_descriptor_response.file_descriptor_proto
    described = [descriptor_pb2.FileDescriptorProto.FromString(data) for data in files]

    assert described[0].name == file_name
    assert described[0].package == package
    assert symbol.rsplit(".", 1)[1] in {service.name for service in described[0].service}


async def test_v1_answers_an_unknown_symbol_not_found(server: GrpcServer) -> None:
    answer = await ask_v1(server.port, file_containing_symbol="huleedu.no.Such")

    error = answer.error_response

    assert error.error_code == grpc.StatusCode.NOT_FOUND.value[0]


async def test_v1alpha_still_lists_every_service(server: GrpcServer) -> None:
    services = await asyncio.to_thread(reflected_services, server.port)

    assert set(services) == {
        SERVICE,
        "grpc.health.v1.Health",
        V1_SERVICE_NAME,
        V1ALPHA_SERVICE_NAME,
    }
