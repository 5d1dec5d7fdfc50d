"""The gRPC client of the Content Service that other services use to read and write content."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from typing import TypeVar

import grpc
from google.protobuf.message import Message

from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from services.mesh.auth import TENANT_HEADER, AuthSettings, ServiceTokens
from services.mesh.consumer import PermanentError, TransientError
from services.mesh.grpc_channel import DEFAULT_MAX_MESSAGE_BYTES, grpc_channel
from services.mesh.outage import UNAVAILABLE_CODES, DependencyUnavailable

Q = TypeVar("Q", bound=Message)
R = TypeVar("R", bound=Message)

# The most items one batch call may carry (the Content Service's limit); longer lists are sent
# as several calls, one after another.
MAX_BATCH_ITEMS = 100

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
        service: str = "",
        auth: AuthSettings | None = None,
    ) -> None:
        auth = auth if auth is not None else AuthSettings.from_env()
        # With AUTH_SERVICE_KEY this service signs its own tokens (role service, `service` as the
        # subject) and names the tenant each call acts for.
        self._tokens = (
            ServiceTokens(auth, service or "service") if auth.service_key_file is not None else None
        )
        self._channel = grpc_channel(addr, max_message_bytes=max_message_bytes)
        self._stub = content_service_pb2_grpc.ContentServiceStub(self._channel)
        self._timeout_s = timeout_s
        self._slots = asyncio.Semaphore(max_in_flight)
        self._in_flight = 0
        self.peak_in_flight = 0

    async def put(
        self,
        content: bytes,
        kind: common_pb2.ContentKind.ValueType,
        media_type: str,
        *,
        tenant: str,
        holder: str = "",
    ) -> str:
        """Store `content` as the tenant's, held by `holder` (a batch id; EraseContent erases it
        once every holder released it), and return its storage id (the SHA-256 of the bytes)."""
        request = content_service_pb2.PutContentRequest(
            content=content, kind=kind, media_type=media_type, holder=holder
        )
        response = await self._call(self._stub.PutContent, request, "PutContent", tenant)
        return response.storage_id

    async def get(self, storage_id: str, *, tenant: str) -> bytes:
        """The bytes the tenant stored under `storage_id`."""
        request = content_service_pb2.GetContentRequest(storage_id=storage_id)
        response = await self._call(
            self._stub.GetContent, request, f"GetContent {storage_id}", tenant
        )
        return response.content

    async def put_many(
        self,
        items: Sequence[tuple[bytes, common_pb2.ContentKind.ValueType, str]],
        *,
        tenant: str,
        holder: str = "",
    ) -> list[str]:
        """Store every (content, kind, media type), all held by `holder`, in one BatchPutContent
        call per MAX_BATCH_ITEMS items; their storage ids in the items' order."""
        storage_ids: list[str] = []
        for start in range(0, len(items), MAX_BATCH_ITEMS):
            request = content_service_pb2.BatchPutContentRequest(
                requests=[
                    content_service_pb2.PutContentRequest(
                        content=content, kind=kind, media_type=media_type, holder=holder
                    )
                    for content, kind, media_type in items[start : start + MAX_BATCH_ITEMS]
                ]
            )
            response = await self._call(
                self._stub.BatchPutContent, request, "BatchPutContent", tenant
            )
            storage_ids.extend(item.storage_id for item in response.responses)
        return storage_ids

    async def get_many(self, storage_ids: Sequence[str], *, tenant: str) -> list[bytes]:
        """The bytes the tenant stored under each id, in order, in one BatchGetContent call per
        MAX_BATCH_ITEMS ids; one unknown id raises ContentNotFoundError naming it."""
        contents: list[bytes] = []
        for start in range(0, len(storage_ids), MAX_BATCH_ITEMS):
            request = content_service_pb2.BatchGetContentRequest(
                storage_ids=storage_ids[start : start + MAX_BATCH_ITEMS]
            )
            response = await self._call(
                self._stub.BatchGetContent, request, "BatchGetContent", tenant
            )
            contents.extend(item.content for item in response.responses)
        return contents

    async def erase(
        self, storage_ids: Sequence[str], *, tenant: str, holder: str
    ) -> tuple[list[str], list[str]]:
        """Release the tenant's contents under `storage_ids` from `holder` ("": every holder), in
        one EraseContent call per MAX_BATCH_ITEMS ids: (erased, kept), the ids no holder keeps
        any longer (their bytes overwritten; ids with nothing stored among them) and those
        another holder still keeps. Erasing again answers the same."""
        erased: list[str] = []
        kept: list[str] = []
        for start in range(0, len(storage_ids), MAX_BATCH_ITEMS):
            request = content_service_pb2.EraseContentRequest(
                storage_ids=storage_ids[start : start + MAX_BATCH_ITEMS], holder=holder
            )
            response = await self._call(self._stub.EraseContent, request, "EraseContent", tenant)
            erased.extend(response.erased_storage_ids)
            kept.extend(response.kept_storage_ids)
        return erased, kept

    async def _call(
        self, rpc: grpc.aio.UnaryUnaryMultiCallable[Q, R], request: Q, action: str, tenant: str
    ) -> R:
        """One call in one in-flight slot, for the tenant; a failure translated (see the class
        docstring)."""
        metadata: list[tuple[str, str]] = []
        if self._tokens is not None:
            metadata = [("authorization", f"Bearer {self._tokens.token()}")]
            if tenant:
                metadata.append((TENANT_HEADER, tenant))
        try:
            async with self._slot():
                return await rpc(request, timeout=self._timeout_s, metadata=metadata or None)
        except grpc.aio.AioRpcError as error:
            raise _translate(error, action) from error

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
