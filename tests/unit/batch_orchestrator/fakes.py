"""In-memory fakes of the BOS ports, for use-case tests without a network."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

from google.protobuf.message import Message

from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain.errors import BackendUnavailable, BatchNotFound
from services.batch_orchestrator.domain.ports import (
    Added,
    BatchPage,
    Change,
    Stored,
    Unannounced,
)


class FakeClock:
    """A clock that moves only when told."""

    def __init__(self) -> None:
        self.now = datetime(2026, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


class FakeWatch:
    """The states of a batch known when the watch began."""

    def __init__(self, states: list[BatchRecord]) -> None:
        self._states = states

    def __aiter__(self) -> AsyncIterator[BatchRecord]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[BatchRecord]:
        for state in self._states:
            yield state

    async def stop(self) -> None:
        return None


class FakeRepository:
    """Batches in a dict; `unannounced_ages` stands in for the marks and their age."""

    def __init__(self) -> None:
        self.batches: dict[str, BatchRecord] = {}
        self.unannounced_ages: dict[str, float] = {}

    async def add(self, batch: BatchRecord) -> Added:
        stored = self.batches.get(batch.batch_id)
        if stored is not None:
            unannounced = batch.batch_id in self.unannounced_ages
            return Added(batch=_copy(stored), created=False, unannounced=unannounced)
        self.unannounced_ages[batch.batch_id] = 0.0
        self.batches[batch.batch_id] = _copy(batch)
        return Added(batch=_copy(batch), created=True, unannounced=True)

    async def get(self, batch_id: str) -> BatchRecord | None:
        found = self.batches.get(batch_id)
        return None if found is None else _copy(found)

    async def update(self, batch_id: str, change: Change) -> Stored | None:
        current = self.batches.get(batch_id)
        if current is None:
            return None
        updated = change(_copy(current))
        if updated is None:
            return Stored(batch=_copy(current), changed=False)
        self.batches[batch_id] = _copy(updated)
        return Stored(batch=updated, changed=True)

    async def list_newest_first(self, *, after: str, limit: int) -> BatchPage:
        ordered = sorted(
            self.batches.values(), key=lambda b: b.created_at.ToNanoseconds(), reverse=True
        )
        start = next((i + 1 for i, b in enumerate(ordered) if b.batch_id == after), 0)
        page = ordered[start : start + limit]
        more = start + limit < len(ordered)
        return BatchPage(batches=page, next_cursor=page[-1].batch_id if more else "")

    async def watch(self, batch_id: str) -> FakeWatch:
        if batch_id not in self.batches:
            raise BatchNotFound(batch_id)
        return FakeWatch([_copy(self.batches[batch_id])])

    async def unannounced(self) -> list[Unannounced]:
        return [Unannounced(batch_id=i, age_s=a) for i, a in self.unannounced_ages.items()]

    async def mark_announced(self, batch_id: str) -> None:
        self.unannounced_ages.pop(batch_id, None)


class FakePublisher:
    """Keeps what was published; `failures` makes the next publishes fail."""

    def __init__(self, repository: FakeRepository | None = None) -> None:
        self.events: list[Message] = []
        self.failures = 0
        self.seen_stored: list[bool] = []
        self._repository = repository

    async def publish(self, event: Message) -> object:
        if self._repository is not None:
            batch_id = getattr(event, "batch_id", "")
            self.seen_stored.append(batch_id in self._repository.batches)
        if self.failures:
            self.failures -= 1
            raise BackendUnavailable("stream did not answer")
        self.events.append(event)
        return None

    def of_type(self, message_type: type[Message]) -> list[Message]:
        return [e for e in self.events if isinstance(e, message_type)]


def _copy(batch: BatchRecord) -> BatchRecord:
    copy = BatchRecord()
    copy.CopyFrom(batch)
    return copy
