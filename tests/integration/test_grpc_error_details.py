"""Structured error details (AIP-193, services.mesh.grpc_errors) on the four public services, real
servers over real gRPC: a `google.rpc.Status` in the `grpc-status-details-bin` trailer, with
ErrorInfo (reason, domain, metadata) on every error and BadRequest naming each bad field. The
messages stay as they were; the details are what a client in another language branches on."""

from __future__ import annotations

from collections.abc import Awaitable

import grpc
import pytest
from google.rpc import error_details_pb2, status_pb2

from huleedu.batch.v1 import batch_service_pb2
from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2
from huleedu.essay.v1 import essay_service_pb2
from huleedu.file.v1 import file_service_pb2
from services.mesh.grpc_errors import DETAILS_TRAILER, ERROR_DOMAIN
from tests.integration.test_hostile_grpc_support import Mesh

UNKNOWN_ID = "00000000-0000-4000-8000-000000000000"


async def details_of(call: Awaitable[object]) -> tuple[grpc.StatusCode, status_pb2.Status]:
    """The call's error code and the Status its trailer carries."""
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await call
    trailer = dict(raised.value.trailing_metadata() or ())
    status = status_pb2.Status.FromString(trailer[DETAILS_TRAILER])
    assert status.code == raised.value.code().value[0]
    assert status.message == raised.value.details()
    return raised.value.code(), status


def info_of(status: status_pb2.Status) -> error_details_pb2.ErrorInfo:
    (info,) = [d for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR)]
    unpacked = error_details_pb2.ErrorInfo()
    info.Unpack(unpacked)
    assert unpacked.domain == ERROR_DOMAIN
    return unpacked


def violations_of(status: status_pb2.Status) -> dict[str, str]:
    found = [d for d in status.details if d.Is(error_details_pb2.BadRequest.DESCRIPTOR)]
    if not found:
        return {}
    bad = error_details_pb2.BadRequest()
    found[0].Unpack(bad)
    return {v.field: v.description for v in bad.field_violations}


async def test_register_batch_names_every_bad_field(mesh: Mesh) -> None:
    request = batch_service_pb2.RegisterBatchRequest(
        expected_essay_count=0, course_code="", language="english"
    )

    code, status = await details_of(mesh.batch_stub.RegisterBatch(request, timeout=10))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert info_of(status).reason == "INVALID_REQUEST"
    violations = violations_of(status)
    assert {"expected_essay_count", "course_code", "language"} <= set(violations)
    assert all(violations[field] in status.message for field in violations)


async def test_an_unknown_batch_says_which(mesh: Mesh) -> None:
    request = batch_service_pb2.GetBatchRequest(batch_id=UNKNOWN_ID)

    code, status = await details_of(mesh.batch_stub.GetBatch(request, timeout=10))

    assert code == grpc.StatusCode.NOT_FOUND
    info = info_of(status)
    assert info.reason == "BATCH_NOT_FOUND"
    assert dict(info.metadata) == {"batch_id": UNKNOWN_ID}
    assert violations_of(status) == {}


async def test_a_batch_put_names_the_item_and_its_field(mesh: Mesh) -> None:
    good = content_service_pb2.PutContentRequest(
        content=b"x", kind=common_pb2.CONTENT_KIND_EXTRACTED_TEXT, media_type="text/plain"
    )
    no_kind = content_service_pb2.PutContentRequest(content=b"y", media_type="text/plain")
    request = content_service_pb2.BatchPutContentRequest(requests=[good, no_kind])

    code, status = await details_of(mesh.content_stub.BatchPutContent(request, timeout=10))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert info_of(status).reason == "INVALID_REQUEST"
    assert list(violations_of(status)) == ["requests[1].kind"]


async def test_content_not_found_and_a_malformed_id(mesh: Mesh) -> None:
    missing = content_service_pb2.GetContentRequest(storage_id="0" * 64)
    malformed = content_service_pb2.GetContentRequest(storage_id="not-a-hash")

    missing_code, missing_status = await details_of(
        mesh.content_stub.GetContent(missing, timeout=10)
    )
    malformed_code, malformed_status = await details_of(
        mesh.content_stub.GetContent(malformed, timeout=10)
    )

    assert (missing_code, info_of(missing_status).reason) == (
        grpc.StatusCode.NOT_FOUND,
        "CONTENT_NOT_FOUND",
    )
    assert malformed_code == grpc.StatusCode.INVALID_ARGUMENT
    assert list(violations_of(malformed_status)) == ["storage_id"]


async def test_an_upload_without_a_batch_id_names_the_field(mesh: Mesh) -> None:
    request = file_service_pb2.UploadFileRequest(batch_id="", file_name="a.txt", content=b"hi")

    code, status = await details_of(mesh.file_stub.UploadFile(request, timeout=10))

    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert info_of(status).reason == "INVALID_UPLOAD"
    assert list(violations_of(status)) == ["batch_id"]


async def test_essay_queries_name_the_field_and_the_missing_id(mesh: Mesh) -> None:
    empty = essay_service_pb2.GetEssayRequest(essay_id="")
    unknown = essay_service_pb2.GetEssayRequest(essay_id=UNKNOWN_ID)

    empty_code, empty_status = await details_of(mesh.essay_stub.GetEssay(empty, timeout=10))
    unknown_code, unknown_status = await details_of(mesh.essay_stub.GetEssay(unknown, timeout=10))

    assert empty_code == grpc.StatusCode.INVALID_ARGUMENT
    assert violations_of(empty_status) == {"essay_id": "essay_id is required"}
    assert unknown_code == grpc.StatusCode.NOT_FOUND
    assert info_of(unknown_status).reason == "ESSAY_NOT_FOUND"
    assert dict(info_of(unknown_status).metadata) == {"essay_id": UNKNOWN_ID}
