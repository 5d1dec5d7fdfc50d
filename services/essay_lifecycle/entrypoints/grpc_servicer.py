"""The gRPC servicer of huleedu.essay.v1.EssayLifecycleService: reads of essay state."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc

from huleedu.essay.v1 import essay_service_pb2, essay_service_pb2_grpc
from services.essay_lifecycle.domain.errors import StoreUnavailableError
from services.essay_lifecycle.domain.ports import BatchTracker, EssayIndex, TrackerRepository
from services.essay_lifecycle.domain.tracker import find_slot, is_valid_id
from services.mesh.grpc_errors import Violation, abort

SERVICE_NAME = essay_service_pb2.DESCRIPTOR.services_by_name["EssayLifecycleService"].full_name


async def _invalid(
    context: grpc.aio.ServicerContext[Any, Any], field: str, problem: str
) -> NoReturn:
    await abort(
        context,
        grpc.StatusCode.INVALID_ARGUMENT,
        problem,
        reason="INVALID_REQUEST",
        violations=[Violation(field, problem)],
    )


def _not_an_id(field: str) -> str:
    # The value is not echoed: it may be megabytes long, or a control sequence.
    return (
        f"{field} is not an id: ids are 1-255 letters, digits, '-', '_', '=' and inner '.', "
        "as RegisterBatch returned them"
    )


class EssayLifecycleServicer(essay_service_pb2_grpc.EssayLifecycleServiceServicer):
    """GetEssay and ListBatchEssays over the trackers and the essay index."""

    def __init__(self, trackers: TrackerRepository, essays: EssayIndex) -> None:
        self._trackers = trackers
        self._essays = essays

    async def GetEssay(
        self,
        request: essay_service_pb2.GetEssayRequest,
        context: grpc.aio.ServicerContext[
            essay_service_pb2.GetEssayRequest, essay_service_pb2.GetEssayResponse
        ],
    ) -> essay_service_pb2.GetEssayResponse:
        """One essay with its state, storage ids, corrections and timeline."""
        if not request.essay_id:
            await _invalid(context, "essay_id", "essay_id is required")
        if not is_valid_id(request.essay_id):
            await _invalid(context, "essay_id", _not_an_id("essay_id"))
        try:
            record = await self._essays.get(request.essay_id)
            tracker = None if record is None else await self._trackers.get(record.batch_id)
        except StoreUnavailableError as error:
            await abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"essay state unavailable: {error}",
                reason="STORE_UNAVAILABLE",
            )
        slot = None if tracker is None else find_slot(tracker, request.essay_id)
        if record is None or slot is None:
            await abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"no essay {request.essay_id!r} is known to ELS",
                reason="ESSAY_NOT_FOUND",
                metadata={"essay_id": request.essay_id},
            )
        essay = essay_service_pb2.Essay()
        essay.CopyFrom(slot.essay)
        essay.corrections.extend(record.corrections)
        return essay_service_pb2.GetEssayResponse(essay=essay)

    async def ListBatchEssays(
        self,
        request: essay_service_pb2.ListBatchEssaysRequest,
        context: grpc.aio.ServicerContext[
            essay_service_pb2.ListBatchEssaysRequest, essay_service_pb2.ListBatchEssaysResponse
        ],
    ) -> essay_service_pb2.ListBatchEssaysResponse:
        """Every essay slot of the batch, in slot order (corrections only via GetEssay)."""
        if not request.batch_id:
            await _invalid(context, "batch_id", "batch_id is required")
        if not is_valid_id(request.batch_id):
            await _invalid(context, "batch_id", _not_an_id("batch_id"))
        try:
            tracker: BatchTracker | None = await self._trackers.get(request.batch_id)
        except StoreUnavailableError as error:
            await abort(
                context,
                grpc.StatusCode.UNAVAILABLE,
                f"essay state unavailable: {error}",
                reason="STORE_UNAVAILABLE",
            )
        if tracker is None or not tracker.registered:
            await abort(
                context,
                grpc.StatusCode.NOT_FOUND,
                f"no batch {request.batch_id!r} is registered with ELS",
                reason="BATCH_NOT_FOUND",
                metadata={"batch_id": request.batch_id},
            )
        return essay_service_pb2.ListBatchEssaysResponse(
            essays=[slot.essay for slot in tracker.slots]
        )
