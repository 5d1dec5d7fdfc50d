"""The gRPC side of the CLI: one channel per service, each call's failure turned into one
sentence (unreachable, refused, too slow) instead of a traceback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Sequence
from types import TracebackType
from typing import TypeVar

import grpc

from huleedu.batch.v1 import batch_service_pb2, batch_service_pb2_grpc
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from huleedu.essay.v1 import essay_service_pb2, essay_service_pb2_grpc
from huleedu.file.v1 import file_service_pb2, file_service_pb2_grpc
from services.cli.endpoints import Endpoint, Endpoints
from services.cli.errors import EXIT_FAILED, EXIT_UNREACHABLE, CliError
from services.mesh.grpc_server import grpc_channel

T = TypeVar("T")
_UPLOAD_TIMEOUT_S = 600.0
_WATCH_NOT_FOUND_RETRIES = 5
# RegisterBatch with a request_id is asked again while BOS is unreachable or slow (restarting,
# its NATS node lost): at most this many attempts, waiting 0.5 s, 1 s and 2 s between them.
_REGISTER_ATTEMPTS = 4
_REGISTER_RETRY_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class MeshClient:
    """Typed calls to BOS, the File Service, ELS and the Content Service."""

    def __init__(self, endpoints: Endpoints, *, timeout_s: float = 15.0) -> None:
        self.endpoints = endpoints
        self._timeout_s = timeout_s
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._batch = batch_service_pb2_grpc.BatchOrchestratorServiceStub(
            self._channel(endpoints.batch)
        )
        self._file = file_service_pb2_grpc.FileServiceStub(self._channel(endpoints.file))
        self._essay = essay_service_pb2_grpc.EssayLifecycleServiceStub(
            self._channel(endpoints.essay)
        )
        self._content = content_service_pb2_grpc.ContentServiceStub(
            self._channel(endpoints.content)
        )

    def _channel(self, endpoint: Endpoint) -> grpc.aio.Channel:
        channel = grpc_channel(endpoint.addr)
        self._channels[endpoint.variable] = channel
        return channel

    async def __aenter__(self) -> MeshClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for channel in self._channels.values():
            await channel.close(None)

    async def _call(self, endpoint: Endpoint, call: Awaitable[T]) -> T:
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            raise self.explain(endpoint, error) from None

    def explain(self, endpoint: Endpoint, error: grpc.aio.AioRpcError) -> CliError:
        """One sentence for a failed call: unreachable (exit 3) or what the service said."""
        code = error.code()
        details = error.details() or ""
        if code == grpc.StatusCode.UNAVAILABLE:
            state = self._channels[endpoint.variable].get_state(try_to_connect=False)
            if state != grpc.ChannelConnectivity.READY or "connect" in details.lower():
                return CliError(endpoint.unreachable(), EXIT_UNREACHABLE)
        if code == grpc.StatusCode.DEADLINE_EXCEEDED:
            return CliError(
                f"{endpoint.title} at {endpoint.addr} did not answer in time", EXIT_UNREACHABLE
            )
        return CliError(f"{endpoint.title}: {code.name}: {details}", EXIT_FAILED)

    async def register_batch(
        self, request: batch_service_pb2.RegisterBatchRequest
    ) -> batch_service_pb2.RegisterBatchResponse:
        """RegisterBatch. With a request_id it is asked again while BOS is unreachable or does
        not answer in time: the same request_id registers at most one batch, so a lost answer
        costs nothing."""
        attempt = 1
        while True:
            try:
                return await self._batch.RegisterBatch(request, timeout=self._timeout_s)
            except grpc.aio.AioRpcError as error:
                retry = (
                    bool(request.request_id)
                    and error.code() in _REGISTER_RETRY_CODES
                    and attempt < _REGISTER_ATTEMPTS
                )
                if not retry:
                    raise self.explain(self.endpoints.batch, error) from None
            await asyncio.sleep(0.5 * 2 ** (attempt - 1))
            attempt += 1

    async def get_batch(self, batch_id: str) -> batch_service_pb2.Batch:
        """GetBatch."""
        request = batch_service_pb2.GetBatchRequest(batch_id=batch_id)
        reply = await self._call(
            self.endpoints.batch, self._batch.GetBatch(request, timeout=self._timeout_s)
        )
        return reply.batch

    async def watch_batch(self, batch_id: str) -> AsyncIterator[batch_service_pb2.Batch]:
        """WatchBatch: the batch now and after every change, until it is terminal."""
        request = batch_service_pb2.WatchBatchRequest(batch_id=batch_id)
        for attempt in range(_WATCH_NOT_FOUND_RETRIES + 1):
            call = self._batch.WatchBatch(request)
            received = False
            try:
                async for reply in call:
                    received = True
                    yield reply.batch
                return
            except grpc.aio.AioRpcError as error:
                # Under load BOS can answer NOT_FOUND for a batch it has just stored (its KV
                # watch may see the end-of-values marker before the value): ask again.
                retry = error.code() == grpc.StatusCode.NOT_FOUND and not received
                if not retry or attempt == _WATCH_NOT_FOUND_RETRIES:
                    raise self.explain(self.endpoints.batch, error) from None
            finally:
                call.cancel()
            await asyncio.sleep(0.2 * (attempt + 1))

    async def list_batches(
        self, page_size: int, page_token: str = ""
    ) -> batch_service_pb2.ListBatchesResponse:
        """One page of ListBatches."""
        request = batch_service_pb2.ListBatchesRequest(page_size=page_size, page_token=page_token)
        return await self._call(
            self.endpoints.batch, self._batch.ListBatches(request, timeout=self._timeout_s)
        )

    async def upload_files(
        self, requests: Sequence[file_service_pb2.UploadFilesRequest]
    ) -> list[file_service_pb2.FileReceipt]:
        """UploadFiles: one stream message per file, one receipt per file."""

        async def stream() -> AsyncIterator[file_service_pb2.UploadFilesRequest]:
            for request in requests:
                yield request

        reply = await self._call(
            self.endpoints.file, self._file.UploadFiles(stream(), timeout=_UPLOAD_TIMEOUT_S)
        )
        return list(reply.receipts)

    async def list_batch_essays(self, batch_id: str) -> list[essay_service_pb2.Essay]:
        """ListBatchEssays: every slot of the batch (without corrections)."""
        request = essay_service_pb2.ListBatchEssaysRequest(batch_id=batch_id)
        reply = await self._call(
            self.endpoints.essay, self._essay.ListBatchEssays(request, timeout=self._timeout_s)
        )
        return list(reply.essays)

    async def get_essay(self, essay_id: str) -> essay_service_pb2.Essay:
        """GetEssay: one essay with its corrections and timeline."""
        request = essay_service_pb2.GetEssayRequest(essay_id=essay_id)
        reply = await self._call(
            self.endpoints.essay, self._essay.GetEssay(request, timeout=self._timeout_s)
        )
        return reply.essay

    async def get_content(self, storage_id: str) -> content_service_pb2.GetContentResponse:
        """GetContent."""
        request = content_service_pb2.GetContentRequest(storage_id=storage_id)
        return await self._call(
            self.endpoints.content, self._content.GetContent(request, timeout=self._timeout_s)
        )
