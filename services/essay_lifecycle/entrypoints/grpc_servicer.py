"""The gRPC servicer of huleedu.essay.v1.EssayLifecycleService: reads of essay state."""

from __future__ import annotations

from typing import Any, NoReturn

import grpc

from huleedu.essay.v1 import essay_service_pb2, essay_service_pb2_grpc
from services.essay_lifecycle.domain.errors import StoreUnavailableError
from services.essay_lifecycle.domain.ports import BatchTracker, EssayIndex, TrackerRepository
from services.essay_lifecycle.domain.tracker import find_slot, is_valid_id
from services.mesh.auth import current_caller
from services.mesh.grpc_errors import Violation, abort

SERVICE_NAME = essay_service_pb2.DESCRIPTOR.services_by_name["EssayLifecycleService"].full_name


Context = grpc.aio.ServicerContext[Any, Any]


async def _check_id(context: Context, field: str, value: str) -> None:
    """Answer INVALID_ARGUMENT, naming the field, unless `value` is an id."""
    if not value:
        problem = f"{field} is required"
    elif not is_valid_id(value):
        # The value is not echoed: it may be megabytes long, or a control sequence.
        problem = (
            f"{field} is not an id: ids are 1-255 letters, digits, '-', '_', '=' and inner '.', "
            "as RegisterBatch returned them"
        )
    else:
        return
    await abort(
        context,
        grpc.StatusCode.INVALID_ARGUMENT,
        problem,
        reason="INVALID_REQUEST",
        violations=[Violation(field, problem)],
    )


async def _unavailable(context: Context, error: StoreUnavailableError) -> NoReturn:
    await abort(
        context,
        grpc.StatusCode.UNAVAILABLE,
        f"essay state unavailable: {error}",
        reason="STORE_UNAVAILABLE",
    )


async def _not_found(context: Context, field: str, value: str, message: str) -> NoReturn:
    reason = f"{field.removesuffix('_id').upper()}_NOT_FOUND"
    await abort(context, grpc.StatusCode.NOT_FOUND, message, reason=reason, metadata={field: value})


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
        await _check_id(context, "essay_id", request.essay_id)
        try:
            record = await self._essays.get(request.essay_id)
            tracker = None if record is None else await self._trackers.get(record.batch_id)
        except StoreUnavailableError as error:
            await _unavailable(context, error)
        # Another tenant's essay is not found, exactly as a missing one.
        if tracker is not None and tracker.tenant_id != current_caller().tenant:
            tracker = None
        slot = None if tracker is None else find_slot(tracker, request.essay_id)
        if record is None or slot is None:
            await _not_found(
                context,
                "essay_id",
                request.essay_id,
                f"no essay {request.essay_id!r} is known to ELS",
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
        await _check_id(context, "batch_id", request.batch_id)
        try:
            tracker: BatchTracker | None = await self._trackers.get(request.batch_id)
        except StoreUnavailableError as error:
            await _unavailable(context, error)
        if (
            tracker is None
            or not tracker.registered
            or tracker.tenant_id != current_caller().tenant
        ):
            await _not_found(
                context,
                "batch_id",
                request.batch_id,
                f"no batch {request.batch_id!r} is registered with ELS",
            )
        return essay_service_pb2.ListBatchEssaysResponse(
            essays=[slot.essay for slot in tracker.slots]
        )
