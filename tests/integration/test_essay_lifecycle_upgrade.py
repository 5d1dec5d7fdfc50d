"""A batch in flight during an upgrade: its tracker, stored by the previous version (slots that
repeat the batch id, the SHA-256 map, a phase without its terminal count), is carried on by two
ELS instances of this version, each result redelivered: one phase outcome, every essay once, and
duplicate content still refused."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.content_service.bootstrap import ContentService
from services.essay_lifecycle.adapters.kv_store import BATCHES_BUCKET, KvTrackerRepository
from services.essay_lifecycle.bootstrap import CONSUMER_DURABLE, PROGRAM, EssayLifecycleApp
from services.essay_lifecycle.domain.tracker import BatchTracker
from services.mesh.publisher import HEADER_MSG_ID, EventPublisher
from services.mesh.settings import NatsSettings
from services.mesh.streams import EVENTS_STREAM
from tests.harness.coordination_events import (
    essay_requests,
    new_batch,
    provisioned,
    registered,
    spellcheck_command,
    spellcheck_completed,
)
from tests.harness.coordination_harness import EventTap
from tests.integration.test_hostile_grpc_support import els_settings
from tests.support import wait_until

NatsJs = tuple[Client, JetStreamContext]
SPELLCHECK = common_pb2.Phase.PHASE_SPELLCHECK


@pytest.fixture
async def two_els(
    nats_settings: NatsSettings, content: ContentService
) -> AsyncIterator[list[EssayLifecycleApp]]:
    """Two instances on the one durable consumer."""
    apps = [await PROGRAM.start(els_settings(nats_settings, content.port)) for _ in range(2)]
    yield apps
    for app in apps:
        await app.stop()


def as_the_previous_version_stored(tracker: BatchTracker | None) -> BatchTracker | None:
    """The tracker as the version before this one wrote it."""
    assert tracker is not None
    for slot in tracker.slots:
        slot.essay.batch_id = tracker.batch_id
        if slot.essay.content_sha256:
            tracker.essay_id_by_sha256[slot.essay.content_sha256] = slot.essay.essay_id
    for progress in tracker.phases:
        progress.ClearField("terminal_essays")
    return tracker


async def els_idle(js: JetStreamContext) -> bool:
    info = await js.consumer_info(EVENTS_STREAM, CONSUMER_DURABLE)
    return info.num_pending == 0 and info.num_ack_pending == 0


async def test_a_tracker_stored_by_the_previous_version_finishes_its_phase_once(
    two_els: list[EssayLifecycleApp], nats_js: NatsJs, tap: EventTap
) -> None:
    js = nats_js[1]
    publisher = EventPublisher(js, "test")
    batch_id, essay_ids = new_batch(6)
    await publisher.publish(registered(batch_id, essay_ids))
    uploads = [provisioned(batch_id, f"essay{i}.txt") for i in range(6)]
    await asyncio.gather(*(publisher.publish(upload) for upload in uploads))
    ready = await wait_until(
        lambda: tap.of(events_pb2.BatchEssaysReady, {batch_id}), message="BatchEssaysReady"
    )
    await publisher.publish(spellcheck_command(ready[0]))
    requests = await wait_until(
        lambda: (
            len(essay_requests(tap.of(events_pb2.SpellcheckGroupRequested, {batch_id}))) >= 6
            and essay_requests(tap.of(events_pb2.SpellcheckGroupRequested, {batch_id}))
        ),
        message="six spell-check requests",
    )
    await wait_until(lambda: els_idle(js), message="the command handled")

    results = [spellcheck_completed(request) for request in requests[:6]]

    async def deliver_twice(copy: str, of: list[events_pb2.EssaySpellcheckCompleted]) -> None:
        await asyncio.gather(
            *(
                publisher.publish(r, headers={HEADER_MSG_ID: f"{r.metadata.event_id}#{copy}{n}"})
                for r in of
                for n in range(2)  # each stored twice: delivered twice
            )
        )

    # Half the results before the upgrade, the rest after; every one delivered again after.
    await deliver_twice("before", results[:3])
    await wait_until(lambda: els_idle(js), message="the first results handled")
    trackers = KvTrackerRepository(await js.key_value(BATCHES_BUCKET))
    await trackers.update(batch_id, as_the_previous_version_stored)
    await deliver_twice("after", results)
    # Content already in the batch, uploaded again after the upgrade.
    again = provisioned(batch_id, "essay0.txt")
    await publisher.publish(again)

    await wait_until(
        lambda: tap.of(events_pb2.ELSBatchPhaseOutcome, {batch_id}), message="the phase outcome"
    )
    await wait_until(lambda: els_idle(js), message="every copy handled")
    assert list(tap.id_counts(events_pb2.ELSBatchPhaseOutcome, {batch_id}).values()) == [1]
    (outcome,) = tap.of(events_pb2.ELSBatchPhaseOutcome, {batch_id})
    assert outcome.status == common_pb2.PhaseStatus.PHASE_STATUS_COMPLETED
    assert sorted(e.essay_id for e in outcome.processed_essays) == sorted(essay_ids)
    (excess,) = tap.of(events_pb2.ExcessContentProvisioned, {batch_id})
    assert excess.reason == common_pb2.ExcessContentReason.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT

    tracker = await trackers.get(batch_id)
    assert tracker is not None
    (progress,) = tracker.phases
    assert progress.terminal_essays == 6
    assert {s.essay.status for s in tracker.slots} == {
        common_pb2.EssayStatus.ESSAY_STATUS_SPELLCHECKED_SUCCESS
    }
    assert len(tracker.essay_id_by_sha256) == 6, "the old entries are kept, unread"
