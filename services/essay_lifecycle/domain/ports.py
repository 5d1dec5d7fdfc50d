"""What the domain's handlers need from the outside, as Protocols; adapters/ implements them and
unit tests pass fakes."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp

from huleedu.events.v1 import events_pb2
from huleedu.internal.els.v1 import essay_state_pb2

BatchTracker = essay_state_pb2.BatchTracker
EssayRecord = essay_state_pb2.EssayRecord
Mutation = Callable[[BatchTracker | None], BatchTracker | None]


class TrackerRepository(Protocol):
    """The BatchTracker documents, one per batch, changed only by compare-and-set."""

    async def update(self, batch_id: str, mutate: Mutation) -> BatchTracker | None:
        """Apply `mutate` (pure; may run more than once) and return the stored tracker."""
        ...

    async def get(self, batch_id: str) -> BatchTracker | None:
        """The tracker of `batch_id`, or None."""
        ...


class EssayIndex(Protocol):
    """Per-essay records: which batch an essay belongs to."""

    async def add(self, batch_id: str, essay_ids: Sequence[str]) -> None:
        """Record that the essays belong to the batch (records that exist are kept)."""
        ...

    async def get(self, essay_id: str) -> EssayRecord | None:
        """The record of `essay_id`, or None."""
        ...

    async def erase(self, batch_id: str, essay_ids: Sequence[str], *, whole_batch: bool) -> None:
        """Forget what the records hold of the essays (all of them with `whole_batch`)."""
        ...


class ContentEraser(Protocol):
    """Erases stored contents (the Content Service's EraseContent)."""

    async def erase(
        self, storage_ids: Sequence[str], *, tenant: str, holder: str
    ) -> tuple[list[str], list[str]]:
        """Release the holder's hold on the contents; those no one else holds are erased.
        Returns (erased, kept)."""
        ...


class ContentReader(Protocol):
    """Reads content from the Content Service as a tenant (the essays' details)."""

    async def get(self, storage_id: str, *, tenant: str) -> bytes:
        """The bytes the tenant stored under `storage_id`."""
        ...


class EventPublisher(Protocol):
    """Publishes an event (and waits for JetStream to store it)."""

    async def publish(
        self,
        event: Message,
        *,
        subject: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """Publish `event`; the same event id twice is dropped by JetStream."""
        ...


class DeadlineScheduler(Protocol):
    """Delivers a batch's deadline event to ELS at a given time, durably."""

    async def schedule(
        self, event: events_pb2.BatchReadinessDeadlineReached, at: Timestamp
    ) -> None:
        """Arrange for `event` to reach ELS's consumer at `at` (at once if `at` has passed)."""
        ...
