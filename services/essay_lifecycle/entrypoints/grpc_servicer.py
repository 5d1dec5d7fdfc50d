"""The gRPC servicer of huleedu.essay.v1.EssayLifecycleService: reads of essay state, and of an
essay's spell-check details from the Content Service (essay text, which ELS does not keep)."""

from __future__ import annotations

import logging
from typing import Any, NoReturn

import grpc

from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2, essay_service_pb2_grpc
from services.essay_lifecycle.domain.errors import StoreUnavailableError
from services.essay_lifecycle.domain.ports import (
    BatchTracker,
    ContentReader,
    EssayIndex,
    TrackerRepository,
)
from services.essay_lifecycle.domain.tracker import find_slot, is_valid_id
from services.mesh.auth import current_caller
from services.mesh.consumer import TransientError
from services.mesh.content_client import ContentNotFoundError
from services.mesh.grpc_errors import Violation, abort
from services.mesh.outage import DependencyUnavailable

log = logging.getLogger(__name__)

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


async def _details(
    content: ContentReader, storage_id: str, tenant: str, context: Context
) -> common_pb2.SpellcheckDetails:
    """The essay's spell-check details, read as its tenant; none when they were erased."""
    try:
        payload = await content.get(storage_id, tenant=tenant)
    except ContentNotFoundError:
        log.warning("the essay's spell-check details are not in the Content Service (erased)")
        return common_pb2.SpellcheckDetails()
    except (DependencyUnavailable, TransientError) as error:
        await abort(
            context,
            grpc.StatusCode.UNAVAILABLE,
            f"the essay's corrections cannot be read now: {error}",
            reason="CONTENT_UNAVAILABLE",
        )
    return common_pb2.SpellcheckDetails.FromString(payload)


class EssayLifecycleServicer(essay_service_pb2_grpc.EssayLifecycleServiceServicer):
    """GetEssay and ListBatchEssays over the trackers and the essay index; GetEssay reads the
    essay's details from the Content Service."""

    def __init__(
        self, trackers: TrackerRepository, essays: EssayIndex, content: ContentReader
    ) -> None:
        self._trackers = trackers
        self._essays = essays
        self._content = content

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
        # Another tenant's essay, or an erased batch's, is not found, exactly as a missing one.
        if tracker is not None and (tracker.erased or tracker.tenant_id != current_caller().tenant):
            tracker = None
        slot = None if tracker is None else find_slot(tracker, request.essay_id)
        if record is None or slot is None:
            await _not_found(
                context,
                "essay_id",
                request.essay_id,
                f"no essay {request.essay_id!r} is known to ELS",
            )
        essay = _essay_of(slot.essay, record.batch_id)
        if essay.spellcheck_details_storage_id:
            details = await _details(
                self._content, essay.spellcheck_details_storage_id, current_caller().tenant, context
            )
            essay.corrections.extend(details.corrections)
            essay.unknown_words.extend(details.unknown_words)
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
            or tracker.erased
            or tracker.tenant_id != current_caller().tenant
        ):
            await _not_found(
                context,
                "batch_id",
                request.batch_id,
                f"no batch {request.batch_id!r} is registered with ELS",
            )
        return essay_service_pb2.ListBatchEssaysResponse(
            essays=[_essay_of(slot.essay, tracker.batch_id) for slot in tracker.slots]
        )


def _essay_of(stored: essay_service_pb2.Essay, batch_id: str) -> essay_service_pb2.Essay:
    """The essay as the queries show it: a slot does not repeat its tracker's batch id (slots
    stored before do; it is the same)."""
    essay = essay_service_pb2.Essay()
    essay.CopyFrom(stored)
    essay.batch_id = batch_id
    return essay
