"""Registration, announcement, event handling and queries against in-memory fakes."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.batch_orchestrator.domain import batch as lifecycle
from services.batch_orchestrator.domain.errors import (
    BackendUnavailable,
    BatchNotFound,
    ContractViolation,
    InvalidRequest,
    PhaseNotStarted,
    RequestIdReused,
)
from services.batch_orchestrator.domain.progress import BatchProgress
from services.batch_orchestrator.domain.publishing import (
    registered_event_id,
    spellcheck_command_id,
)
from services.batch_orchestrator.domain.queries import BatchQueries
from services.batch_orchestrator.domain.registrar import BatchRegistrar
from services.batch_orchestrator.domain.registration import BatchRequest, RegistrationPolicy
from tests.unit.batch_orchestrator.fakes import FakeClock, FakePublisher, FakeRepository

SPELLCHECK = common_pb2.PHASE_SPELLCHECK


class World:
    def __init__(self) -> None:
        self.clock = FakeClock()
        self.repository = FakeRepository()
        self.publisher = FakePublisher(self.repository)
        self.registrar = BatchRegistrar(
            self.repository, self.publisher, RegistrationPolicy(), clock=self.clock
        )
        self.handlers = BatchProgress(self.repository, self.publisher, self.clock)
        self.queries = BatchQueries(self.repository)

    async def register(self, count: int = 3) -> str:
        batch = await self.registrar.register(
            BatchRequest(expected_essay_count=count, course_code="ENG5", language="en")
        )
        return batch.batch_id

    async def ready(self, batch_id: str, ids: list[str], event_id: str = "ready-1") -> None:
        await self.handlers.essays_ready(
            batch_id,
            event_id=event_id,
            ready_essays=[common_pb2.EssayRef(essay_id=i, text_storage_id=f"t-{i}") for i in ids],
            validation_failures=[],
            missing_count=0,
            partial=False,
        )

    def slots(self, batch_id: str) -> list[str]:
        return list(self.repository.batches[batch_id].essay_ids)

    def status(self, batch_id: str) -> str:
        return lifecycle.status_name(self.repository.batches[batch_id].status)


async def test_register_stores_before_it_announces() -> None:
    world = World()
    batch_id = await world.register(count=4)

    [event] = world.publisher.of_type(events_pb2.BatchEssaysRegistered)
    assert isinstance(event, events_pb2.BatchEssaysRegistered)
    assert world.publisher.seen_stored == [True]
    assert event.metadata.event_id == registered_event_id(batch_id)
    assert list(event.essay_ids) == world.slots(batch_id)
    assert len(set(event.essay_ids)) == 4
    assert event.readiness.timeout_seconds == 600
    assert event.readiness.partial_batch_threshold == 1.0
    assert event.metadata.correlation_id == world.repository.batches[batch_id].correlation_id
    assert world.repository.unannounced_ages == {}


async def test_a_failed_announcement_is_retried_by_the_announcer() -> None:
    world = World()
    world.publisher.failures = 1
    with pytest.raises(BackendUnavailable, match="stored but not yet announced"):
        await world.register()
    [batch_id] = world.repository.batches

    assert await world.registrar.announce_pending() == 0  # too young: its RPC may still publish
    world.repository.unannounced_ages[batch_id] = 30.0
    assert await world.registrar.announce_pending() == 1

    [event] = world.publisher.of_type(events_pb2.BatchEssaysRegistered)
    assert event.metadata.event_id == registered_event_id(batch_id)
    assert world.repository.unannounced_ages == {}


async def test_abandoned_marks_without_a_batch_are_dropped() -> None:
    world = World()
    world.repository.unannounced_ages["gone"] = 120.0
    assert await world.registrar.announce_pending() == 0
    assert world.repository.unannounced_ages == {}
    assert world.publisher.events == []


async def test_a_repeated_request_id_returns_the_first_batch_and_announces_it_once() -> None:
    world = World()
    request = BatchRequest(
        expected_essay_count=3, course_code="ENG5", language="en", request_id="r1"
    )
    first = await world.registrar.register(request)
    world.clock.now += timedelta(minutes=5)
    again = await world.registrar.register(request)

    assert again == first
    assert list(world.repository.batches) == [first.batch_id]
    assert len(world.publisher.of_type(events_pb2.BatchEssaysRegistered)) == 1
    other = await world.registrar.register(replace(request, request_id="r2"))
    assert other.batch_id != first.batch_id


async def test_a_request_id_with_other_fields_is_refused() -> None:
    world = World()
    request = BatchRequest(
        expected_essay_count=3, course_code="ENG5", language="en", request_id="r1"
    )
    first = await world.registrar.register(request)
    with pytest.raises(RequestIdReused, match="expected_essay_count was 3, now 4") as refused:
        await world.registrar.register(replace(request, expected_essay_count=4))
    assert refused.value.batch_id == first.batch_id
    assert "request_id" in str(refused.value)
    assert list(world.repository.batches) == [first.batch_id]


async def test_a_retry_of_a_registration_left_unannounced_announces_it() -> None:
    world = World()
    request = BatchRequest(
        expected_essay_count=2, course_code="ENG5", language="en", request_id="r1"
    )
    world.publisher.failures = 1
    with pytest.raises(BackendUnavailable, match="same request_id"):
        await world.registrar.register(request)
    [stored] = world.repository.batches.values()

    batch = await world.registrar.register(request)
    assert batch == stored
    [event] = world.publisher.of_type(events_pb2.BatchEssaysRegistered)
    assert event.metadata.event_id == registered_event_id(batch.batch_id)
    assert world.repository.unannounced_ages == {}


async def test_invalid_requests_store_nothing() -> None:
    world = World()
    with pytest.raises(InvalidRequest):
        await world.registrar.register(
            BatchRequest(expected_essay_count=0, course_code="ENG5", language="en")
        )
    assert world.repository.batches == {}


async def test_ready_sends_the_command_and_starts_spellchecking() -> None:
    world = World()
    batch_id = await world.register()
    slots = world.slots(batch_id)
    await world.ready(batch_id, slots[:2])

    [command] = world.publisher.of_type(events_pb2.BatchSpellcheckInitiateCommand)
    assert isinstance(command, events_pb2.BatchSpellcheckInitiateCommand)
    assert [e.essay_id for e in command.essays] == slots[:2]
    assert command.language == "en"
    assert command.metadata.event_id == spellcheck_command_id(batch_id)
    assert command.metadata.causation_id == "ready-1"
    assert world.status(batch_id) == "SPELLCHECKING"


async def test_redelivered_ready_republishes_the_same_command_and_changes_nothing() -> None:
    world = World()
    batch_id = await world.register()
    await world.ready(batch_id, world.slots(batch_id))
    before = world.repository.batches[batch_id].SerializeToString()

    await world.ready(batch_id, world.slots(batch_id)[:1], event_id="ready-2")

    commands = world.publisher.of_type(events_pb2.BatchSpellcheckInitiateCommand)
    assert len(commands) == 2
    assert {c.metadata.event_id for c in commands} == {spellcheck_command_id(batch_id)}
    assert [len(c.essays) for c in commands] == [3, 3]
    assert world.repository.batches[batch_id].SerializeToString() == before


async def test_ready_that_crashed_before_spellchecking_resumes() -> None:
    world = World()
    batch_id = await world.register()
    world.publisher.failures = 1
    with pytest.raises(BackendUnavailable):
        await world.ready(batch_id, world.slots(batch_id))
    assert world.status(batch_id) == "READY"

    await world.ready(batch_id, world.slots(batch_id))
    assert world.status(batch_id) == "SPELLCHECKING"
    assert len(world.publisher.of_type(events_pb2.BatchSpellcheckInitiateCommand)) == 1


async def test_ready_with_no_essay_fails_without_a_command() -> None:
    world = World()
    batch_id = await world.register()
    await world.ready(batch_id, [])
    assert world.status(batch_id) == "FAILED"
    assert world.publisher.of_type(events_pb2.BatchSpellcheckInitiateCommand) == []


async def test_events_for_unknown_batches_raise_not_found() -> None:
    world = World()
    with pytest.raises(BatchNotFound):
        await world.ready("nobody", ["e1"])
    with pytest.raises(BatchNotFound):
        await world.handlers.phase_outcome("nobody", phase=SPELLCHECK, processed_essays=[])


async def test_an_outcome_that_overtakes_our_spellchecking_write_still_shows_every_state() -> None:
    world = World()
    batch_id = await world.register(count=1)
    slots = world.slots(batch_id)
    await world.repository.update(
        batch_id,
        lambda b: lifecycle.record_ready(
            b,
            ready_essays=[common_pb2.EssayRef(essay_id=slots[0])],
            validation_failures=[],
            missing_count=0,
            partial=False,
            now=world.clock(),
        ),
    )
    done = await world.handlers.phase_outcome(
        batch_id, phase=SPELLCHECK, processed_essays=[common_pb2.EssayRef(essay_id=slots[0])]
    )
    assert lifecycle.status_name(done.status) == "COMPLETED"
    state = lifecycle.phase_state(done, SPELLCHECK)
    assert state is not None and state.HasField("started_at")


async def test_an_outcome_before_ready_is_retried_and_a_foreign_phase_is_refused() -> None:
    world = World()
    batch_id = await world.register()
    with pytest.raises(PhaseNotStarted):
        await world.handlers.phase_outcome(batch_id, phase=SPELLCHECK, processed_essays=[])
    with pytest.raises(ContractViolation):
        await world.handlers.phase_outcome(
            batch_id, phase=common_pb2.PHASE_UNSPECIFIED, processed_essays=[]
        )


async def test_queries_validate_ids_and_pages() -> None:
    world = World()
    with pytest.raises(InvalidRequest, match="batch_id"):
        await world.queries.get("not-a-uuid", "")
    with pytest.raises(BatchNotFound):
        await world.queries.get("0b8e7c1e-4f6a-4d3b-9a52-3c2f1d0e9b8a", "")
    with pytest.raises(InvalidRequest, match="page_size"):
        await world.queries.list(tenant_id="", requested_page_size=500, page_token="")
    with pytest.raises(InvalidRequest, match="page_token"):
        await world.queries.list(tenant_id="", requested_page_size=0, page_token="junk")
