"""The `bos` durable consumer: ELS events in, use cases, and what the consumer runner should do
when one fails (retry, or dead-letter)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar

from google.protobuf.message import Message

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.batch_orchestrator.domain.errors import (
    BackendUnavailable,
    BatchErased,
    BatchNotFound,
    ContractViolation,
    InvalidRequest,
    PhaseNotStarted,
)
from services.batch_orchestrator.domain.progress import BatchProgress
from services.batch_orchestrator.domain.registration import parse_batch_id
from services.mesh import subjects
from services.mesh.consumer import Delivery, Handler, PermanentError, TransientError
from services.mesh.outage import DependencyUnavailable
from services.mesh.settings import NatsSettings
from services.mesh.streams import ConsumerSpec

log = logging.getLogger(__name__)

DURABLE = "bos"
FILTER_SUBJECTS = [
    subjects.BATCH_ESSAYS_READY,
    subjects.BATCH_READINESS_TIMED_OUT,
    subjects.EXCESS_CONTENT_PROVISIONED,
    subjects.BATCH_PHASE_OUTCOME,
]
E = TypeVar("E", bound=Message)


def consumer_spec(nats: NatsSettings) -> ConsumerSpec:
    """The durable consumer every BOS instance binds."""
    return ConsumerSpec.of_service(
        DURABLE,
        FILTER_SUBJECTS,
        nats,
        "Batch Orchestrator: readiness, timeouts, excess content, phase outcomes",
    )


class BosEventHandlers:
    """Translates each ELS event into a use case call, and use-case errors into outcomes.

    An event for a batch BOS does not know is retried (TransientError every
    `unknown_batch_retry_s`) and dead-lettered when its deliveries run out: BOS stores a batch
    before anyone can hear of it, so this covers only a lagging KV replica, not a lost batch.
    """

    def __init__(self, use_cases: BatchProgress, *, unknown_batch_retry_s: float) -> None:
        self._use_cases = use_cases
        self._retry_s = unknown_batch_retry_s

    def handlers(self) -> Mapping[type[Message], Handler]:
        """The handler of each event type the `bos` consumer receives."""
        return {
            events_pb2.BatchEssaysReady: self._wrap(events_pb2.BatchEssaysReady, self.essays_ready),
            events_pb2.BatchReadinessTimedOut: self._wrap(
                events_pb2.BatchReadinessTimedOut, self.readiness_timed_out
            ),
            events_pb2.ExcessContentProvisioned: self._wrap(
                events_pb2.ExcessContentProvisioned, self.excess_content
            ),
            events_pb2.ELSBatchPhaseOutcome: self._wrap(
                events_pb2.ELSBatchPhaseOutcome, self.phase_outcome
            ),
        }

    def _wrap(self, message_type: type[E], handle: Callable[[E], Awaitable[object]]) -> Handler:
        async def handler(event: Message, delivery: Delivery) -> None:
            if not isinstance(event, message_type):
                raise PermanentError(f"expected {message_type.DESCRIPTOR.full_name}")
            try:
                await handle(event)
            except BatchErased:
                return  # an event still in flight for an erased batch: nothing to do
            except (BatchNotFound, PhaseNotStarted) as error:
                raise TransientError(str(error), delay_s=self._retry_s) from error
            except BackendUnavailable as error:
                # Not the event's fault: the consumer runs it again without counting a delivery.
                raise DependencyUnavailable(str(error)) from error
            except (ContractViolation, InvalidRequest) as error:
                raise PermanentError(str(error)) from error

        return handler

    async def essays_ready(self, event: events_pb2.BatchEssaysReady) -> None:
        """BatchEssaysReady → READY → command → SPELLCHECKING (or FAILED with no essay)."""
        await self._use_cases.essays_ready(
            parse_batch_id(event.batch_id),
            event_id=event.metadata.event_id,
            ready_essays=list(event.ready_essays),
            validation_failures=list(event.validation_failures),
            missing_count=event.missing_count,
            partial=event.partial,
        )

    async def readiness_timed_out(self, event: events_pb2.BatchReadinessTimedOut) -> None:
        """BatchReadinessTimedOut → FAILED."""
        await self._use_cases.readiness_timed_out(
            parse_batch_id(event.batch_id),
            assigned=event.assigned,
            failed=event.failed,
            expected=event.expected,
            reason=event.reason,
        )

    async def excess_content(self, event: events_pb2.ExcessContentProvisioned) -> None:
        """ExcessContentProvisioned → recorded on the batch."""
        item = common_pb2.ExcessContent(
            file_upload_id=event.file_upload_id,
            original_file_name=event.original_file_name,
            text_storage_id=event.text_storage_id,
            reason=event.reason,
        )
        await self._use_cases.excess_content(parse_batch_id(event.batch_id), item)

    async def phase_outcome(self, event: events_pb2.ELSBatchPhaseOutcome) -> None:
        """ELSBatchPhaseOutcome → COMPLETED, COMPLETED_WITH_FAILURES or FAILED."""
        await self._use_cases.phase_outcome(
            parse_batch_id(event.batch_id),
            phase=event.phase,
            processed_essays=list(event.processed_essays),
        )
