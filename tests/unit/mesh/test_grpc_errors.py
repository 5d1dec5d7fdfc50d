"""The google.rpc.Status of an error answer (services.mesh.grpc_errors): ErrorInfo always,
BadRequest with violations, RetryInfo where asking again helps."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from services.mesh.grpc_errors import ERROR_DOMAIN, RETRY_AFTER_S, Violation, error_status


def unpacked(status: object, kind: type) -> list[object]:
    found = []
    for detail in status.details:  # type: ignore[attr-defined]
        if detail.Is(kind.DESCRIPTOR):  # type: ignore[attr-defined]
            item = kind()
            detail.Unpack(item)
            found.append(item)
    return found


def test_every_error_carries_its_reason_and_domain() -> None:
    status = error_status(
        grpc.StatusCode.NOT_FOUND, "no batch", reason="BATCH_NOT_FOUND", metadata={"batch_id": "b"}
    )

    (info,) = unpacked(status, error_details_pb2.ErrorInfo)
    assert (info.reason, info.domain, dict(info.metadata)) == (  # type: ignore[attr-defined]
        "BATCH_NOT_FOUND",
        ERROR_DOMAIN,
        {"batch_id": "b"},
    )
    assert status.code == grpc.StatusCode.NOT_FOUND.value[0]
    assert unpacked(status, error_details_pb2.BadRequest) == []
    assert unpacked(status, error_details_pb2.RetryInfo) == []


def test_violations_become_one_bad_request() -> None:
    status = error_status(
        grpc.StatusCode.INVALID_ARGUMENT,
        "two bad fields",
        reason="INVALID_REQUEST",
        violations=[Violation("a", "is empty"), Violation("b[2].c", "too long")],
    )

    (bad,) = unpacked(status, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [  # type: ignore[attr-defined]
        ("a", "is empty"),
        ("b[2].c", "too long"),
    ]


def test_unavailable_suggests_when_to_ask_again() -> None:
    default = error_status(grpc.StatusCode.UNAVAILABLE, "down", reason="STORE_UNAVAILABLE")
    given = error_status(
        grpc.StatusCode.RESOURCE_EXHAUSTED, "busy", reason="BUSY", retry_after_s=2.5
    )

    (first,) = unpacked(default, error_details_pb2.RetryInfo)
    (second,) = unpacked(given, error_details_pb2.RetryInfo)
    assert first.retry_delay.ToNanoseconds() == int(RETRY_AFTER_S * 1e9)  # type: ignore[attr-defined]
    assert second.retry_delay.ToNanoseconds() == 2_500_000_000  # type: ignore[attr-defined]
