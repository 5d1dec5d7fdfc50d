"""The events BOS derives from a batch, without metadata (the use cases add it)."""

from __future__ import annotations

from huleedu.events.v1 import events_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord


def essays_registered(batch: BatchRecord) -> events_pb2.BatchEssaysRegistered:
    """BatchEssaysRegistered: the slots and the resolved readiness configuration."""
    event = events_pb2.BatchEssaysRegistered(
        batch_id=batch.batch_id,
        essay_ids=list(batch.essay_ids),
        expected_essay_count=batch.counts.expected,
        course_code=batch.course_code,
        language=batch.language,
        readiness=batch.readiness,
        phases=list(batch.phases),
        tenant_id=batch.tenant_id,
    )
    event.deadline.CopyFrom(batch.deadline)
    return event


def spellcheck_initiate(batch: BatchRecord) -> events_pb2.BatchSpellcheckInitiateCommand:
    """BatchSpellcheckInitiateCommand for the batch's ready essays."""
    return events_pb2.BatchSpellcheckInitiateCommand(
        batch_id=batch.batch_id,
        essays=list(batch.ready_essays),
        language=batch.language,
    )
