"""The gRPC servicer of huleedu.batch.v1.BatchOrchestratorService: protobuf in, use cases, status
codes out."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import grpc

from huleedu.batch.v1 import batch_service_pb2 as pb
from huleedu.batch.v1 import batch_service_pb2_grpc as pb_grpc
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain.batch import is_terminal
from services.batch_orchestrator.domain.erasure import BatchEraser
from services.batch_orchestrator.domain.errors import (
    BackendUnavailable,
    BatchError,
    BatchNotFound,
    InvalidRequest,
    NotPermitted,
    RequestIdReused,
)
from services.batch_orchestrator.domain.ports import BatchWatch
from services.batch_orchestrator.domain.queries import BatchQueries
from services.batch_orchestrator.domain.registrar import BatchRegistrar
from services.batch_orchestrator.domain.registration import BatchRequest
from services.mesh.auth import Caller, current_caller
from services.mesh.grpc_errors import Violation, abort

log = logging.getLogger(__name__)

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["BatchOrchestratorService"].full_name
_CODES: dict[type[BatchError], grpc.StatusCode] = {
    InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    BatchNotFound: grpc.StatusCode.NOT_FOUND,
    RequestIdReused: grpc.StatusCode.ALREADY_EXISTS,
    BackendUnavailable: grpc.StatusCode.UNAVAILABLE,
    NotPermitted: grpc.StatusCode.PERMISSION_DENIED,
}
_REASONS: dict[type[BatchError], str] = {
    InvalidRequest: "INVALID_REQUEST",
    BatchNotFound: "BATCH_NOT_FOUND",
    RequestIdReused: "REQUEST_ID_REUSED",
    BackendUnavailable: "STORE_UNAVAILABLE",
    NotPermitted: "NOT_PERMITTED",
}
_SHUTTING_DOWN = "the Batch Orchestrator is shutting down; call WatchBatch again"
_WATCH_AGAIN = "the Batch Orchestrator lost its NATS connection; call WatchBatch again"


def as_api(record: BatchRecord) -> pb.Batch:
    """The public Batch of a stored record: the same bytes for the fields they share (their
    numbers and types are kept equal), the record's own fields left out."""
    batch = pb.Batch.FromString(record.SerializeToString())
    batch.DiscardUnknownFields()
    return batch


async def _abort(context: grpc.aio.ServicerContext[Any, Any], error: BatchError) -> NoReturn:
    code = _CODES.get(type(error), grpc.StatusCode.INTERNAL)
    if code == grpc.StatusCode.INTERNAL:
        log.error("unexpected batch error", exc_info=error)
    violations = [Violation(v.field, v.problem) for v in getattr(error, "violations", ())]
    batch_id = getattr(error, "batch_id", None)
    await abort(
        context,
        code,
        str(error),
        reason=_REASONS.get(type(error), "INTERNAL"),
        violations=violations,
        metadata={"batch_id": batch_id} if batch_id else None,
    )


def batch_request(request: pb.RegisterBatchRequest, caller: Caller) -> BatchRequest:
    """The domain's view of a RegisterBatch request `caller` made."""
    return BatchRequest(
        expected_essay_count=request.expected_essay_count,
        course_code=request.course_code,
        language=request.language,
        phases=list(request.phases),
        timeout_seconds=request.readiness.timeout_seconds,
        partial_batch_threshold=request.readiness.partial_batch_threshold,
        title=request.title,
        teacher_reference=request.teacher_reference,
        request_id=request.request_id,
        tenant_id=caller.tenant,
        created_by=caller.subject,
    )


