"""The nats CLI's path: what `nats stream ls`, `nats stream info` and `nats consumer info` show
(as docs/using.md describes it), read through nats-py's JetStream management API; and
`huleedu events --follow`, which shows events as they are stored."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import AsyncIterator

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, RetentionPolicy, StorageType

from examples.sample_class import ESSAYS
from services.mesh import subjects
from tests.e2e.conftest import SAMPLE_CLASS, E2EStack, huleedu_argv, submit_json
from tests.support import REPO_ROOT, wait_until

CONSUMERS = {
    "bos": {
        subjects.BATCH_ESSAYS_READY,
        subjects.BATCH_READINESS_TIMED_OUT,
        subjects.EXCESS_CONTENT_PROVISIONED,
        subjects.BATCH_PHASE_OUTCOME,
    },
    "els": {
        subjects.BATCH_ESSAYS_REGISTERED,
        subjects.ESSAY_CONTENT_PROVISIONED,
        subjects.ESSAY_VALIDATION_FAILED,
        subjects.BATCH_READINESS_DEADLINE,
        subjects.BATCH_SPELLCHECK_INITIATE,
        subjects.SPELLCHECK_GROUP_COMPLETED,
        subjects.ESSAY_SPELLCHECK_COMPLETED,
        subjects.BATCH_ERASURE_REQUESTED,
    },
    "file_service": {
        subjects.BATCH_ESSAYS_REGISTERED,
        subjects.BATCH_ERASURE_REQUESTED,
        subjects.ESSAY_UPLOADS_ERASED,
    },
    "spell_checker": {subjects.SPELLCHECK_GROUP_REQUESTED, subjects.ESSAY_SPELLCHECK_REQUESTED},
}


@pytest.fixture
async def jetstream(stack: E2EStack) -> AsyncIterator[tuple[Client, JetStreamContext]]:
    client = await nats.connect(servers=stack.nats_url.split(","))  # a cluster: a list
    yield client, client.jetstream()
    await client.close()


async def test_streams_are_as_the_readme_shows(
    jetstream: tuple[Client, JetStreamContext],
) -> None:
    _, js = jetstream
    streams = {info.config.name: info for info in await js.streams_info()}
    assert {"HULEEDU_EVENTS", "HULEEDU_DLQ", "KV_bos_batches", "KV_els_batches"} <= set(streams)
    events = streams["HULEEDU_EVENTS"].config
    assert events.subjects == ["huleedu.>"]
    assert events.retention == RetentionPolicy.LIMITS
    assert events.storage == StorageType.FILE
    assert events.max_age == 7 * 24 * 3600
    assert events.duplicate_window == 120
    dlq = streams["HULEEDU_DLQ"].config
    assert dlq.subjects == ["dlq.huleedu.>"]
    assert dlq.storage == StorageType.FILE


async def test_each_service_has_its_durable_pull_consumer(
    stack: E2EStack, jetstream: tuple[Client, JetStreamContext]
) -> None:
    _, js = jetstream
    # 5 as docs/using.md shows; a cluster's services run with more (its NATS_MAX_DELIVER)
    max_deliver = int(os.environ.get("NATS_MAX_DELIVER", "5"))
    submit_json(stack, SAMPLE_CLASS / ESSAYS[2].file_name)
    consumers = {info.name: info for info in await js.consumers_info("HULEEDU_EVENTS")}
    assert CONSUMERS.keys() <= consumers.keys()
    for name, filters in CONSUMERS.items():
        config = consumers[name].config
        assert config.durable_name == name
        assert set(config.filter_subjects or []) == filters
        assert config.ack_policy == AckPolicy.EXPLICIT
        assert config.deliver_subject is None  # pull
        assert config.max_deliver == max_deliver and config.ack_wait == 30

    async def drained() -> bool:
        infos = [await js.consumer_info("HULEEDU_EVENTS", name) for name in CONSUMERS]
        return all(info.num_pending == 0 and info.num_ack_pending == 0 for info in infos)

    await wait_until(drained, timeout_s=30, message="every consumer caught up")


def test_events_follow_prints_events_as_they_are_stored(stack: E2EStack) -> None:
    submit_json(stack, SAMPLE_CLASS / ESSAYS[4].file_name)  # the stream has a last message
    follower = subprocess.Popen(
        [*huleedu_argv(), "events", "--follow", "--json", "--last", "1"],
        env={**os.environ, **stack.env},
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert follower.stdout is not None
        json.loads(follower.stdout.readline())  # the last stored message: it is following now
        document = submit_json(stack, SAMPLE_CLASS / ESSAYS[3].file_name)
        seen: list[str] = []
        for line in follower.stdout:
            entry = json.loads(line)
            if entry.get("batch_id") == document["batch_id"]:
                seen.append(entry["type"])
            if "ELSBatchPhaseOutcome" in seen:
                break
        assert seen[0] == "BatchEssaysRegistered"
        assert "SpellcheckGroupCompleted" in seen
        assert seen[-1] == "ELSBatchPhaseOutcome"
    finally:
        follower.terminate()
        follower.wait(timeout=10)
