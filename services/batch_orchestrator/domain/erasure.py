"""DeleteBatch, DeleteEssay and retention: order every service to erase its part, then leave a
tombstone of the batch (ids only) that answers as missing.

The erasure event is published first and the record replaced after: a call cut off between the
two is repeated by the client (the record is still there, the event a duplicate); one cut off
after answers NOT_FOUND, its work done. The services erase their parts from the event (ELS the
contents and its records, the File Service its upload records).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from huleedu.events.v1 import events_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain.errors import BatchNotFound, NotPermitted
from services.batch_orchestrator.domain.ports import BatchRepository, Clock, EventPublisher
from services.batch_orchestrator.domain.publishing import PRODUCER
from services.batch_orchestrator.domain.registration import parse_batch_id, shown
from services.mesh.event_ids import derived_event_id, new_metadata

log = logging.getLogger(__name__)

# Whether the caller may erase a batch `created_by` made (its creator, an admin, a service).
MayErase = Callable[[str], bool]
RETENTION_CALLER = "retention"


def erasure_event_id(batch_id: str, essay_id: str = "") -> str:
    """The event id of a batch's (or one essay's) BatchErasureRequested."""
    parts = ("erasure", essay_id) if essay_id else ("erasure",)
    return derived_event_id(batch_id, *parts)


def tombstone(batch: BatchRecord, now: datetime) -> BatchRecord:
    """What is left of an erased batch: its id and tenant, and when."""
    left = BatchRecord(batch_id=batch.batch_id, tenant_id=batch.tenant_id)
    left.erased_at.FromDatetime(now)
    return left


def without_erased(batch: BatchRecord) -> BatchRecord:
    """`batch` with nothing of its erased essays but their ids: no file name, no storage id, no
    failure detail (which may name the file). Applied to every write of the record, so an event
    still in flight when an essay was erased cannot bring its name back."""
    erased = set(batch.erased_essay_ids)
    if not erased:
        return batch
    refs = [*batch.ready_essays]
    for phase in batch.phase_states:
        refs += phase.processed_essays
    for ref in refs:
        if ref.essay_id in erased:
            ref.original_file_name = ""
            ref.text_storage_id = ""
    for failure in batch.validation_failures:
        if failure.essay_id in erased:
            failure.original_file_name = ""
            failure.detail = ""
    return batch


def essay_erased(batch: BatchRecord, essay_id: str) -> BatchRecord:
    """`batch` with `essay_id` among its erased essays, and nothing of it left but its id."""
    if essay_id not in batch.erased_essay_ids:
        batch.erased_essay_ids.append(essay_id)
    return without_erased(batch)


class BatchEraser:
    """Erases batches and essays on request, and batches past their retention."""

    def __init__(
        self, repository: BatchRepository, publisher: EventPublisher, *, clock: Clock
    ) -> None:
        self._repository = repository
        self._publisher = publisher
        self._clock = clock

    async def _owned(self, batch_id: str, tenant_id: str, may_erase: MayErase) -> BatchRecord:
        canonical = parse_batch_id(batch_id)
        batch = await self._repository.get(canonical)
        if batch is None or batch.tenant_id != tenant_id or batch.HasField("erased_at"):
            raise BatchNotFound(canonical)
        if not may_erase(batch.created_by):
            raise NotPermitted(
                canonical,
                f"only the teacher who registered batch {canonical} ({batch.created_by}) or an "
                "admin of its tenant may erase it",
            )
        return batch

    async def delete_batch(
        self, batch_id: str, *, tenant_id: str, may_erase: MayErase
    ) -> BatchRecord:
        """Erase the tenant's batch; BatchNotFound, NotPermitted or BackendUnavailable."""
        batch = await self._owned(batch_id, tenant_id, may_erase)
        await self._erase(batch)
        return batch

    async def delete_essay(
        self, batch_id: str, essay_id: str, *, tenant_id: str, may_erase: MayErase
    ) -> BatchRecord:
        """Erase one essay of the tenant's batch; its slot stays, marked ERASED."""
        batch = await self._owned(batch_id, tenant_id, may_erase)
        if essay_id not in batch.essay_ids:
            raise BatchNotFound(
                batch.batch_id, f"batch {batch.batch_id} has no essay {shown(essay_id)}"
            )
        await self._publish(batch, [essay_id])
        await self._repository.update(batch.batch_id, lambda doc: essay_erased(doc, essay_id))
        log.info("essay erasure ordered", extra={"batch_id": batch.batch_id, "essay_id": essay_id})
        return batch

    async def erase_expired(self, retention: timedelta) -> int:
        """Erase every batch registered more than `retention` ago; how many."""
        cutoff = self._clock() - retention
        erased = 0
        for batch_id in await self._repository.registered_before(
            int(cutoff.timestamp() * 1_000_000)
        ):
            batch = await self._repository.get(batch_id)
            if batch is not None and not batch.HasField("erased_at"):
                await self._erase(batch)
                erased += 1
        if erased:
            log.info("batches past their retention erased", extra={"batches": erased})
        return erased

    async def _erase(self, batch: BatchRecord) -> None:
        await self._publish(batch, [])
        await self._repository.erase(batch.batch_id, tombstone(batch, self._clock()))
        log.info("batch erased", extra={"batch_id": batch.batch_id})

    async def _publish(self, batch: BatchRecord, essay_ids: list[str]) -> None:
        event = events_pb2.BatchErasureRequested(
            batch_id=batch.batch_id, tenant_id=batch.tenant_id, essay_ids=essay_ids
        )
        event.metadata.CopyFrom(
            new_metadata(
                PRODUCER,
                correlation_id=batch.correlation_id or batch.batch_id,
                event_id=erasure_event_id(batch.batch_id, *essay_ids),
            )
        )
        await self._publisher.publish(event)
