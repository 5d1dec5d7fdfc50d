"""huleedu.content.v1.ContentService over gRPC: protobuf in, domain call, protobuf out; domain
errors become status codes here and nowhere else."""

from __future__ import annotations

import logging

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
    InvalidContentRequestError,
)

log = logging.getLogger(__name__)
SERVICE_NAME = content_service_pb2.DESCRIPTOR.services_by_name["ContentService"].full_name


def _kind_from_proto(kind: common_pb2.ContentKind.ValueType) -> ContentKind | None:
    name = common_pb2.ContentKind.Name(kind) if kind in common_pb2.ContentKind.values() else ""
    short = name.removeprefix("CONTENT_KIND_")
    return ContentKind(short) if short in ContentKind.__members__ else None


def _kind_to_proto(kind: ContentKind | None) -> common_pb2.ContentKind.ValueType:
    if kind is None:
        return common_pb2.CONTENT_KIND_UNSPECIFIED
    return common_pb2.ContentKind.Value(f"CONTENT_KIND_{kind.value}")


class ContentServicer(content_service_pb2_grpc.ContentServiceServicer):
    """PutContent and GetContent."""

    def __init__(self, library: ContentLibrary) -> None:
        self._library = library

    async def PutContent(
        self,
        request: content_service_pb2.PutContentRequest,
        context: grpc.aio.ServicerContext[
            content_service_pb2.PutContentRequest, content_service_pb2.PutContentResponse
        ],
    ) -> content_service_pb2.PutContentResponse:
        """Store bytes; the same bytes again are reported as already stored."""
        try:
            result = await self._library.put(
                request.content, _kind_from_proto(request.kind), request.media_type
            )
        except ContentTooLargeError as error:
            await context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, str(error))
        except InvalidContentRequestError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except (nats.errors.Error, TimeoutError) as error:
            log.warning("object store unavailable on put: %s", error)
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, f"content storage unavailable, retry: {error}"
            )
        return content_service_pb2.PutContentResponse(
            storage_id=result.storage_id,
            already_stored=result.already_stored,
            size_bytes=result.size_bytes,
        )

    async def GetContent(
        self,
        request: content_service_pb2.GetContentRequest,
        context: grpc.aio.ServicerContext[
            content_service_pb2.GetContentRequest, content_service_pb2.GetContentResponse
        ],
    ) -> content_service_pb2.GetContentResponse:
        """The bytes under a storage id."""
        try:
            stored = await self._library.get(request.storage_id)
        except InvalidContentRequestError as error:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(error))
        except ContentNotFoundError as error:
            await context.abort(grpc.StatusCode.NOT_FOUND, str(error))
        except ContentCorruptedError as error:
            log.error("stored content does not match its id", extra={"error": str(error)})
            await context.abort(grpc.StatusCode.DATA_LOSS, str(error))
        except (nats.errors.Error, TimeoutError) as error:
            log.warning("object store unavailable on get: %s", error)
            await context.abort(
                grpc.StatusCode.UNAVAILABLE, f"content storage unavailable, retry: {error}"
            )
        return content_service_pb2.GetContentResponse(
            content=stored.content,
            kind=_kind_to_proto(stored.kind),
            media_type=stored.media_type,
            storage_id=request.storage_id,
        )
