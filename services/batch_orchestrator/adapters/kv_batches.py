"""The batch repository on the KV bucket `bos_batches`.

Keys of the bucket:

* `<batch_id>` — the batch document (`huleedu.internal.bos.v1.BatchRecord`, protobuf), created
  only while the key is free and changed only by compare-and-set
  (services.mesh.kv.update_document); updates of one batch that arrive while one is being written
  are applied together by the next write (services.mesh.kv.GroupCommitter).
* `index.<inverted created-at µs, 16 digits>.<batch_id>` — one empty key per batch, created once
  from the stored document's `created_at` (so a repeated add finds the same key).
  Listing the keys under `index.>` (headers only, no values) and sorting them gives every batch
  newest first; a page cursor is the last index key returned, so batches registered while a
  client pages never shift its pages. A listing reads every index key (a few hundred bytes each
  over the wire: thousands of batches cost milliseconds) and then only the page's documents.
* `unannounced.<batch_id>` — present from just before the document is stored until
  BatchEssaysRegistered is acknowledged; the announcer republishes whatever it finds there. It is
  removed by purging its subject, so finished registrations leave no tombstones to list.

`add` writes the mark, the document and the index key in that order, and may be repeated with a
batch of the same id (RegisterBatch with a request_id derives the id from it) at any point:

* interrupted before the document: the mark alone is left; a repeat creates the document, and
  without one the announcer drops the mark after a minute;
* interrupted before the index key: a repeat finds the document and creates the missing index
  key; so does the announcer (it repeats the add of every marked batch before announcing it);
* interrupted later: a repeat finds the document and the index key and writes nothing.

Each repeat reports whether the mark is still there, i.e. whether the announcement is still owed.

A repeat that finds the document does not write the mark, so a batch announced long ago is not
announced again. Twins that both found the key free both write the mark; the loser of the create
may then find the mark (again) and announce too, under the same event id.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import (
    KeyDeletedError,
    KeyNotFoundError,
    KeyWrongLastSequenceError,
    NotFoundError,
)
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue

from huleedu.internal.bos.v1.batch_record_pb2 import BatchRecord
from services.batch_orchestrator.domain.erasure import without_erased
from services.batch_orchestrator.domain.errors import BackendUnavailable, BatchNotFound
from services.batch_orchestrator.domain.ports import (
    Added,
    BatchPage,
    Change,
    Stored,
    Unannounced,
)
from services.mesh.kv import (
    DocumentCache,
    GroupCommitter,
    UpdateConflictError,
    read_document,
    update_document,
)
from services.mesh.nats_internals import watch_consumer_name, watch_subscription

log = logging.getLogger(__name__)

BUCKET = "bos_batches"
INDEX_PREFIX = "index."
UNANNOUNCED_PREFIX = "unannounced."
_US_CEILING = 10**16 - 1
_LIST_TIMEOUT_S = 10.0
# A watch's consumer the server removes on its own once nobody has listened for this long (if
# its deletion failed): nats-py's default is five minutes.
_WATCH_INACTIVE_THRESHOLD_S = 30.0


@contextlib.contextmanager
def _backend(action: str) -> Iterator[None]:
    """Translate NATS failures into BackendUnavailable."""
    try:
        yield
    except (nats.errors.Error, TimeoutError, UpdateConflictError) as error:
        raise BackendUnavailable(f"{action}: {type(error).__name__}: {error}") from error


def index_key(batch: BatchRecord) -> str:
    """The listing key of a batch: newer batches sort first."""
    inverted = _US_CEILING - batch.created_at.ToMicroseconds()
    return f"{INDEX_PREFIX}{inverted:016d}.{batch.batch_id}"


def _batch_id_of(index: str) -> str:
    return index.rsplit(".", 1)[-1]


def _registered_us(index: str) -> int:
    """When the batch of an index key was registered (the key holds it inverted)."""
    return _US_CEILING - int(index.removeprefix(INDEX_PREFIX).split(".", 1)[0])


class KvBatchRepository:
    """BatchRepository over a JetStream KV bucket."""

    def __init__(
        self,
        js: JetStreamContext,
        kv: KeyValue,
        bucket: str = BUCKET,
        cache: DocumentCache | None = None,
    ) -> None:
        self._js = js
        self._kv = kv
        self._bucket = bucket
        self._cache = cache if cache is not None else DocumentCache()
        self._committer = GroupCommitter(kv, BatchRecord, self._cache)

    async def add(self, batch: BatchRecord) -> Added:
        """Mark unannounced, create the document, then its index key; if a batch with this id
        is stored already, it is returned unchanged (with its index key made if missing)."""

        def create_only(stored: BatchRecord | None) -> BatchRecord | None:
            return batch if stored is None else None

        with _backend(f"storing batch {batch.batch_id}"):
            found = await read_document(self._kv, batch.batch_id, BatchRecord)
            if found is None:
                await self._kv.put(f"{UNANNOUNCED_PREFIX}{batch.batch_id}", b"")
                # A create that loses to a twin (the same request_id) re-reads the winner's
                # document, also on a replicated bucket where the loss surfaces as "not found".
                result = await update_document(
                    self._kv, batch.batch_id, BatchRecord, create_only, self._cache
                )
                assert result.doc is not None  # created when absent, returned when present
                stored, created = result.doc, result.changed
            else:
                stored, created = found[0], False
            await self._create_index_key(stored)
            unannounced = created or await self._is_marked(stored.batch_id)
        return Added(batch=stored, created=created, unannounced=unannounced)

    async def _create_index_key(self, batch: BatchRecord) -> None:
        try:
            await self._kv.create(index_key(batch), b"")
        except (KeyWrongLastSequenceError, KeyNotFoundError):
            # Written already, by an earlier add of this batch or a twin racing this one (on a
            # replicated bucket a create losing to a write still replicating raises
            # KeyNotFoundError, as in services.mesh.kv).
            return

    async def _is_marked(self, batch_id: str) -> bool:
        try:
            await self._kv.get(f"{UNANNOUNCED_PREFIX}{batch_id}")
        except (KeyNotFoundError, KeyDeletedError):
            return False
        return True

    async def get(self, batch_id: str) -> BatchRecord | None:
        """The batch document, or None."""
        with _backend(f"reading batch {batch_id}"):
            found = await read_document(self._kv, batch_id, BatchRecord)
        return None if found is None else found[0]

    async def update(self, batch_id: str, change: Change) -> Stored | None:
        """Compare-and-set `change` onto the document; None if there is no such batch."""

        def mutate(doc: BatchRecord | None) -> BatchRecord | None:
            changed = None if doc is None else change(doc)
            return None if changed is None else without_erased(changed)

        with _backend(f"updating batch {batch_id}"):
            result = await self._committer.update(batch_id, mutate)
        if result.doc is None:
            return None
        return Stored(batch=result.doc, changed=result.changed)

    async def list_newest_first(self, *, tenant_id: str, after: str, limit: int) -> BatchPage:
        """Up to `limit` of the tenant's batches whose index key sorts after `after` (the other
        tenants' are read and skipped)."""
        with _backend("listing batches"):
            keys = sorted(entry.key for entry in await self._entries(f"{INDEX_PREFIX}>"))
            position = bisect.bisect_right(keys, after) if after else 0
            batches: list[BatchRecord] = []
            last = ""
            while position < len(keys) and len(batches) < limit:
                chunk = keys[position : position + limit - len(batches)]
                docs = await asyncio.gather(*(self.get(_batch_id_of(key)) for key in chunk))
                for key, doc in zip(chunk, docs, strict=True):
                    # None: an index key whose registration failed half-way
                    if doc is not None and doc.tenant_id == tenant_id:
                        batches.append(doc)
                        last = key
                position += len(chunk)
        return BatchPage(batches=batches, next_cursor=last if position < len(keys) else "")

    async def watch(self, batch_id: str) -> KvBatchWatch:
        """Follow one batch document."""
        with _backend(f"watching batch {batch_id}"):
            return await KvBatchWatch.open(self._js, self._kv, f"KV_{self._bucket}", batch_id)

    async def unannounced(self) -> list[Unannounced]:
        """The batches whose announcement is not confirmed, with the age of their mark."""
        now = time.time()
        with _backend("listing unannounced batches"):
            entries = await self._entries(f"{UNANNOUNCED_PREFIX}>")
        return [
            Unannounced(
                batch_id=entry.key.removeprefix(UNANNOUNCED_PREFIX),
                age_s=now - _stored_at(entry),
            )
            for entry in entries
        ]

    async def erase(self, batch_id: str, tombstone: BatchRecord) -> None:
        """Replace the document by `tombstone` (the bucket keeps one revision, so the old one is
        gone) and remove its index key and any announcement mark, leaving none behind."""
        replaced: BatchRecord | None = None

        def replace(doc: BatchRecord | None) -> BatchRecord:
            nonlocal replaced
            replaced = doc  # the document the tombstone replaces (its index key goes too)
            return tombstone

        with _backend(f"erasing batch {batch_id}"):
            await update_document(self._kv, batch_id, BatchRecord, replace, self._cache)
            stream = f"KV_{self._bucket}"
            if replaced is not None:
                subject = f"$KV.{self._bucket}.{index_key(replaced)}"
                await self._js.purge_stream(stream, subject=subject)
            mark = f"$KV.{self._bucket}.{UNANNOUNCED_PREFIX}{batch_id}"
            await self._js.purge_stream(stream, subject=mark)

    async def registered_before(self, cutoff_us: int) -> list[str]:
        """The ids of the batches registered before `cutoff_us` (microseconds since the epoch),
        from the index keys alone."""
        with _backend("listing old batches"):
            keys = [entry.key for entry in await self._entries(f"{INDEX_PREFIX}>")]
        return [_batch_id_of(key) for key in keys if _registered_us(key) < cutoff_us]

    async def mark_announced(self, batch_id: str) -> None:
        """Remove the mark, leaving no tombstone."""
        subject = f"$KV.{self._bucket}.{UNANNOUNCED_PREFIX}{batch_id}"
        with _backend(f"marking batch {batch_id} announced"):
            await self._js.purge_stream(f"KV_{self._bucket}", subject=subject)

    async def _entries(self, pattern: str) -> list[KeyValue.Entry]:
        """The current entries under `pattern`, read through a short-lived KV watch.

        nats-py's end-of-values marker cannot be trusted here: when the server has already
        pushed every value by the time nats-py asks for the consumer's info, the marker is
        queued ahead of values still in flight, and a listing that stopped at it came back
        empty. So the watch's own consumer says how many messages make up the current values
        (delivered + pending), and that many are read, deletes included and then dropped.
        """
        watcher = await self._kv.watch(
            pattern, meta_only=True, inactive_threshold=_WATCH_INACTIVE_THRESHOLD_S
        )
        entries: list[KeyValue.Entry] = []
        try:
            remaining = await _messages_to_read(watcher)
            async with asyncio.timeout(_LIST_TIMEOUT_S):
                while remaining > 0:
                    entry = await _next_update(watcher, _LIST_TIMEOUT_S)
                    if entry is None:  # nats-py's marker, wherever it falls
                        continue
                    remaining -= 1
                    if entry.operation not in (KV_DEL, KV_PURGE):
                        entries.append(entry)
        finally:
            await _stop_quietly(watcher, self._js, f"KV_{self._bucket}")
        return entries


