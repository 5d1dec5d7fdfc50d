"""The events BOS publishes, with deterministic ids so that a re-publish is a duplicate."""

from __future__ import annotations

from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain import events
from services.batch_orchestrator.domain.ports import EventPublisher
from services.mesh.event_ids import derived_event_id, new_metadata

PRODUCER = "batch_orchestrator"


def registered_event_id(batch_id: str) -> str:
    """The event id of a batch's BatchEssaysRegistered."""
    return derived_event_id(batch_id, "essays_registered")


def spellcheck_command_id(batch_id: str) -> str:
    """The event id of a batch's BatchSpellcheckInitiateCommand."""
    return derived_event_id(batch_id, "spellcheck_initiate")


async def publish_registered(publisher: EventPublisher, batch: BatchRecord) -> None:
    """Announce the batch and its slots."""
    event = events.essays_registered(batch)
    event.metadata.CopyFrom(
        new_metadata(
            PRODUCER,
            correlation_id=batch.correlation_id,
            event_id=registered_event_id(batch.batch_id),
        )
    )
    await publisher.publish(event)


async def publish_spellcheck_command(
    publisher: EventPublisher, batch: BatchRecord, *, causation_id: str
) -> None:
    """Order ELS to spell-check the batch's ready essays."""
    command = events.spellcheck_initiate(batch)
    command.metadata.CopyFrom(
        new_metadata(
            PRODUCER,
            correlation_id=batch.correlation_id,
            causation_id=causation_id,
            event_id=spellcheck_command_id(batch.batch_id),
        )
    )
    await publisher.publish(command)
