"""huleedu.content.v1.ContentService over gRPC: protobuf in, domain call, protobuf out; domain
errors become status codes here and nowhere else."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

import grpc
import nats.errors

from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from services.content_service.domain.content import (
    ContentCorruptedError,
    ContentKind,
    ContentLibrary,
    ContentNotFoundError,
    ContentTooLargeError,
    Erasure,
    ErasureNotPermittedError,
    InvalidContentRequestError,
    PutResult,
    StoredContent,
)
from services.content_service.entrypoints.content_audit import ContentAudit
from services.mesh.auth import Caller, current_caller
from services.mesh.grpc_errors import Violation, abort

log = logging.getLogger(__name__)
_T = TypeVar("_T")
SERVICE_NAME = content_service_pb2.DESCRIPTOR.services_by_name["ContentService"].full_name


def _kind_from_proto(kind: common_pb2.ContentKind.ValueType) -> ContentKind | None:
    name = common_pb2.ContentKind.Name(kind) if kind in common_pb2.ContentKind.values() else ""
    short = name.removeprefix("CONTENT_KIND_")
    return ContentKind(short) if short in ContentKind.__members__ else None


def _kind_to_proto(kind: ContentKind | None) -> common_pb2.ContentKind.ValueType:
    if kind is None:
        return common_pb2.CONTENT_KIND_UNSPECIFIED
    return common_pb2.ContentKind.Value(f"CONTENT_KIND_{kind.value}")


def _put_item(
    request: content_service_pb2.PutContentRequest,
) -> tuple[bytes, ContentKind | None, str]:
    return request.content, _kind_from_proto(request.kind), request.media_type


async def _permitted(caller: Caller, call: Callable[[], Awaitable[_T]]) -> _T:
    """`call()`'s result when the caller may erase content (a service or an admin)."""
    if not (caller.is_service or caller.is_admin):
        raise ErasureNotPermittedError(
            f"only services and admins may erase content; the caller's role is {caller.role}"
        )
    return await call()


def _batch_holder(requests: Sequence[content_service_pb2.PutContentRequest]) -> str:
    """The one holder every item of a batch names (a batch put stores for one holder)."""
    holder = requests[0].holder if requests else ""
    for index, request in enumerate(requests):
        if request.holder != holder:
            raise InvalidContentRequestError(
                f"requests[{index}].holder is {request.holder[:80]!r}, requests[0]'s is "
                f"{holder[:80]!r}: every item of a batch names the same holder",
                field=f"requests[{index}].holder",
            )
    return holder


def _put_response(result: PutResult) -> content_service_pb2.PutContentResponse:
    return content_service_pb2.PutContentResponse(
        storage_id=result.storage_id,
        already_stored=result.already_stored,
        size_bytes=result.size_bytes,
    )


def _get_response(storage_id: str, stored: StoredContent) -> content_service_pb2.GetContentResponse:
    return content_service_pb2.GetContentResponse(
        content=stored.content,
        kind=_kind_to_proto(stored.kind),
        media_type=stored.media_type,
        storage_id=storage_id,
    )


async def _answered(
    context: grpc.aio.ServicerContext[Any, Any], action: str, call: Awaitable[_T]
) -> _T:
    """The call's result; a domain error aborts the gRPC call with its status code."""
    try:
        return await call
    except ContentTooLargeError as error:
        await abort(
            context, grpc.StatusCode.RESOURCE_EXHAUSTED, str(error), reason="CONTENT_TOO_LARGE"
        )
    except InvalidContentRequestError as error:
        await abort(
            context,
            grpc.StatusCode.INVALID_ARGUMENT,
            str(error),
            reason="INVALID_REQUEST",
            violations=[Violation(error.field, str(error))],
        )
    except ContentNotFoundError as error:
        await abort(context, grpc.StatusCode.NOT_FOUND, str(error), reason="CONTENT_NOT_FOUND")
    except ErasureNotPermittedError as error:
        await abort(
            context, grpc.StatusCode.PERMISSION_DENIED, str(error), reason="ERASURE_NOT_PERMITTED"
        )
    except ContentCorruptedError as error:
        log.error("stored content does not match its id", extra={"error": str(error)})
        await abort(context, grpc.StatusCode.DATA_LOSS, str(error), reason="CONTENT_CORRUPTED")
    except (nats.errors.Error, TimeoutError) as error:
        log.warning("object store unavailable on %s: %s", action, error)
        await abort(
            context,
            grpc.StatusCode.UNAVAILABLE,
            f"content storage unavailable, retry: {error}",
            reason="STORAGE_UNAVAILABLE",
        )


