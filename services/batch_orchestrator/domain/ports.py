"""What the BOS use cases need from the outside; adapters implement these, tests pass fakes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from google.protobuf.message import Message

from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord

Change = Callable[[BatchRecord], BatchRecord | None]
Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Stored:
    """A batch after an update, and whether the update changed it."""

    batch: BatchRecord
    changed: bool


@dataclass(frozen=True)
class Added:
    """The outcome of storing a new batch: the batch as stored (an earlier one, if its id was
    taken), whether this call stored it, and whether it still awaits its announcement."""

    batch: BatchRecord
    created: bool
    unannounced: bool


@dataclass(frozen=True)
class BatchPage:
    """One page of batches, newest first, and the cursor after it (empty on the last page)."""

    batches: list[BatchRecord]
    next_cursor: str


@dataclass(frozen=True)
class Unannounced:
    """A batch stored but not yet announced, and how long ago its registration began."""

    batch_id: str
    age_s: float


class BatchWatch(Protocol):
    """The successive states of one batch; iteration ends when the watch is stopped."""

    def __aiter__(self) -> AsyncIterator[BatchRecord]: ...

    async def stop(self) -> None:
        """End the iteration and release the watch; safe to call twice."""


class BatchRepository(Protocol):
    """The batch documents (KV `bos_batches`), each updated by compare-and-set."""

    async def add(self, batch: BatchRecord) -> Added:
        """Store a new batch, marked as not yet announced. If a batch with its id is stored
        already, leave it as it is (finishing what an interrupted add left undone) and return
        it with `created` False."""

    async def get(self, batch_id: str) -> BatchRecord | None:
        """The batch, or None."""

    async def update(self, batch_id: str, change: Change) -> Stored | None:
        """Apply `change` (pure; may run again on conflict); None if there is no such batch."""

    async def list_newest_first(self, *, tenant_id: str, after: str, limit: int) -> BatchPage:
        """Up to `limit` of the tenant's batches registered before the `after` cursor ("" = the
        newest)."""

    async def watch(self, batch_id: str) -> BatchWatch:
        """Follow the batch from its current state; BatchNotFound if there is none."""

    async def unannounced(self) -> list[Unannounced]:
        """The batches stored but not announced (and marks left by failed registrations)."""

    async def mark_announced(self, batch_id: str) -> None:
        """Forget that the batch awaits its announcement."""

    async def erase(self, batch_id: str, tombstone: BatchRecord) -> None:
        """Replace the batch's document by its tombstone, with no trace in the listing."""

    async def registered_before(self, cutoff_us: int) -> list[str]:
        """The ids of the batches registered before `cutoff_us` (microseconds, Unix time)."""


class EventPublisher(Protocol):
    """Publishes an event to its subject; returns once JetStream has stored it."""

    async def publish(self, event: Message) -> object:
        """Publish; BackendUnavailable when the stream does not answer."""