class KvBatchWatch:
    """A batch's document now and after each change, from a KV watch (no polling)."""

    def __init__(
        self, watcher: KeyValue.KeyWatcher, first: KeyValue.Entry, js: JetStreamContext, stream: str
    ) -> None:
        self._watcher = watcher
        self._js = js
        self._stream = stream
        self._first = first
        self._stopped = asyncio.Event()
        self._released = False

    @classmethod
    async def open(cls, js: JetStreamContext, kv: KeyValue, stream: str, key: str) -> KvBatchWatch:
        """Start watching `key` of the bucket behind `stream`; BatchNotFound if it holds no
        document."""
        watcher = await kv.watch(key, inactive_threshold=_WATCH_INACTIVE_THRESHOLD_S)
        try:
            first = await _next_update(watcher, _LIST_TIMEOUT_S)
        except BaseException:
            await _stop_quietly(watcher, js, stream)
            raise
        if first is None:
            # nats-py may queue its end-of-values marker before a value still in flight, so the
            # marker alone does not prove the key is empty: read the key to be sure. A later copy
            # of the same revision from the watch is skipped by revision.
            first = await _current_entry(kv, key)
        if first is None or first.operation in (KV_DEL, KV_PURGE) or not first.value:
            await _stop_quietly(watcher, js, stream)
            raise BatchNotFound(key)
        return cls(watcher, first, js, stream)

    def __aiter__(self) -> AsyncIterator[BatchRecord]:
        return self._states()

    async def _states(self) -> AsyncIterator[BatchRecord]:
        assert self._first.value is not None and self._first.revision is not None
        yield BatchRecord.FromString(self._first.value)
        last = self._first.revision
        while True:
            entry = await self._next_entry()
            if entry is _STOPPED:
                return
            if not isinstance(entry, KeyValue.Entry):
                continue  # the end-of-current-values marker
            if entry.operation in (KV_DEL, KV_PURGE) or not entry.value:
                raise BatchNotFound(entry.key)
            if entry.revision is not None and entry.revision <= last:
                continue
            last = entry.revision or last
            yield BatchRecord.FromString(entry.value)

    async def _next_entry(self) -> object:
        update = asyncio.ensure_future(_next_update(self._watcher, None))
        stopped = asyncio.ensure_future(self._stopped.wait())
        try:
            await asyncio.wait({update, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stopped.cancel()
            if not update.done():
                update.cancel()
        if update.cancelled() or self._stopped.is_set():
            return _STOPPED
        result = update.result()
        return _STOPPED if isinstance(result, type(KeyValue.KeyWatcher.STOP_ITER)) else result

    async def stop(self) -> None:
        """End the iteration and release the KV watch."""
        self._stopped.set()
        if not self._released:
            self._released = True
            await _stop_quietly(self._watcher, self._js, self._stream)


_STOPPED = object()


async def _stop_quietly(watcher: KeyValue.KeyWatcher, js: JetStreamContext, stream: str) -> None:
    """Stop the watch and delete its ephemeral consumer. Left to expire, each listing's and each
    WatchBatch's consumer would count against the stream's consumer limit (1,000 by default)
    for the inactive threshold, and a busy BOS would run into it. The connection may already be
    closing: then the threshold removes the consumer."""
    consumer = watch_consumer_name(watcher)
    with contextlib.suppress(nats.errors.Error):
        await watcher.stop()  # type: ignore[no-untyped-call]
    if consumer:
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await js.delete_consumer(stream, consumer)


async def _current_entry(kv: KeyValue, key: str) -> KeyValue.Entry | None:
    try:
        return await kv.get(key)
    except NotFoundError:
        return None


async def _messages_to_read(watcher: KeyValue.KeyWatcher) -> int:
    """How many messages the watch's consumer has delivered and has still to deliver."""
    subscription = watch_subscription(watcher)
    if subscription is None:
        return 0
    info = await subscription.consumer_info()
    delivered = info.delivered.consumer_seq if info.delivered is not None else 0
    return (delivered or 0) + (info.num_pending or 0)


async def _next_update(watcher: KeyValue.KeyWatcher, timeout_s: float | None) -> Any:
    return await watcher.updates(timeout=timeout_s)  # type: ignore[no-untyped-call]


def _stored_at(entry: KeyValue.Entry) -> float:
    # nats-py fills `created` with the stored time as a datetime, though it is annotated int.
    created: object = entry.created
    if isinstance(created, datetime):
        return created.timestamp()
    return time.time()
