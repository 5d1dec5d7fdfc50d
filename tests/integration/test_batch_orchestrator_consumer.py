"""The `bos` consumer against BOS and a real nats-server, driven by the events ELS publishes:
readiness starts the spell-check phase with one command, a readiness timeout or a phase outcome
ends the batch, excess content is recorded, redelivered events change nothing, and events for an
unknown batch go to the DLQ."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from huleedu.batch.v1 import batch_service_pb2 as pb
from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.batch_orchestrator.domain.publishing import spellcheck_command_id
from services.mesh import subjects
from services.mesh.streams import DLQ_STREAM, EVENTS_STREAM
from tests.integration.test_batch_orchestrator_support import (
    Bos,
    Status,
    meta,
    outcome_event,
    ready_event,
    stored,
)
from tests.support import wait_until


async def commands_for(bos: Bos, batch_id: str) -> list[events_pb2.BatchSpellcheckInitiateCommand]:
    found = await stored(
        bos.js,
        EVENTS_STREAM,
        subjects.BATCH_SPELLCHECK_INITIATE,
        events_pb2.BatchSpellcheckInitiateCommand,
        batch_id,
    )
    return [event for _, event in found]


async def spellchecking(bos: Bos, count: int = 3, **fields: Any) -> pb.RegisterBatchResponse:
    """A registered batch whose essays all became ready, now SPELLCHECKING."""
    reg = await bos.register(count)
    await bos.emit(ready_event(reg, list(reg.essay_ids), **fields))
    await bos.wait_status(reg.batch_id, Status.Value("BATCH_STATUS_SPELLCHECKING"))
    return reg


async def test_ready_sends_one_command_with_the_ready_essays_even_when_redelivered(
    bos: Bos,
) -> None:
    reg = await bos.register(3)
    ready_ids = list(reg.essay_ids[:2])
    event = ready_event(reg, ready_ids, failures=1)
    await bos.emit(event)
    batch = await bos.wait_status(reg.batch_id, Status.Value("BATCH_STATUS_SPELLCHECKING"))

    [command] = await wait_until(lambda: commands_for(bos, reg.batch_id), message="command")
    assert [e.essay_id for e in command.essays] == ready_ids
    assert [e.text_storage_id for e in command.essays] == [f"text-{i}" for i in ready_ids]
    assert command.language == "en"
    assert command.metadata.event_id == spellcheck_command_id(reg.batch_id)
    assert command.metadata.correlation_id == reg.correlation_id
    assert (batch.counts.assigned, batch.counts.failed_validation) == (2, 1)
    assert batch.validation_failures[0].original_file_name == "bad-0.pdf"

    # The same event redelivered, and the same content under a fresh event id.
    again = events_pb2.BatchEssaysReady()
    again.CopyFrom(event)
    again.metadata.event_id = str(uuid.uuid4())
    await bos.emit(event, redelivery=True)
    await bos.handled(await bos.emit(again))

    assert len(await commands_for(bos, reg.batch_id)) == 1
    after = await bos.batch(reg.batch_id)
    assert after.counts == batch.counts
    assert after.status == batch.status
    assert list(after.ready_essays) == list(batch.ready_essays)


async def test_ready_with_no_essay_fails_without_a_command(bos: Bos) -> None:
    reg = await bos.register(2)
    await bos.handled(await bos.emit(ready_event(reg, [], failures=2)))
    batch = await bos.batch(reg.batch_id)
    assert batch.status == Status.Value("BATCH_STATUS_FAILED")
    assert "no essay could be processed" in batch.failure_reason
    assert batch.counts.failed_validation == 2
    assert await commands_for(bos, reg.batch_id) == []


async def test_readiness_timed_out_fails_the_batch(bos: Bos) -> None:
    reg = await bos.register(4, readiness=common_pb2.ReadinessConfig(partial_batch_threshold=0.75))
    await bos.emit(
        events_pb2.BatchReadinessTimedOut(
            metadata=meta(reg.correlation_id),
            batch_id=reg.batch_id,
            assigned=1,
            failed=1,
            expected=4,
        )
    )
    batch = await bos.wait_status(reg.batch_id, Status.Value("BATCH_STATUS_FAILED"))
    assert "readiness deadline passed with 1 of 4 essays uploaded" in batch.failure_reason
    assert "needs 3 uploaded" in batch.failure_reason
    assert batch.HasField("completed_at")


async def test_excess_content_is_recorded_once(bos: Bos) -> None:
    reg = await bos.register(1)
    event = events_pb2.ExcessContentProvisioned(
        metadata=meta(reg.correlation_id),
        batch_id=reg.batch_id,
        text_storage_id="text-extra",
        original_file_name="extra.docx",
        reason=common_pb2.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT,
        file_upload_id="upload-extra",
    )
    fresh = events_pb2.ExcessContentProvisioned()
    fresh.CopyFrom(event)
    fresh.metadata.event_id = str(uuid.uuid4())
    await bos.emit(event)
    await bos.emit(event, redelivery=True)
    await bos.handled(await bos.emit(fresh))
    batch = await bos.batch(reg.batch_id)
    assert batch.counts.excess == 1
    [item] = batch.excess_content
    assert (item.original_file_name, item.reason) == (
        "extra.docx",
        common_pb2.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT,
    )
    assert batch.status == Status.Value("BATCH_STATUS_AWAITING_CONTENT")


@pytest.mark.parametrize(
    ("ready_fields", "processed", "status"),
    [
        ({}, 3, "COMPLETED"),
        ({}, 2, "COMPLETED_WITH_FAILURES"),
        ({"failures": 1}, 3, "COMPLETED_WITH_FAILURES"),
        ({"missing_count": 1, "partial": True}, 3, "COMPLETED_WITH_FAILURES"),
        ({}, 0, "FAILED"),
    ],
)
async def test_phase_outcome_ends_the_batch(
    bos: Bos, ready_fields: dict[str, Any], processed: int, status: str
) -> None:
    reg = await spellchecking(bos, 3, **ready_fields)
    essays = list(reg.essay_ids)
    event = outcome_event(reg, essays[:processed], essays[processed:])
    await bos.emit(event)
    batch = await bos.wait_status(reg.batch_id, Status.Value(f"BATCH_STATUS_{status}"))
    assert batch.counts.spellchecked == processed
    assert batch.counts.spellcheck_failed == 3 - processed
    assert list(batch.failed_essay_ids) == essays[processed:]
    [phase] = batch.phase_states
    assert [e.essay_id for e in phase.processed_essays] == essays[:processed]
    assert phase.HasField("started_at") and phase.HasField("finished_at")
    assert batch.partial == bool(ready_fields.get("partial"))

    await bos.handled(await bos.emit(event, redelivery=True))  # nothing changes
    assert await bos.batch(reg.batch_id) == batch


async def test_events_for_an_unknown_batch_go_to_the_dlq(bos: Bos) -> None:
    batch_id = str(uuid.uuid4())
    await bos.emit(
        events_pb2.BatchReadinessTimedOut(metadata=meta(), batch_id=batch_id, expected=1)
    )

    async def dead_lettered() -> list[Any]:
        return await stored(
            bos.js,
            DLQ_STREAM,
            subjects.dlq_subject(subjects.BATCH_READINESS_TIMED_OUT),
            events_pb2.BatchReadinessTimedOut,
            batch_id,
        )

    [(headers, _)] = await wait_until(dead_lettered, timeout_s=10, message="DLQ copy")
    assert "no batch with batch_id" in headers["Huleedu-Dlq-Reason"]
