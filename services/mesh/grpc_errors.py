"""Errors every client can read, in any language (Google's AIP-193): besides the status code and
the message, each error answer carries a `google.rpc.Status` in the `grpc-status-details-bin`
trailer with

* `ErrorInfo`: a reason in UPPER_SNAKE_CASE (stable: clients branch on it), the domain
  ERROR_DOMAIN, and metadata such as the id the error is about;
* `BadRequest`: one `FieldViolation` per bad field (the field's path, what is wrong), for
  INVALID_ARGUMENT;
* `RetryInfo`: how long to wait before asking again, where asking again helps (UNAVAILABLE).

grpcio-status reads it in Python (`rpc_status.from_call`), `@grpc/grpc-js` clients decode the
trailer with the same messages from googleapis' protos.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2, duration_pb2
from google.rpc import error_details_pb2, status_pb2

ERROR_DOMAIN = "huleedu.mesh"
DETAILS_TRAILER = "grpc-status-details-bin"
# What an UNAVAILABLE answer suggests waiting before asking again, unless it says otherwise.
RETRY_AFTER_S = 1.0


@dataclass(frozen=True)
class Violation:
    """One bad field of a request: its path (`requests[3].kind`) and what is wrong with it."""

    field: str
    description: str


def error_status(
    code: grpc.StatusCode,
    message: str,
    *,
    reason: str,
    violations: Sequence[Violation] = (),
    retry_after_s: float | None = None,
    metadata: Mapping[str, str] | None = None,
) -> status_pb2.Status:
    """The `google.rpc.Status` of an error answer."""
    details = [
        error_details_pb2.ErrorInfo(
            reason=reason, domain=ERROR_DOMAIN, metadata=dict(metadata or {})
        )
    ]
    if violations:
        details.append(
            error_details_pb2.BadRequest(
                field_violations=[
                    error_details_pb2.BadRequest.FieldViolation(
                        field=v.field, description=v.description
                    )
                    for v in violations
                ]
            )
        )
    if retry_after_s is None and code == grpc.StatusCode.UNAVAILABLE:
        retry_after_s = RETRY_AFTER_S
    if retry_after_s is not None:
        delay = duration_pb2.Duration()
        delay.FromNanoseconds(int(retry_after_s * 1e9))
        details.append(error_details_pb2.RetryInfo(retry_delay=delay))
    packed = []
    for detail in details:
        item = any_pb2.Any()
        item.Pack(detail)
        packed.append(item)
    return status_pb2.Status(code=code.value[0], message=message, details=packed)


async def abort(
    context: grpc.aio.ServicerContext[Any, Any],
    code: grpc.StatusCode,
    message: str,
    *,
    reason: str,
    violations: Sequence[Violation] = (),
    retry_after_s: float | None = None,
    metadata: Mapping[str, str] | None = None,
) -> NoReturn:
    """End the call with `code` and `message`, and the details in the trailer."""
    status = error_status(
        code,
        message,
        reason=reason,
        violations=violations,
        retry_after_s=retry_after_s,
        metadata=metadata,
    )
    await context.abort(
        code, message, trailing_metadata=((DETAILS_TRAILER, status.SerializeToString()),)
    )
    raise AssertionError("context.abort returned")  # it raises; this tells the type checker
