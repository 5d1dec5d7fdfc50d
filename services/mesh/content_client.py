"""The gRPC client of the Content Service that other services use to read and write content."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import grpc

from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from services.mesh.consumer import PermanentError, TransientError
from services.mesh.grpc_server import DEFAULT_MAX_MESSAGE_BYTES, grpc_channel
from services.mesh.outage import UNAVAILABLE_CODES, DependencyUnavailable

# Answers that may not repeat but came from a working Content Service: retried as redeliveries.
_TRANSIENT_CODES = {
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
    grpc.StatusCode.CANCELLED,
}


class ContentNotFoundError(PermanentError):
    """No content is stored under the storage id."""


class ContentRejectedError(PermanentError):
    """The Content Service refused the request as invalid."""


def _translate(error: grpc.aio.AioRpcError, action: str) -> Exception:
    code = error.code()
    detail = f"content service {action}: {code.name}: {error.details()}"
    if code == grpc.StatusCode.NOT_FOUND:
        return ContentNotFoundError(detail)
    if code in UNAVAILABLE_CODES:
        return DependencyUnavailable(detail)
    if code in _TRANSIENT_CODES:
        return TransientError(detail, delay_s=1.0)
    return ContentRejectedError(detail)


class ContentClient:
    """Stores and reads content; failures become DependencyUnavailable (no answer from a working
    Content Service), TransientError or PermanentError.

    At most `max_in_flight` calls are out at once; the others wait here, before their deadline
    starts. Without the limit, a burst (hundreds of uploads at once) queued at the Content
    Service, and calls that waited there past `timeout_s` failed and had to be sent again.
    """

    def __init__(
        self,
        addr: str,
        *,
        max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES,
        timeout_s: float = 10.0,
        max_in_flight: int = 32,
    ) -> None:
        self._channel = grpc_channel(addr, max_message_bytes=max_message_bytes)
        self._stub = content_service_pb2_grpc.ContentServiceStub(self._channel)
        self._timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_flight = 0
        self.peak_in_flight = 0

    async def put(
        self, content: bytes, kind: common_pb2.ContentKind.ValueType, media_type: str
    ) -> str:
        """Store `content` and return its storage id (the SHA-256 of the bytes)."""
        request = content_service_pb2.PutContentRequest(
            content=content, kind=kind, media_type=media_type
        )
        try:
            async with self._slot():
                response = await self._stub.PutContent(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as error:
            raise _translate(error, "PutContent") from error
        return response.storage_id

    async def get(self, storage_id: str) -> bytes:
        """The bytes stored under `storage_id`."""
        request = content_service_pb2.GetContentRequest(storage_id=storage_id)
        try:
            async with self._slot():
                response = await self._stub.GetContent(request, timeout=self._timeout_s)
        except grpc.aio.AioRpcError as error:
            raise _translate(error, f"GetContent {storage_id}") from error
        return response.content

    @contextlib.asynccontextmanager
    async def _slot(self) -> AsyncIterator[None]:
        async with self._slots:
            self._in_flight += 1
            self.peak_in_flight = max(self.peak_in_flight, self._in_flight)
            try:
                yield
            finally:
                self._in_flight -= 1

    async def close(self) -> None:
        """Close the channel."""
        await self._channel.close(None)