class ContentServicer(content_service_pb2_grpc.ContentServiceServicer):
    """PutContent, GetContent, their batch forms and EraseContent."""

    def __init__(self, library: ContentLibrary, audit: ContentAudit) -> None:
        self._library = library
        self._audit = audit  # every call on record before its answer (content_audit.py)

    async def PutContent(
        self,
        request: content_service_pb2.PutContentRequest,
        context: grpc.aio.ServicerContext[
            content_service_pb2.PutContentRequest, content_service_pb2.PutContentResponse
        ],
    ) -> content_service_pb2.PutContentResponse:
        """Store bytes; the same bytes again are reported as already stored."""
        put = self._library.put(
            *_put_item(request), tenant=current_caller().tenant, holder=request.holder
        )
        audited = self._audit.written("PutContent", put, lambda r: [r.storage_id])
        result = await _answered(context, "put", audited)
        return _put_response(result)

    async def GetContent(
        self,
        request: content_service_pb2.GetContentRequest,
        context: grpc.aio.ServicerContext[
            content_service_pb2.GetContentRequest, content_service_pb2.GetContentResponse
        ],
    ) -> content_service_pb2.GetContentResponse:
        """The bytes under a storage id."""
        get = self._library.get(request.storage_id, tenant=current_caller().tenant)
        audited = self._audit.read("GetContent", [request.storage_id], get)
        stored = await _answered(context, "get", audited)
        return _get_response(request.storage_id, stored)

    async def BatchGetContent(
        self,
        request: content_service_pb2.BatchGetContentRequest,
        context: grpc.aio.ServicerContext[
            content_service_pb2.BatchGetContentRequest,
            content_service_pb2.BatchGetContentResponse,
        ],
    ) -> content_service_pb2.BatchGetContentResponse:
        """The bytes under each storage id, in order; all or nothing."""
        get = self._library.get_many(request.storage_ids, tenant=current_caller().tenant)
        audited = self._audit.read("BatchGetContent", request.storage_ids, get)
        found = await _answered(context, "get", audited)
        return content_service_pb2.BatchGetContentResponse(
            responses=[
                _get_response(storage_id, stored)
                for storage_id, stored in zip(request.storage_ids, found, strict=True)
            ]
        )

    async def BatchPutContent(
        self,
        request: content_service_pb2.BatchPutContentRequest,
        context: grpc.aio.ServicerContext[
            content_service_pb2.BatchPutContentRequest,
            content_service_pb2.BatchPutContentResponse,
        ],
    ) -> content_service_pb2.BatchPutContentResponse:
        """Store each item concurrently; the answers in the items' order."""
        put = self._put_batch(request.requests, current_caller().tenant)
        audited = self._audit.written("BatchPutContent", put, lambda rs: [r.storage_id for r in rs])
        results = await _answered(context, "put", audited)
        return content_service_pb2.BatchPutContentResponse(
            responses=[_put_response(result) for result in results]
        )

    async def _put_batch(
        self, requests: Sequence[content_service_pb2.PutContentRequest], tenant: str
    ) -> list[PutResult]:
        holder = _batch_holder(requests)
        items = [_put_item(item) for item in requests]
        return await self._library.put_many(items, tenant=tenant, holder=holder)

    async def EraseContent(
        self,
        request: content_service_pb2.EraseContentRequest,
        context: grpc.aio.ServicerContext[
            content_service_pb2.EraseContentRequest, content_service_pb2.EraseContentResponse
        ],
    ) -> content_service_pb2.EraseContentResponse:
        """Release the contents from the holder; erase those no holder keeps. Services and
        admins only: anyone else is answered PERMISSION_DENIED (and that is on record)."""
        caller = current_caller()
        erase = _permitted(
            caller,
            lambda: self._library.erase(
                request.storage_ids, tenant=caller.tenant, holder=request.holder
            ),
        )
        audited = self._audit.written("EraseContent", erase, _erased_ids)
        erasure = await _answered(context, "erase", audited)
        return content_service_pb2.EraseContentResponse(
            erased_storage_ids=erasure.erased, kept_storage_ids=erasure.kept
        )


def _erased_ids(erasure: Erasure) -> list[str]:
    return [*erasure.erased, *erasure.kept]