class BatchOrchestratorServicer(pb_grpc.BatchOrchestratorServiceServicer):
    """RegisterBatch, GetBatch, WatchBatch, ListBatches, DeleteBatch and DeleteEssay."""

    def __init__(
        self, registrar: BatchRegistrar, queries: BatchQueries, eraser: BatchEraser
    ) -> None:
        self._registrar = registrar
        self._queries = queries
        self._eraser = eraser
        self._watches: set[BatchWatch] = set()
        self._closing = False

    async def close(self) -> None:
        """End every open WatchBatch stream (UNAVAILABLE, so clients watch again elsewhere)."""
        self._closing = True
        await self.end_watches()

    async def end_watches(self) -> None:
        """End every open WatchBatch stream with UNAVAILABLE. After NATS came back, a KV watch
        may hear nothing more for seconds (nats-py re-creates its consumer only after missed
        heartbeats, and once); a client that watches again gets the batch as it is at once."""
        for watch in list(self._watches):
            await watch.stop()

    async def RegisterBatch(
        self,
        request: pb.RegisterBatchRequest,
        context: grpc.aio.ServicerContext[pb.RegisterBatchRequest, pb.RegisterBatchResponse],
    ) -> pb.RegisterBatchResponse:
        """Create the batch and its slots and announce it; with a request_id already used, the
        batch that request registered."""
        try:
            batch = await self._registrar.register(batch_request(request, current_caller()))
        except BatchError as error:
            await _abort(context, error)
        return pb.RegisterBatchResponse(
            batch_id=batch.batch_id,
            essay_ids=list(batch.essay_ids),
            correlation_id=batch.correlation_id,
        )

    async def GetBatch(
        self,
        request: pb.GetBatchRequest,
        context: grpc.aio.ServicerContext[pb.GetBatchRequest, pb.GetBatchResponse],
    ) -> pb.GetBatchResponse:
        """The batch as it is now."""
        try:
            batch = await self._queries.get(request.batch_id, current_caller().tenant)
        except BatchError as error:
            await _abort(context, error)
        return pb.GetBatchResponse(batch=as_api(batch))

    async def ListBatches(
        self,
        request: pb.ListBatchesRequest,
        context: grpc.aio.ServicerContext[pb.ListBatchesRequest, pb.ListBatchesResponse],
    ) -> pb.ListBatchesResponse:
        """One page of batches, newest first."""
        try:
            batches, token = await self._queries.list(
                tenant_id=current_caller().tenant,
                requested_page_size=request.page_size,
                page_token=request.page_token,
            )
        except BatchError as error:
            await _abort(context, error)
        return pb.ListBatchesResponse(
            batches=[as_api(batch) for batch in batches], next_page_token=token
        )

    async def WatchBatch(
        self,
        request: pb.WatchBatchRequest,
        context: grpc.aio.ServicerContext[pb.WatchBatchRequest, pb.WatchBatchResponse],
    ) -> AsyncIterator[pb.WatchBatchResponse]:
        """The batch now and after every change, until it is terminal."""
        if self._closing:
            await abort(
                context, grpc.StatusCode.UNAVAILABLE, _SHUTTING_DOWN, reason="SHUTTING_DOWN"
            )
        try:
            watch = await self._queries.watch(request.batch_id, current_caller().tenant)
        except BatchError as error:
            await _abort(context, error)
        self._watches.add(watch)
        try:
            async for batch in watch:
                if batch.HasField("erased_at"):
                    raise BatchNotFound(batch.batch_id, f"batch {batch.batch_id} was erased")
                yield pb.WatchBatchResponse(batch=as_api(batch))
                if is_terminal(batch):
                    return
        except BatchError as error:
            await _abort(context, error)
        finally:
            self._watches.discard(watch)
            await watch.stop()
        await abort(
            context,
            grpc.StatusCode.UNAVAILABLE,
            _SHUTTING_DOWN if self._closing else _WATCH_AGAIN,
            reason="SHUTTING_DOWN" if self._closing else "WATCH_INTERRUPTED",
        )

    async def DeleteBatch(
        self,
        request: pb.DeleteBatchRequest,
        context: grpc.aio.ServicerContext[pb.DeleteBatchRequest, pb.DeleteBatchResponse],
    ) -> pb.DeleteBatchResponse:
        """Order the batch's erasure everywhere; its creator or an admin of its tenant."""
        caller = current_caller()
        try:
            batch = await self._eraser.delete_batch(
                request.batch_id,
                tenant_id=caller.tenant,
                may_erase=lambda creator: caller.owns(caller.tenant, creator),
            )
        except BatchError as error:
            await _abort(context, error)
        return pb.DeleteBatchResponse(batch_id=batch.batch_id, essay_count=len(batch.essay_ids))

    async def DeleteEssay(
        self,
        request: pb.DeleteEssayRequest,
        context: grpc.aio.ServicerContext[pb.DeleteEssayRequest, pb.DeleteEssayResponse],
    ) -> pb.DeleteEssayResponse:
        """Order one essay's erasure everywhere; its slot stays, marked ERASED."""
        caller = current_caller()
        try:
            batch = await self._eraser.delete_essay(
                request.batch_id,
                request.essay_id,
                tenant_id=caller.tenant,
                may_erase=lambda creator: caller.owns(caller.tenant, creator),
            )
        except BatchError as error:
            await _abort(context, error)
        return pb.DeleteEssayResponse(batch_id=batch.batch_id, essay_id=request.essay_id)
