"""Erasure on every replica (issue 17): on the three-node cluster (R3 streams, two instances of
every service), an essay holding a unique canary sentence is spell-checked; the canary is in the
store files of all three nodes. After DeleteBatch, once every stream's replicas are current, every
file under every node's store directory is scanned and none holds it."""

from __future__ import annotations

import uuid

import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.cluster_stack import ClusterStack
from devstack.nats_cluster import wait_streams_current
from huleedu.batch.v1 import batch_service_pb2
from huleedu.common.v1 import common_pb2
from huleedu.internal.els.v1 import essay_state_pb2
from services.essay_lifecycle.adapters.kv_store import BATCHES_BUCKET
from tests.cluster.conftest import teacher_token
from tests.harness.scaling_load import Essay, MeshDriver, jetstream_call
from tests.support import store_files_holding, wait_until

pytestmark = [pytest.mark.cluster, pytest.mark.slow, pytest.mark.timeout(900)]
# JetStream snapshots a clustered stream, compacting its Raft log, every two minutes.
COMPACTION_WAIT_S = 300.0
ESSAY = (
    "My favourite season is autumn because the forest turns red and gold. Every weekend my "
    "family walks along the river and we collect chestnuts. {canary} Later we cook soup "
    "together and talk about the week, and I recieve a cup of hot chocolate."
)


async def test_a_deleted_batch_leaves_no_byte_on_any_node(
    cluster: ClusterStack, nats_js: tuple[Client, JetStreamContext]
) -> None:
    js = nats_js[1]
    servers = cluster.nats_url.split(",")  # as the operator
    stores = [node.folder for node in cluster.nodes]
    canary = f"Canary {uuid.uuid4().hex[:12]} flew over the mountain whith seven silver kites."
    driver = MeshDriver(cluster.layout, token=teacher_token(cluster))
    try:
        batch_id = await driver.submit([Essay("canary.txt", ESSAY.format(canary=canary).encode())])

        async def completed() -> bool:
            batch = (await driver.batches([batch_id]))[batch_id]
            return batch.status == common_pb2.BATCH_STATUS_COMPLETED

        await wait_until(completed, timeout_s=180, message="the batch spell-checked")
        await wait_streams_current(servers, timeout_s=60)
        found = store_files_holding(stores, canary.encode())
        # Stored on every node: the scan does find it.
        assert all(store_files_holding([store], canary.encode()) for store in stores), found

        await driver.call(
            driver.bos.DeleteBatch, batch_service_pb2.DeleteBatchRequest(batch_id=batch_id)
        )

        async def erased_in_els() -> bool:
            kv = await jetstream_call(lambda: js.key_value(BATCHES_BUCKET))
            entry = await jetstream_call(lambda: kv.get(batch_id))
            tracker = essay_state_pb2.BatchTracker.FromString(entry.value or b"")
            return tracker.erased and not tracker.pending_erasure

        await wait_until(erased_in_els, timeout_s=120, message="ELS erased the batch")
        await wait_streams_current(servers, timeout_s=60)
        # The streams' own files hold the bytes no more at once; each replica's Raft log holds
        # the appended entries until JetStream's periodic snapshot compacts it (every two
        # minutes): poll past that.
        await wait_until(
            lambda: not store_files_holding(stores, canary.encode()),
            timeout_s=COMPACTION_WAIT_S,
            interval_s=5.0,
            message="no node's store holds the canary",
        )
        assert store_files_holding(stores, b"whith seven silver kites") == []
    finally:
        await driver.close()
