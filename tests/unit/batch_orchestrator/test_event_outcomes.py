"""What the `bos` consumer is told when a use case fails: a store that did not answer is waited
for (no delivery counted), a batch not known yet is redelivered, a broken event is dead-lettered."""

from __future__ import annotations

from typing import Any, cast

import pytest

from huleedu.events.v1 import events_pb2
from services.batch_orchestrator.domain.errors import (
    BackendUnavailable,
    BatchNotFound,
    ContractViolation,
)
from services.batch_orchestrator.domain.progress import BatchProgress
from services.batch_orchestrator.entrypoints.event_handlers import BosEventHandlers
from services.mesh.consumer import Delivery, PermanentError, TransientError
from services.mesh.outage import DependencyUnavailable, is_unavailable

BATCH_ID = "0b9f3c2e-8d7a-4f51-9c3e-2a1b0c9d8e7f"


class Failing:
    """Use cases whose essays_ready raises `error`."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def essays_ready(self, *args: Any, **kwargs: Any) -> None:
        raise self.error


def delivery() -> Delivery:
    return Delivery(
        subject="huleedu.els.batch_essays_ready.v1",
        num_delivered=1,
        max_deliver=5,
        stream_seq=1,
        headers={},
        msg=cast(Any, None),
    )


async def outcome_of(error: Exception) -> Exception:
    use_cases = cast(BatchProgress, Failing(error))
    handler = BosEventHandlers(use_cases, unknown_batch_retry_s=0.5).handlers()[
        events_pb2.BatchEssaysReady
    ]
    with pytest.raises(Exception) as raised:
        await handler(events_pb2.BatchEssaysReady(batch_id=BATCH_ID), delivery())
    return raised.value


async def test_a_store_that_does_not_answer_is_a_dependency_failure() -> None:
    failure = await outcome_of(BackendUnavailable("KV bos_batches did not answer"))
    assert isinstance(failure, DependencyUnavailable) and is_unavailable(failure)


async def test_a_batch_not_known_yet_is_redelivered_counting_a_delivery() -> None:
    failure = await outcome_of(BatchNotFound(f"no batch {BATCH_ID}"))
    assert isinstance(failure, TransientError) and failure.delay_s == 0.5
    assert not is_unavailable(failure)


async def test_a_broken_event_is_dead_lettered() -> None:
    failure = await outcome_of(ContractViolation("ready essays outside the batch"))
    assert isinstance(failure, PermanentError)
