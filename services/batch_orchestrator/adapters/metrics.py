"""BOS's domain metric: batches per status, a census of `bos_batches` kept by a KV watch."""

from __future__ import annotations

from collections import Counter

from nats.js.kv import KeyValue

from huleedu.batch.v1.batch_service_pb2 import Batch
from huleedu.common.v1 import common_pb2
from services.mesh.domain_metrics import BATCHES_BY_STATE
from services.mesh.kv_census import KvCensus

_BATCH_STATES = [
    name.removeprefix("BATCH_STATUS_")
    for name in (v.name for v in common_pb2.BatchStatus.DESCRIPTOR.values)
    if name != "BATCH_STATUS_UNSPECIFIED"
]


def batch_state(key: str, value: bytes) -> Counter[str] | None:
    """One batch document counts once, under its status; index and marker keys count nothing."""
    if "." in key:
        return None
    batch = Batch.FromString(value)
    return Counter({common_pb2.BatchStatus.Name(batch.status).removeprefix("BATCH_STATUS_"): 1})


def batch_census(kv: KeyValue) -> KvCensus:
    """The census that keeps `huleedu_batches{state}` current."""
    return KvCensus(kv, batch_state, BATCHES_BY_STATE, _BATCH_STATES)
