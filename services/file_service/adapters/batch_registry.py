"""The File Service's own record of registered batches: KV bucket `file_service_batches`, one
BatchEssaysRegistered (protobuf) per batch, written by its consumer of that event."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict

from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue

from huleedu.events.v1 import events_pb2
from services.file_service.adapters.kv_keys import batch_key
from services.file_service.domain.ports import BatchRegistration

BATCHES_BUCKET = "file_service_batches"
_FIRST_POLL_S = 0.02
_MAX_POLL_S = 0.25


class KvBatchRegistry:
    """Registered batches in a KV bucket; an upload may wait briefly for a registration.

    A registration never changes once made, so the ones seen are remembered in memory (a bounded
    number, oldest forgotten first) and a batch's later uploads skip the KV read. Uploads waiting
    for a registration this process records are woken at once; one another instance records is
    found by polling the bucket.
    """

    def __init__(self, kv: KeyValue, *, remembered: int = 10_000) -> None:
        self._kv = kv
        self._remembered = remembered
        self._known: OrderedDict[str, BatchRegistration] = OrderedDict()
        self._waiting: dict[str, tuple[asyncio.Event, int]] = {}

    async def record(self, event: events_pb2.BatchEssaysRegistered) -> None:
        """Remember the batch (idempotent: a redelivered event writes the same document) and
        wake the uploads waiting for it."""
        await self._kv.put(batch_key(event.batch_id), event.SerializeToString(deterministic=True))
        self._remember(_registration(event))
        waiting = self._waiting.get(event.batch_id)
        if waiting is not None:
            waiting[0].set()

    async def get(self, batch_id: str) -> BatchRegistration | None:
        """The batch's registration, or None."""
        known = self._known.get(batch_id)
        if known is not None:
            self._known.move_to_end(batch_id)
            return known
        try:
            entry = await self._kv.get(batch_key(batch_id))
        except (KeyNotFoundError, KeyDeletedError):
            return None
        if not entry.value:
            return None
        event = events_pb2.BatchEssaysRegistered.FromString(entry.value)
        if event.batch_id != batch_id:  # a hashed key names exactly one id; never guess
            return None
        registration = _registration(event)
        self._remember(registration)
        return registration

    def forget(self, batch_id: str) -> None:
        """Drop what this process remembers of an erased batch (its key is purged)."""
        self._known.pop(batch_id, None)

    def _remember(self, registration: BatchRegistration) -> None:
        self._known[registration.batch_id] = registration
        self._known.move_to_end(registration.batch_id)
        if len(self._known) > self._remembered:
            self._known.popitem(last=False)

    async def wait_for(self, batch_id: str, timeout_s: float) -> BatchRegistration | None:
        """The registration, waited for until `timeout_s` has passed: woken by this process's
        record(), or found by polling the bucket (backing off from 20 to 250 ms)."""
        deadline = time.monotonic() + timeout_s
        delay = _FIRST_POLL_S
        recorded, waiters = self._waiting.get(batch_id, (asyncio.Event(), 0))
        self._waiting[batch_id] = (recorded, waiters + 1)
        try:
            while True:
                registration = await self.get(batch_id)
                remaining = deadline - time.monotonic()
                if registration is not None or remaining <= 0:
                    return registration
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(recorded.wait(), min(delay, remaining))
                delay = min(delay * 2, _MAX_POLL_S)
        finally:
            recorded, waiters = self._waiting[batch_id]
            if waiters <= 1:
                del self._waiting[batch_id]
            else:
                self._waiting[batch_id] = (recorded, waiters - 1)


def _registration(event: events_pb2.BatchEssaysRegistered) -> BatchRegistration:
    return BatchRegistration(
        batch_id=event.batch_id,
        correlation_id=event.metadata.correlation_id,
        expected_essay_count=event.expected_essay_count,
        tenant_id=event.tenant_id,
    )
