"""The gRPC side of the CLI: one channel per address, opened on first use and shared by every
call of the command; idempotent calls asked again while the service is unavailable (gRPC's own
retry policy first, then the retry horizon); each failure turned into one sentence (unreachable,
refused, too slow) instead of a traceback."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import TypeVar

import grpc

from huleedu.batch.v1 import batch_service_pb2, batch_service_pb2_grpc
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from huleedu.essay.v1 import essay_service_pb2, essay_service_pb2_grpc
from huleedu.file.v1 import file_service_pb2, file_service_pb2_grpc
from services.cli.credentials import bearer_token
from services.cli.endpoints import Endpoint, Endpoints
from services.cli.errors import EXIT_FAILED, EXIT_UNREACHABLE, CliError, ServiceUnavailable
from services.cli.render import announce_on_stderr
from services.cli.retry import DEFAULT_HORIZON_S, RetryHorizon
from services.cli.service_config import SERVICE_CONFIG_JSON
from services.mesh.auth import bearer_interceptors
from services.mesh.grpc_channel import grpc_channel

T = TypeVar("T")
_UPLOAD_TIMEOUT_S = 600.0
_WATCH_NOT_FOUND_RETRIES = 5
# A service restarting, or one whose NATS is away, answers these (or nothing): worth asking again.
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class MeshClient:
    """Typed calls to BOS, the File Service, ELS and the Content Service."""

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        timeout_s: float = 15.0,
        retries: RetryHorizon | None = None,
        token: str | None = None,
    ) -> None:
        self.endpoints = endpoints
        # The bearer token every call carries (HULEEDU_TOKEN, or the file `huleedu login` wrote).
        self._token = token if token is not None else bearer_token()
        self._timeout_s = timeout_s
        self._retries = retries or RetryHorizon(DEFAULT_HORIZON_S, announce_on_stderr)
        # The services (by *_ADDR variable) that have answered a call of this command.
        self._reached: set[str] = set()
        # By address: services behind one address share a channel (and its connection).
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _channel(self, endpoint: Endpoint) -> grpc.aio.Channel:
        """The channel to the endpoint's address, opened on its first call."""
        channel = self._channels.get(endpoint.addr)
        if channel is None:
            channel = grpc_channel(
                endpoint.addr,
                service_config=SERVICE_CONFIG_JSON,
                interceptors=bearer_interceptors(self._token) if self._token else (),
            )
            self._channels[endpoint.addr] = channel
        return channel

    @functools.cached_property
    def _batch(self) -> batch_service_pb2_grpc.BatchOrchestratorServiceAsyncStub:
        return batch_service_pb2_grpc.BatchOrchestratorServiceStub(
            self._channel(self.endpoints.batch)
        )

    @functools.cached_property
    def _file(self) -> file_service_pb2_grpc.FileServiceAsyncStub:
        return file_service_pb2_grpc.FileServiceStub(self._channel(self.endpoints.file))

    @functools.cached_property
    def _essay(self) -> essay_service_pb2_grpc.EssayLifecycleServiceAsyncStub:
        return essay_service_pb2_grpc.EssayLifecycleServiceStub(self._channel(self.endpoints.essay))

    @functools.cached_property
    def _content(self) -> content_service_pb2_grpc.ContentServiceAsyncStub:
        return content_service_pb2_grpc.ContentServiceStub(self._channel(self.endpoints.content))

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

    async def _once(self, endpoint: Endpoint, call: Awaitable[T]) -> T:
        """A call that must not be repeated: its failure, explained."""
        try:
            return await call
        except grpc.aio.AioRpcError as error:
            raise self.explain(endpoint, error) from None

    async def _idempotent(self, endpoint: Endpoint, attempt: Callable[[], Awaitable[T]]) -> T:
        """A call that is safe to repeat: `attempt()` is made again while the service is
        unavailable, until the retry horizon (each attempt carries the channel's own retries)."""
        failures = 0
        while True:
            try:
                result = await attempt()
            except grpc.aio.AioRpcError as error:
                await self._wait_to_retry(endpoint, error, failures)
                failures += 1
                continue
            self._answered(endpoint)
            return result

    def _answered(self, endpoint: Endpoint) -> None:
        self._reached.add(endpoint.variable)
        self._retries.answered(endpoint.title)

    async def _wait_to_retry(
        self, endpoint: Endpoint, error: grpc.aio.AioRpcError, failures: int
    ) -> None:
        """Wait before the next attempt, or raise the failure as a CliError when another attempt
        is not worth making: a refusal, an outage past the horizon, or a service this command has
        never reached (a stack not started, a wrong address or TLS setting: not an outage, and
        said at once)."""
        if error.code() not in _RETRYABLE:
            raise self.explain(endpoint, error) from None
        if self._connected(endpoint, error):
            self._reached.add(endpoint.variable)
        elif endpoint.variable not in self._reached:
            raise self.explain(endpoint, error) from None
        reason = self._unavailable(endpoint, error)
        if not await self._retries.wait_to_retry(endpoint.title, reason, failures):
            raise ServiceUnavailable(self._retries.gave_up(reason)) from None

    def explain(self, endpoint: Endpoint, error: grpc.aio.AioRpcError) -> CliError:
        """One sentence for a failed call: unavailable (exit 3) or what the service said."""
        code = error.code()
        if code in _RETRYABLE:
            return CliError(self._unavailable(endpoint, error), EXIT_UNREACHABLE)
        message = f"{endpoint.title}: {code.name}: {error.details() or ''}"
        if code == grpc.StatusCode.UNAUTHENTICATED:
            message += (
                "; log in with `huleedu login --tenant NAME` (local stack), or set HULEEDU_TOKEN "
                "to a token: `export HULEEDU_TOKEN=$(docker compose run --rm -T cli huleedu login "
                "--tenant NAME --print)` (docker compose) or one from your identity provider"
            )
        return CliError(message, EXIT_FAILED)

    def _connected(self, endpoint: Endpoint, error: grpc.aio.AioRpcError) -> bool:
        """True if the failed call had a connection to the service (it answered, or was slow)."""
        state = self._channel(endpoint).get_state(try_to_connect=False)
        # gRPC's own words for a connection it could not make; a service's answer may well
        # mention its NATS connection, which says nothing about reaching the service.
        failed_to_connect = "failed to connect" in (error.details() or "").lower()
        return state == grpc.ChannelConnectivity.READY and not failed_to_connect

    def _unavailable(self, endpoint: Endpoint, error: grpc.aio.AioRpcError) -> str:
        """No answer in time, nothing listening, or the service's own UNAVAILABLE answer."""
        if error.code() == grpc.StatusCode.DEADLINE_EXCEEDED:
            return f"{endpoint.title} at {endpoint.addr} did not answer in time"
        if not self._connected(endpoint, error):
            return endpoint.unreachable()
        return f"{endpoint.title} unavailable (UNAVAILABLE: {error.details() or ''})"

    async def register_batch(
        self, request: batch_service_pb2.RegisterBatchRequest
    ) -> batch_service_pb2.RegisterBatchResponse:
        """RegisterBatch. With a request_id it is asked again while BOS is unavailable, until the
        retry horizon: the same request_id registers at most one batch, so a lost answer costs
        nothing. Without one it is asked once."""
        if not request.request_id:
            return await self._once(
                self.endpoints.batch, self._batch.RegisterBatch(request, timeout=self._timeout_s)
            )
        return await self._idempotent(
            self.endpoints.batch,
            lambda: self._batch.RegisterBatch(request, timeout=self._timeout_s),
        )

    async def get_batch(self, batch_id: str) -> batch_service_pb2.Batch:
        """GetBatch."""
        request = batch_service_pb2.GetBatchRequest(batch_id=batch_id)
        reply = await self._idempotent(
            self.endpoints.batch, lambda: self._batch.GetBatch(request, timeout=self._timeout_s)
        )
        return reply.batch

    async def delete_batch(self, batch_id: str) -> batch_service_pb2.DeleteBatchResponse:
        """DeleteBatch, asked once: asked again after a lost answer it would say NOT_FOUND."""
        request = batch_service_pb2.DeleteBatchRequest(batch_id=batch_id)
        reply: batch_service_pb2.DeleteBatchResponse = await self._once(
            self.endpoints.batch, self._batch.DeleteBatch(request, timeout=self._timeout_s)
        )
        return reply

    async def delete_essay(self, batch_id: str, essay_id: str) -> None:
        """DeleteEssay (repeating it is harmless: the essay is erased once)."""
        request = batch_service_pb2.DeleteEssayRequest(batch_id=batch_id, essay_id=essay_id)
        await self._idempotent(
            self.endpoints.batch, lambda: self._batch.DeleteEssay(request, timeout=self._timeout_s)
        )

    async def watch_batch(self, batch_id: str) -> AsyncIterator[batch_service_pb2.Batch]:
        """WatchBatch: the batch now and after every change, until it is terminal. A watch
        that breaks because BOS is unavailable is opened again (it starts with the batch as it
        is then), until the retry horizon."""
        request = batch_service_pb2.WatchBatchRequest(batch_id=batch_id)
        not_found = failures = 0
        while True:
            call = self._batch.WatchBatch(request)
            received = False
            try:
                async for reply in call:
                    received = True
                    failures = 0
                    self._answered(self.endpoints.batch)
                    yield reply.batch
                return
            except grpc.aio.AioRpcError as error:
                # Under load BOS can answer NOT_FOUND for a batch it has just stored (its KV
                # watch may see the end-of-values marker before the value): ask again.
                if error.code() != grpc.StatusCode.NOT_FOUND or received:
                    await self._wait_to_retry(self.endpoints.batch, error, failures)
                    failures += 1
                    continue
                if not_found == _WATCH_NOT_FOUND_RETRIES:
                    raise self.explain(self.endpoints.batch, error) from None
                not_found += 1
            finally:
                call.cancel()
            await asyncio.sleep(0.2 * not_found)

    async def list_batches(
        self, page_size: int, page_token: str = ""
    ) -> batch_service_pb2.ListBatchesResponse:
        """One page of ListBatches."""
        request = batch_service_pb2.ListBatchesRequest(page_size=page_size, page_token=page_token)
        return await self._idempotent(
            self.endpoints.batch,
            lambda: self._batch.ListBatches(request, timeout=self._timeout_s),
        )

    async def upload_files(
        self, requests: Sequence[file_service_pb2.UploadFilesRequest]
    ) -> list[file_service_pb2.FileReceipt]:
        """UploadFiles: one stream message per file, one receipt per file. The server answers
        only at the end, so a stream that fails is sent again whole: the File Service answers a
        file it already has DUPLICATE, for the record it made the first time."""

        async def stream() -> AsyncIterator[file_service_pb2.UploadFilesRequest]:
            for request in requests:
                yield request

        reply = await self._idempotent(
            self.endpoints.file,
            lambda: self._file.UploadFiles(stream(), timeout=_UPLOAD_TIMEOUT_S),
        )
        return list(reply.receipts)

    async def list_batch_essays(self, batch_id: str) -> list[essay_service_pb2.Essay]:
        """ListBatchEssays: every slot of the batch (without corrections)."""
        request = essay_service_pb2.ListBatchEssaysRequest(batch_id=batch_id)
        reply = await self._idempotent(
            self.endpoints.essay,
            lambda: self._essay.ListBatchEssays(request, timeout=self._timeout_s),
        )
        return list(reply.essays)

    async def get_essay(self, essay_id: str) -> essay_service_pb2.Essay:
        """GetEssay: one essay with its corrections and timeline."""
        request = essay_service_pb2.GetEssayRequest(essay_id=essay_id)
        reply = await self._idempotent(
            self.endpoints.essay, lambda: self._essay.GetEssay(request, timeout=self._timeout_s)
        )
        return reply.essay

    async def get_content(self, storage_id: str) -> content_service_pb2.GetContentResponse:
        """GetContent."""
        request = content_service_pb2.GetContentRequest(storage_id=storage_id)
        return await self._idempotent(
            self.endpoints.content,
            lambda: self._content.GetContent(request, timeout=self._timeout_s),
        )
