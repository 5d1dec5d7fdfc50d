"""Helpers of the ELS unit tests: apply events to trackers, fakes of the ports."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.events.v1 import events_pb2
from huleedu.internal.els.v1 import essay_state_pb2
from services.essay_lifecycle.domain.ports import Mutation
from services.essay_lifecycle.domain.slots import (
    ReadinessRules,
    apply_registration,
    apply_upload,
    upload_of,
)
from services.essay_lifecycle.domain.tracker import BatchTracker

RULES = ReadinessRules(timeout_s=600, partial_threshold=1.0)


def now() -> Timestamp:
    stamp = Timestamp()
    stamp.GetCurrentTime()
    return stamp


def register(tracker: BatchTracker | None, event: events_pb2.BatchEssaysRegistered) -> BatchTracker:
    change = apply_registration(tracker, event, RULES, now())
    assert change.tracker is not None
    return change.tracker


def upload(
    tracker: BatchTracker | None,
    event: events_pb2.EssayContentProvisioned | events_pb2.EssayValidationFailed,
) -> BatchTracker:
    change = apply_upload(tracker, upload_of(event), now())
    assert change.tracker is not None
    assert change.refused == ()
    return change.tracker


class FakeTrackers:
    """TrackerRepository in memory; each mutate gets its own copy, like the KV adapter."""

    def __init__(self) -> None:
        self.docs: dict[str, bytes] = {}

    async def update(self, batch_id: str, mutate: Mutation) -> BatchTracker | None:
        current = self.docs.get(batch_id)
        doc = None if current is None else BatchTracker.FromString(current)
        updated = mutate(doc)
        if updated is None:
            return doc
        self.docs[batch_id] = updated.SerializeToString()
        return updated

    async def get(self, batch_id: str) -> BatchTracker | None:
        current = self.docs.get(batch_id)
        return None if current is None else BatchTracker.FromString(current)


class FakeEssays:
    """EssayIndex in memory."""

    def __init__(self) -> None:
        self.records: dict[str, essay_state_pb2.EssayRecord] = {}

    async def add(self, batch_id: str, essay_ids: Sequence[str]) -> None:
        for essay_id in essay_ids:
            self.records.setdefault(essay_id, essay_state_pb2.EssayRecord(batch_id=batch_id))

    async def get(self, essay_id: str) -> essay_state_pb2.EssayRecord | None:
        return self.records.get(essay_id)

    async def erase(self, batch_id: str, essay_ids: Sequence[str], *, whole_batch: bool) -> None:
        for essay_id in essay_ids:
            if whole_batch:
                self.records.pop(essay_id, None)
            else:
                self.records[essay_id] = essay_state_pb2.EssayRecord(batch_id=batch_id)


class FakeContents:
    """ContentEraser in memory: what each call erased, as (tenant, holder, ids)."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, list[str]]] = []

    async def erase(
        self, storage_ids: Sequence[str], *, tenant: str, holder: str
    ) -> tuple[list[str], list[str]]:
        self.calls.append((tenant, holder, list(storage_ids)))
        return list(storage_ids), []

    @property
    def erased(self) -> set[str]:
        return {storage_id for _, _, ids in self.calls for storage_id in ids}


class FakePublisher:
    """Records what was published."""

    def __init__(self) -> None:
        self.published: list[Message] = []

    async def publish(
        self,
        event: Message,
        *,
        subject: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        self.published.append(event)

    def of_type(self, event_type: type[Message]) -> list[Any]:
        return [e for e in self.published if isinstance(e, event_type)]


class FakeDeadlines:
    """Records the schedules."""

    def __init__(self) -> None:
        self.scheduled: list[tuple[events_pb2.BatchReadinessDeadlineReached, Timestamp]] = []

    async def schedule(
        self, event: events_pb2.BatchReadinessDeadlineReached, at: Timestamp
    ) -> None:
        self.scheduled.append((event, at))
