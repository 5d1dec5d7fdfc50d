"""The event handlers against fakes of the ports: idempotence, deadlines, edge translation."""

from __future__ import annotations

import logging

import pytest

from huleedu.events.v1 import events_pb2
from services.essay_lifecycle.domain.ports import EssayRecord
from services.essay_lifecycle.entrypoints.event_handlers import EssayLifecycleHandlers
from services.mesh.consumer import PermanentError
from tests.harness.coordination_events import (
    essay_requests,
    group_completed,
    new_batch,
    provisioned,
    registered,
    spellcheck_command,
    spellcheck_completed,
)
from tests.unit.essay_lifecycle.support import (
    RULES,
    FakeContents,
    FakeDeadlines,
    FakeEssays,
    FakePublisher,
    FakeTrackers,
)


@pytest.fixture
def world() -> tuple[EssayLifecycleHandlers, FakePublisher, FakeDeadlines, FakeEssays]:
    publisher, deadlines, essays = FakePublisher(), FakeDeadlines(), FakeEssays()
    handlers = EssayLifecycleHandlers(
        FakeTrackers(), essays, publisher, deadlines, FakeContents(), rules=RULES
    )
    return handlers, publisher, deadlines, essays


async def test_full_flow_and_every_redelivery_republishes_the_same_ids(
    world: tuple[EssayLifecycleHandlers, FakePublisher, FakeDeadlines, FakeEssays],
) -> None:
    handlers, publisher, deadlines, essays = world
    batch_id, essay_ids = new_batch(2)
    registration = registered(batch_id, essay_ids)
    uploads = [provisioned(batch_id, "a.txt"), provisioned(batch_id, "b.txt")]
    for event in [registration, registration, *uploads, uploads[1]]:
        await (
            handlers.on_batch_registered(event)
            if isinstance(event, events_pb2.BatchEssaysRegistered)
            else handlers.on_upload(event)
        )
    assert len(deadlines.scheduled) == 2  # first delivery and redelivery: one schedule id
    assert len({e.metadata.event_id for e, _ in deadlines.scheduled}) == 1
    assert set(essays.records) == set(essay_ids)
    ready = publisher.of_type(events_pb2.BatchEssaysReady)
    assert len(ready) == 2 and ready[0].metadata.event_id == ready[1].metadata.event_id

    command = spellcheck_command(ready[0])
    await handlers.on_spellcheck_command(command)
    await handlers.on_spellcheck_command(command)
    groups = publisher.of_type(events_pb2.SpellcheckGroupRequested)
    assert len(groups) == 2 and groups[0].metadata.event_id == groups[1].metadata.event_id
    requests = essay_requests(groups[:1])
    assert {r.essay_id for r in requests} == set(essay_ids)

    # One essay's result in a partial group, then the whole group twice (redelivered).
    results = [spellcheck_completed(request) for request in requests]
    partial = group_completed(groups[0], results[:1])
    whole = group_completed(groups[0], results)
    for event in (partial, whole, whole):
        await handlers.on_spellcheck_group_completed(event)
    outcomes = publisher.of_type(events_pb2.ELSBatchPhaseOutcome)
    assert len(outcomes) == 2 and outcomes[0].metadata.event_id == outcomes[1].metadata.event_id
    # The essay's record is the index to its batch, nothing more: no essay words.
    assert essays.records[essay_ids[0]] == EssayRecord(batch_id=batch_id)

    # After the phase, a redelivered command re-sends nothing: no essay awaits a result.
    published = len(publisher.published)
    await handlers.on_spellcheck_command(command)
    assert len(publisher.published) == published


async def test_a_batch_closed_at_registration_schedules_no_deadline(
    world: tuple[EssayLifecycleHandlers, FakePublisher, FakeDeadlines, FakeEssays],
) -> None:
    handlers, publisher, deadlines, _ = world
    batch_id, essay_ids = new_batch(1)
    await handlers.on_upload(provisioned(batch_id, "early.txt"))
    assert publisher.published == []
    await handlers.on_batch_registered(registered(batch_id, essay_ids))
    assert deadlines.scheduled == []
    assert len(publisher.of_type(events_pb2.BatchEssaysReady)) == 1


async def test_a_command_for_an_unknown_batch_is_a_permanent_error(
    world: tuple[EssayLifecycleHandlers, FakePublisher, FakeDeadlines, FakeEssays],
) -> None:
    handlers, _, _, _ = world
    batch_id, _ = new_batch(1)
    ready = events_pb2.BatchEssaysReady(batch_id=batch_id)
    ready.metadata.event_id = "x"
    run = handlers.handlers()[events_pb2.BatchSpellcheckInitiateCommand]
    with pytest.raises(PermanentError, match="not registered"):
        await run(spellcheck_command(ready), None)  # type: ignore[arg-type]


async def test_a_refused_transition_is_logged_and_not_applied(
    world: tuple[EssayLifecycleHandlers, FakePublisher, FakeDeadlines, FakeEssays],
    caplog: pytest.LogCaptureFixture,
) -> None:
    handlers, publisher, _, _ = world
    batch_id, essay_ids = new_batch(1)
    await handlers.on_batch_registered(registered(batch_id, essay_ids))
    await handlers.on_upload(provisioned(batch_id, "a.txt"))
    request = events_pb2.EssayLifecycleSpellcheckRequest(batch_id=batch_id, essay_id=essay_ids[0])
    request.metadata.event_id = "never-sent"
    with caplog.at_level(logging.WARNING):
        await handlers.on_spellcheck_completed(spellcheck_completed(request))
    assert "READY_FOR_PROCESSING -> ESSAY_STATUS_SPELLCHECKED_SUCCESS" in caplog.text
    assert publisher.of_type(events_pb2.ELSBatchPhaseOutcome) == []
