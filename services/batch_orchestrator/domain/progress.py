"""What BOS does with each event from ELS. Every use case is idempotent: the domain refuses a
change the batch has moved past, and what BOS derives is re-published with the same event id."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from huleedu.common.v1 import common_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain import batch as lifecycle
from services.batch_orchestrator.domain.errors import (
    BatchErased,
    BatchNotFound,
    ContractViolation,
    PhaseNotStarted,
)
from services.batch_orchestrator.domain.ports import (
    BatchRepository,
    Change,
    Clock,
    EventPublisher,
    Stored,
)
from services.batch_orchestrator.domain.publishing import publish_spellcheck_command

log = logging.getLogger(__name__)


class BatchProgress:
    """The use cases that move a batch on as events arrive (behind the `bos` consumer, whose
    entrypoint is BosEventHandlers)."""

    def __init__(
        self, repository: BatchRepository, publisher: EventPublisher, clock: Clock
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._clock = clock

    async def _update(self, batch_id: str, change: Change) -> Stored:
        def unless_erased(batch: BatchRecord) -> BatchRecord | None:
            return None if batch.HasField("erased_at") else change(batch)

        stored = await self._repository.update(batch_id, unless_erased)
        if stored is None:
            raise BatchNotFound(batch_id)
        if stored.batch.HasField("erased_at"):
            raise BatchErased(batch_id)
        return stored

    def _log_unchanged(self, event: str, batch: BatchRecord) -> None:
        log.info(
            "%s changed nothing: batch is %s",
            event,
            lifecycle.status_name(batch.status),
            extra={"batch_id": batch.batch_id},
        )

    async def essays_ready(
        self,
        batch_id: str,
        *,
        event_id: str,
        ready_essays: Sequence[common_pb2.EssayRef],
        validation_failures: Sequence[common_pb2.ValidationFailure],
        missing_count: int,
        partial: bool,
    ) -> BatchRecord:
        """READY, then BatchSpellcheckInitiateCommand and SPELLCHECKING; FAILED if none ready."""
        now = self._clock()
        stored = await self._update(
            batch_id,
            lambda batch: lifecycle.record_ready(
                batch,
                ready_essays=ready_essays,
                validation_failures=validation_failures,
                missing_count=missing_count,
                partial=partial,
                now=now,
            ),
        )
        current = stored.batch
        foreign = lifecycle.foreign_essay_ids(current, (e.essay_id for e in ready_essays))
        if foreign:
            log.error(
                "BatchEssaysReady named essays that are not slots of the batch; left out",
                extra={"batch_id": batch_id, "essay_ids": ",".join(foreign)},
            )
        if current.status == lifecycle.READY:
            await publish_spellcheck_command(self._publisher, current, causation_id=event_id)
            started = await self._update(
                batch_id,
                lambda batch: lifecycle.start_phase(batch, common_pb2.PHASE_SPELLCHECK, now),
            )
            return started.batch
        if current.status == lifecycle.SPELLCHECKING:
            # Redelivered after the command went out: send it again; JetStream drops the copy.
            await publish_spellcheck_command(self._publisher, current, causation_id=event_id)
        elif stored.changed:
            log.warning("batch failed: %s", current.failure_reason, extra={"batch_id": batch_id})
        if not stored.changed:
            self._log_unchanged("BatchEssaysReady", current)
        return current

    async def readiness_timed_out(
        self, batch_id: str, *, assigned: int, failed: int, expected: int, reason: str
    ) -> BatchRecord:
        """FAILED with the reason, unless the batch was already ready."""
        now = self._clock()
        stored = await self._update(
            batch_id,
            lambda batch: lifecycle.fail_timed_out(
                batch, assigned=assigned, failed=failed, expected=expected, reason=reason, now=now
            ),
        )
        if stored.changed:
            log.warning(
                "batch failed: %s", stored.batch.failure_reason, extra={"batch_id": batch_id}
            )
        else:
            self._log_unchanged("BatchReadinessTimedOut", stored.batch)
        return stored.batch

    async def excess_content(self, batch_id: str, item: common_pb2.ExcessContent) -> BatchRecord:
        """Record content that found no slot (once per upload and reason)."""
        now = self._clock()
        stored = await self._update(
            batch_id, lambda batch: lifecycle.record_excess(batch, item, now)
        )
        return stored.batch

    async def phase_outcome(
        self,
        batch_id: str,
        *,
        phase: common_pb2.Phase.ValueType,
        processed_essays: Sequence[common_pb2.EssayRef],
    ) -> BatchRecord:
        """The phase's results and the batch's end state."""
        current = await self._repository.get(batch_id)
        if current is None:
            raise BatchNotFound(batch_id)
        if lifecycle.phase_state(current, phase) is None:
            raise ContractViolation(
                f"outcome of phase {common_pb2.Phase.Name(phase)}, which batch {batch_id} "
                "does not run"
            )
        now = self._clock()
        # ELS may answer before our own READY → SPELLCHECKING write lands: the command is out,
        # so make that step first; WatchBatch then still shows every state.
        await self._update(batch_id, lambda batch: lifecycle.start_phase(batch, phase, now))
        stored = await self._update(
            batch_id,
            lambda batch: lifecycle.record_phase_outcome(
                batch, phase=phase, processed_essays=processed_essays, now=now
            ),
        )
        if stored.changed:
            log.info(
                "batch finished: %s",
                lifecycle.status_name(stored.batch.status),
                extra={"batch_id": batch_id},
            )
        elif stored.batch.status == lifecycle.AWAITING_CONTENT:
            raise PhaseNotStarted(f"batch {batch_id} has not become ready; outcome too early")
        else:
            self._log_unchanged("ELSBatchPhaseOutcome", stored.batch)
        return stored.batch
