"""The domain metrics' pure parts: the KV census arithmetic, ELS's upload outcomes, BOS's batch
states and the `huleedu trace` timeline."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from prometheus_client import CollectorRegistry, Gauge

from huleedu.common.v1 import common_pb2
from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from huleedu.internal.els.v1 import essay_state_pb2
from services.batch_orchestrator.adapters.metrics import batch_state
from services.cli.trace_view import TimelineEvent, describe, format_timeline, timeline
from services.essay_lifecycle.adapters.metrics import essay_states, upload_outcome
from services.mesh.kv_census import KvCensus

REGISTRY = CollectorRegistry()
GAUGE = Gauge("test_things", "test", ["state"], registry=REGISTRY)


def _scraped(state: str) -> float | None:
    return REGISTRY.get_sample_value("test_things", {"state": state})


def test_census_counts_each_key_once_and_forgets_deleted_keys() -> None:
    census = KvCensus(
        cast(Any, None), lambda _k, v: Counter(v.decode().split(",")), GAUGE, ["A", "B"]
    )
    assert census.totals() == {"A": 0, "B": 0}
    census.apply("k1", b"A,A,B")
    census.apply("k2", b"A")
    census.apply("k1", b"B,B,B")  # a new revision replaces what the key counted
    assert census.totals() == {"A": 1, "B": 3}
    census.apply("k2", None)
    assert census.totals() == {"A": 0, "B": 3}
    census.apply("k3", b"C")  # a state first seen now is scraped too
    assert (_scraped("A"), _scraped("B"), _scraped("C")) == (0, 3, 1)


def test_essay_states_count_the_slots_of_a_tracker() -> None:
    tracker = essay_state_pb2.BatchTracker(batch_id="b", registered=True)
    for status in (
        common_pb2.ESSAY_STATUS_AWAITING_CONTENT,
        common_pb2.ESSAY_STATUS_SPELLCHECKED_SUCCESS,
        common_pb2.ESSAY_STATUS_SPELLCHECKED_SUCCESS,
    ):
        tracker.slots.add().essay.status = status
    counts = essay_states("b", tracker.SerializeToString())
    assert counts == Counter({"AWAITING_CONTENT": 1, "SPELLCHECKED_SUCCESS": 2})


def test_upload_outcomes_name_the_slot_or_the_excess_reason() -> None:
    tracker = essay_state_pb2.BatchTracker(batch_id="b", registered=True)
    slot = tracker.slots.add(resolved_by_event_id="up1")
    slot.essay.status = common_pb2.ESSAY_STATUS_READY_FOR_PROCESSING
    failed = tracker.slots.add(resolved_by_event_id="up2")
    failed.essay.status = common_pb2.ESSAY_STATUS_VALIDATION_FAILED
    tracker.unassigned_uploads.add(
        source_event_id="up3", reason=common_pb2.EXCESS_CONTENT_REASON_DUPLICATE_CONTENT
    )
    assert upload_outcome(tracker, "up1") == "assigned"
    assert upload_outcome(tracker, "up2") == "validation_failed"
    assert upload_outcome(tracker, "up3") == "duplicate_content"
    assert upload_outcome(tracker, "other") is None
    assert upload_outcome(essay_state_pb2.BatchTracker(batch_id="b"), "up4") == "held"


def test_batch_state_counts_documents_not_index_keys() -> None:
    batch = BatchRecord(batch_id="b", status=common_pb2.BATCH_STATUS_SPELLCHECKING)
    assert batch_state("b", batch.SerializeToString()) == Counter({"SPELLCHECKING": 1})
    assert batch_state("index.0000000000000001.b", b"") is None
    assert batch_state("unannounced.b", b"") is None


def test_timeline_orders_by_sequence_and_measures_from_the_first_event() -> None:
    start = datetime(2026, 1, 1, tzinfo=UTC)
    events = [
        TimelineEvent(7, start + timedelta(seconds=2.5), "BatchEssaysReady", "essay_lifecycle", ""),
        TimelineEvent(3, start, "BatchEssaysRegistered", "batch_orchestrator", ""),
        TimelineEvent(
            5, start + timedelta(seconds=1), "EssayContentProvisioned", "file_service", "x"
        ),
    ]
    rows = timeline(events)
    assert [r.event.seq for r in rows] == [3, 5, 7]
    assert [r.offset_s for r in rows] == [0.0, 1.0, 2.5]
    text = format_timeline("b1", rows)
    assert text.splitlines()[0] == "batch b1: 3 events over 2.500 s"
    assert "   +1.000s  #5      EssayContentProvisioned  file_service" in text
    assert "summary" in text


def test_describe_picks_the_identifying_fields() -> None:
    fields = {"essay_id": "e1", "status": "OK", "ready_essays": [1, 2], "batch_id": "b"}
    assert describe(fields) == "essay_id=e1 status=OK ready_essays=2"
