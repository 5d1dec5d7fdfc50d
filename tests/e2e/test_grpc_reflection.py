"""grpcurl's path with no proto files: server reflection lists each service and describes its
methods (read here with the grpcio-reflection client, which speaks the same protocol)."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)

from tests.e2e.conftest import E2EStack

BASE = {
    "grpc.health.v1.Health",
    "grpc.reflection.v1.ServerReflection",
    "grpc.reflection.v1alpha.ServerReflection",
}
# service → (address variable, {method: (client streaming, server streaming)})
SERVICES = {
    "huleedu.content.v1.ContentService": (
        "CONTENT_SERVICE_ADDR",
        {
            "PutContent": (False, False),
            "GetContent": (False, False),
            "BatchGetContent": (False, False),
            "BatchPutContent": (False, False),
            "EraseContent": (False, False),
        },
    ),
    "huleedu.file.v1.FileService": (
        "FILE_SERVICE_ADDR",
        {"UploadFile": (False, False), "UploadFiles": (True, False)},
    ),
    "huleedu.batch.v1.BatchOrchestratorService": (
        "BATCH_ORCHESTRATOR_ADDR",
        {
            "RegisterBatch": (False, False),
            "GetBatch": (False, False),
            "WatchBatch": (False, True),
            "ListBatches": (False, False),
            "DeleteBatch": (False, False),
            "DeleteEssay": (False, False),
        },
    ),
    "huleedu.essay.v1.EssayLifecycleService": (
        "ESSAY_LIFECYCLE_ADDR",
        {"GetEssay": (False, False), "ListBatchEssays": (False, False)},
    ),
}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_reflection_lists_and_describes_the_service(stack: E2EStack, service: str) -> None:
    variable, methods = SERVICES[service]
    with grpc.insecure_channel(stack.addr(variable)) as channel:
        database = ProtoReflectionDescriptorDatabase(channel)
        assert set(database.get_services()) == BASE | {service}
        descriptor = DescriptorPool(database).FindServiceByName(service)
        described = {
            method.name: (method.client_streaming, method.server_streaming)
            for method in descriptor.methods
        }
        assert described == methods
        for method in descriptor.methods:
            assert method.input_type.full_name == f"{descriptor.file.package}.{method.name}Request"
            assert method.output_type.fields, method.output_type.full_name


def test_the_spell_checker_serves_health_and_reflection_only(stack: E2EStack) -> None:
    with grpc.insecure_channel(stack.addr("SPELL_CHECKER_ADDR")) as channel:
        assert set(ProtoReflectionDescriptorDatabase(channel).get_services()) == BASE
