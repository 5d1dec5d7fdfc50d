"""BOS's domain metric: batches per status, a census of `bos_batches` kept by a KV watch."""

from __future__ import annotations

from collections import Counter

from nats.js.kv import KeyValue
from prometheus_client import Gauge

from huleedu.common.v1 import common_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.mesh.kv_census import KvCensus

# A census kept by a watch of the bucket: every instance reports the whole-system count, so
# aggregate with `max`, not `sum`. Labels: states only, never ids.
BATCHES_BY_STATE = Gauge(
    "huleedu_batches",
    "Batches by status (BOS, from a watch of bos_batches).",
    ["state"],
)

_BATCH_STATES = [
    name.removeprefix("BATCH_STATUS_")
    for name in (v.name for v in common_pb2.BatchStatus.DESCRIPTOR.values)
    if name != "BATCH_STATUS_UNSPECIFIED"
]


def batch_state(key: str, value: bytes) -> Counter[str] | None:
    """One batch document counts once, under its status; index and marker keys count nothing."""
    if "." in key:
        return None
    batch = BatchRecord.FromString(value)
    return Counter({common_pb2.BatchStatus.Name(batch.status).removeprefix("BATCH_STATUS_"): 1})


def batch_census(kv: KeyValue) -> KvCensus:
    """The census that keeps `huleedu_batches{state}` current."""
    return KvCensus(kv, batch_state, BATCHES_BY_STATE, _BATCH_STATES)
