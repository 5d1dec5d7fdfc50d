"""Thirty batches of real essays through the cluster while the node leading the event stream is
SIGKILLed and later restarted, and instance 1 of every service is SIGKILLed: every batch
completes, every essay is requested and checked once (one request and one completion stored per
essay), nothing reaches the DLQ, and the restarted node catches up (stream info shows every
stream's three replicas current)."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter

import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.cluster_stack import ClusterStack
from devstack.nats_cluster import (
    StreamReplicas,
    node_health,
    stream_replicas,
    wait_streams_current,
)
from devstack.stack import SERVICES
from huleedu.common.v1 import common_pb2
from services.mesh.dead_letters import HEADER_DLQ_REASON
from services.mesh.streams import DLQ_STREAM, EVENTS_STREAM
from tests.cluster.conftest import teacher_token
from tests.harness.scaling_load import (
    CORPUS,
    BatchFlow,
    MeshDriver,
    corpus_essays,
    jetstream_call,
    stored_spellcheck_counts,
)
from tests.support import wait_until

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.timeout(900),
    pytest.mark.skipif(not CORPUS.is_dir(), reason="the corpus is not beside the repository"),
]
BATCHES = 30
ESSAYS = 10
WINDOW = 8  # batches in flight at once: uploads go on while nodes and instances die
B = common_pb2.BatchStatus


def checks_logged(cluster: ClusterStack) -> int:
    """'essay checked' lines in every Spell Checker log: work done, repeats included."""
    total = 0
    for instance in cluster.layout.of("spell_checker"):
        for line in (cluster.run_dir.logs / f"{instance.name}.log").read_text().splitlines():
            if line.startswith("{") and json.loads(line).get("message") == "essay checked":
                total += 1
    return total


async def consumers_current(js: JetStreamContext) -> dict[str, bool]:
    """For each durable of the event stream: are all its replicas current?"""
    found = {}
    for info in await jetstream_call(lambda: js.consumers_info(EVENTS_STREAM)):
        peers = (info.cluster.replicas or []) if info.cluster is not None else []
        found[info.name] = len(peers) == 2 and all(p.current and not p.offline for p in peers)
    return found


async def dlq_stays_empty(js: JetStreamContext) -> None:
    """Raise, with the reason, as soon as anything reaches the DLQ; poll once a second."""
    while True:
        try:
            state = (await js.stream_info(DLQ_STREAM)).state
        except (nats.errors.Error, TimeoutError):
            state = None  # no leader right now: ask again
        if state is not None and state.messages:
            first = await js.get_msg(DLQ_STREAM, seq=state.first_seq)
            reason = (first.headers or {}).get(HEADER_DLQ_REASON, "?")
            raise AssertionError(f"{state.messages} message(s) in the DLQ; first: {reason}")
        await asyncio.sleep(1.0)


async def test_thirty_batches_survive_a_lost_node_and_a_lost_instance_of_each_service(
    cluster: ClusterStack, nats_js: tuple[Client, JetStreamContext]
) -> None:
    _, js = nats_js
    essays = corpus_essays(BATCHES * ESSAYS)
    batches = [essays[i * ESSAYS : (i + 1) * ESSAYS] for i in range(BATCHES)]
    driver = MeshDriver(cluster.layout, token=teacher_token(cluster))
    flow = BatchFlow(driver, batches, window=WINDOW)
    started = time.monotonic()
    timeline: list[str] = []
    snapshots: dict[str, list[StreamReplicas]] = {}
    servers = cluster.nats_url.split(",")

    def note(what: str) -> None:
        timeline.append(
            f"{time.monotonic() - started:6.1f} s  {what} "
            f"(submitted {len(flow.submitted)}, terminal {flow.terminal})"
        )

    async def chaos() -> str:
        await wait_until(lambda: flow.terminal >= 3, timeout_s=300, message="3 batches done")
        info = await jetstream_call(lambda: js.stream_info(EVENTS_STREAM))
        victim = info.cluster.leader if info.cluster is not None else None
        assert victim, "HULEEDU_EVENTS has no leader"
        await asyncio.to_thread(cluster.kill_node, victim)
        note(f"SIGKILL nats {victim} (leader of {EVENTS_STREAM})")
        await wait_until(lambda: flow.terminal >= 10, timeout_s=300, message="10 batches done")
        snapshots["while the node is down"] = await jetstream_call(lambda: stream_replicas(js))
        for spec in SERVICES:
            await asyncio.to_thread(cluster.kill_instance, f"{spec.name}-1")
        note("SIGKILL instance 1 of every service (with its worker processes)")
        await wait_until(lambda: flow.terminal >= 17, timeout_s=300, message="17 batches done")
        await asyncio.to_thread(cluster.restart_node, victim)
        note(f"restarted nats {victim} (its /healthz answers 200)")
        snapshots["right after the restart"] = await jetstream_call(lambda: stream_replicas(js))
        await wait_streams_current(servers, 120)
        note(f"{victim} caught up: every stream's three replicas current")
        return victim

    chaos_task = asyncio.create_task(chaos())
    watch = asyncio.create_task(dlq_stays_empty(js))
    run = asyncio.create_task(flow.run(timeout_s=400))
    try:
        await asyncio.wait([run, watch], return_when=asyncio.FIRST_COMPLETED)
        if watch.done():
            watch.result()  # fails the test at once with the DLQ's reason
        final = run.result()
        victim = await chaos_task
    finally:
        for task in (chaos_task, watch, run):
            task.cancel()
    note("every batch terminal")
    run_s = flow.last_terminal_at - flow.first_submit_at

    # Every batch completed, every essay spell-checked, as BOS and ELS report them.
    assert Counter(B.Name(batch.status) for batch in final.values()) == {
        "BATCH_STATUS_COMPLETED": BATCHES
    }
    essay_ids: list[str] = []
    for batch_id, names in zip(flow.submitted, batches, strict=True):
        batch = final[batch_id]
        assert (batch.counts.assigned, batch.counts.spellchecked) == (ESSAYS, ESSAYS), batch
        assert batch.counts.excess == batch.counts.failed_validation == 0, batch
        listed = await driver.essays(batch_id)
        assert sorted(e.original_file_name for e in listed) == sorted(e.name for e in names)
        assert {e.status for e in listed} == {common_pb2.ESSAY_STATUS_SPELLCHECKED_SUCCESS}
        essay_ids += [e.essay_id for e in listed]
    await driver.close()

    # Checked once: the stream holds exactly one request and one completion per essay.
    stored = await stored_spellcheck_counts(js, set(flow.submitted))
    once = Counter(dict.fromkeys(essay_ids, 1))
    assert stored.requests == once
    assert stored.completions == once
    assert (await jetstream_call(lambda: js.stream_info(DLQ_STREAM))).state.messages == 0

    # The restarted node caught up: every stream (events, DLQ, KV_*, OBJ_*) has three current
    # replicas, and so has every durable consumer of the event stream.
    streams = await wait_streams_current(servers, 120)
    assert {s.replicas for s in streams} == {3}
    assert all(len(s.peers) == 2 for s in streams)
    assert node_health(cluster.node(victim).addresses)[0] == 200

    async def consumers_all_current() -> bool:
        found = await consumers_current(js)
        return bool(found) and all(found.values())

    await wait_until(consumers_all_current, timeout_s=60, message="consumer replicas current")

    checked = checks_logged(cluster)
    print("\n".join(["", *timeline]))
    for title, found in [*snapshots.items(), ("at the end", streams)]:
        print(f"{title}:\n  " + "\n  ".join(stream.describe() for stream in found))
    print(
        f"{BATCHES} batches, {len(essay_ids)} essays in {run_s:.1f} s "
        f"({len(essay_ids) / run_s:.1f} essays/s); checks logged {checked} "
        f"({checked - len(essay_ids)} repeated after the kill); "
        f"client retries {dict(driver.retries)}"
    )
    assert checked >= len(essay_ids)
