"""RegisterBatch with a request_id (AIP-155) against BOS and a real nats-server: a repeated or
concurrent request registers and announces one batch and answers with it, the same request_id
with other fields is ALREADY_EXISTS, and a retry finishes a registration cut off after any write."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import grpc
import pytest
from nats.js.errors import KeyNotFoundError

from huleedu.batch.v1 import batch_service_pb2 as pb
from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.batch_orchestrator.adapters.kv_batches import BUCKET, UNANNOUNCED_PREFIX, index_key
from services.batch_orchestrator.bootstrap import utc_now
from services.batch_orchestrator.domain.publishing import (
    PRODUCER,
    publish_registered,
    registered_event_id,
)
from services.batch_orchestrator.domain.registration import (
    ids_for_request,
    new_batch,
    validate_registration,
)
from services.batch_orchestrator.entrypoints.grpc_servicer import batch_request
from services.mesh import subjects
from services.mesh.auth import LOCAL_CALLER
from services.mesh.publisher import HEADER_MSG_ID, EventPublisher
from services.mesh.settings import NatsSettings
from services.mesh.streams import EVENTS_STREAM, ensure_kv
from tests.integration.test_batch_orchestrator_support import POLICY, Bos, stored
from tests.support import unique


def keyed(count: int = 3, **fields: Any) -> pb.RegisterBatchRequest:
    """A RegisterBatch request with a fresh request_id and course code, to send more than once."""
    return pb.RegisterBatchRequest(
        expected_essay_count=count,
        course_code=unique("ENG"),
        language="en",
        request_id=str(uuid.uuid4()),
        **fields,
    )


async def listed(bos: Bos, course_code: str) -> list[str]:
    """The ids of every batch ListBatches shows with this course code, over all pages."""
    found: list[str] = []
    token = ""
    while True:
        page = await bos.stub.ListBatches(
            pb.ListBatchesRequest(page_size=100, page_token=token), timeout=10
        )
        found.extend(b.batch_id for b in page.batches if b.course_code == course_code)
        token = page.next_page_token
        if not token:
            return found


async def announcements(
    bos: Bos, batch_id: str
) -> list[tuple[dict[str, str], events_pb2.BatchEssaysRegistered]]:
    return await stored(
        bos.js,
        EVENTS_STREAM,
        subjects.BATCH_ESSAYS_REGISTERED,
        events_pb2.BatchEssaysRegistered,
        batch_id,
    )


async def test_a_repeated_request_id_returns_the_first_batch_and_registers_nothing(
    bos: Bos,
) -> None:
    request = keyed(3, title="Essays")
    first = await bos.stub.RegisterBatch(request, timeout=10)
    again = await bos.stub.RegisterBatch(request, timeout=10)
    # The same registration with the defaults spelled out is the same request.
    explicit = pb.RegisterBatchRequest()
    explicit.CopyFrom(request)
    explicit.phases.append(common_pb2.PHASE_SPELLCHECK)
    explicit.readiness.CopyFrom(
        common_pb2.ReadinessConfig(timeout_seconds=600, partial_batch_threshold=1.0)
    )
    spelled_out = await bos.stub.RegisterBatch(explicit, timeout=10)

    assert again == first and spelled_out == first
    assert len(set(first.essay_ids)) == 3
    assert first.batch_id == ids_for_request(request.request_id, 3).batch_id
    batch = await bos.batch(first.batch_id)
    assert (list(batch.essay_ids), batch.correlation_id) == (
        list(first.essay_ids),
        first.correlation_id,
    )
    assert await listed(bos, request.course_code) == [first.batch_id]
    [(headers, event)] = await announcements(bos, first.batch_id)
    assert headers[HEADER_MSG_ID] == registered_event_id(first.batch_id)
    assert list(event.essay_ids) == list(first.essay_ids)


async def test_concurrent_calls_with_one_request_id_register_one_batch(bos: Bos) -> None:
    request = keyed(5)
    answers = await asyncio.gather(
        *(bos.stub.RegisterBatch(request, timeout=10) for _ in range(10))
    )
    assert all(answer == answers[0] for answer in answers)
    assert await listed(bos, request.course_code) == [answers[0].batch_id]
    assert len(await announcements(bos, answers[0].batch_id)) == 1


async def test_a_request_id_sent_again_with_other_fields_is_already_exists(bos: Bos) -> None:
    request = keyed(3)
    first = await bos.stub.RegisterBatch(request, timeout=10)
    changed = pb.RegisterBatchRequest()
    changed.CopyFrom(request)
    changed.expected_essay_count = 4
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await bos.stub.RegisterBatch(changed, timeout=10)
    assert raised.value.code() == grpc.StatusCode.ALREADY_EXISTS
    details = raised.value.details() or ""
    assert details.startswith(f"request_id was already used to register batch {first.batch_id}")
    assert "expected_essay_count was 3, now 4" in details
    assert await listed(bos, request.course_code) == [first.batch_id]
    assert (await bos.batch(first.batch_id)).counts.expected == 3


@pytest.mark.parametrize("written", ["mark", "document", "index key", "announcement"])
async def test_a_retry_finishes_a_registration_cut_off_after_any_write(
    bos: Bos, nats_settings: NatsSettings, written: str
) -> None:
    """The first call wrote KvBatchRepository.add's keys up to `written` (then published the
    announcement, for "announcement") and died; its client asks again with the same request."""
    request = keyed(2)
    ids = ids_for_request(request.request_id, 2)
    first = new_batch(
        validate_registration(batch_request(request, LOCAL_CALLER), POLICY),
        batch_id=ids.batch_id,
        essay_ids=ids.essay_ids,
        correlation_id=ids.correlation_id,
        now=utc_now(),
    )
    kv = await ensure_kv(bos.js, BUCKET, nats_settings)
    mark = f"{UNANNOUNCED_PREFIX}{first.batch_id}"
    await kv.put(mark, b"")
    if written != "mark":
        await kv.create(first.batch_id, first.SerializeToString(deterministic=True))
    if written in ("index key", "announcement"):
        await kv.create(index_key(first), b"")
    if written == "announcement":
        await publish_registered(EventPublisher(bos.js, PRODUCER), first)

    reply = await bos.stub.RegisterBatch(request, timeout=10)

    assert (reply.batch_id, list(reply.essay_ids), reply.correlation_id) == (
        first.batch_id,
        list(first.essay_ids),
        first.correlation_id,
    )
    batch = await bos.batch(first.batch_id)
    if written != "mark":
        assert batch.created_at == first.created_at  # the stored batch, not a new one
    assert await listed(bos, request.course_code) == [first.batch_id]
    [(headers, event)] = await announcements(bos, first.batch_id)
    assert headers[HEADER_MSG_ID] == registered_event_id(first.batch_id)
    assert list(event.essay_ids) == list(first.essay_ids)
    with pytest.raises(KeyNotFoundError):
        await kv.get(mark)
