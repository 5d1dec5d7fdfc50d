"""The tracker repository and the essay index on JetStream KV buckets."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import TypeVar

import nats.errors
from google.protobuf.message import Message
from nats.aio.client import Client as NATS
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from huleedu.internal.els.v1 import essay_state_pb2
from services.essay_lifecycle.domain.errors import StoreUnavailableError
from services.essay_lifecycle.domain.ports import BatchTracker, EssayRecord, Mutation
from services.essay_lifecycle.domain.tracker import is_valid_id, observe_stored
from services.mesh.atomic_batch import every_result, kv_entry, store_together
from services.mesh.kv import DocumentCache, GroupCommitter, read_document

M = TypeVar("M", bound=Message)
BATCHES_BUCKET = "els_batches"
ESSAYS_BUCKET = "els_essays"


async def _read(kv: KeyValue, key: str, message_type: type[M]) -> M | None:
    try:
        found = await read_document(kv, key, message_type)
    except (nats.errors.Error, TimeoutError) as error:
        raise StoreUnavailableError(f"reading {key}: {error!r}") from error
    return None if found is None else found[0]


class KvTrackerRepository:
    """BatchTracker documents in `els_batches`, one per batch id, updated by compare-and-set;
    with `unregistered_hold_s`, a tracker of a batch not yet registered expires (the bucket must
    allow per-message TTLs: ensure_kv's `message_ttls`).

    Compare-and-set keeps instances correct. Inside one instance, updates of the same batch that
    arrive while one is being written are applied together by the next write (group commit): the
    events of one batch come in bursts, and one write for a burst beats a queue of CAS races.
    """

    def __init__(
        self,
        kv: KeyValue,
        cache: DocumentCache | None = None,
        *,
        unregistered_hold_s: float | None = None,
        tombstone_s: float | None = None,
    ) -> None:
        self._kv = kv
        self._unregistered_hold_s = unregistered_hold_s
        self._tombstone_s = tombstone_s
        self._committer = GroupCommitter(
            kv,
            essay_state_pb2.BatchTracker,
            cache if cache is not None else DocumentCache(),
            ttl_of=self._ttl_of,
            # The domain's steps change a tracker only to return it (they refuse, or find nothing
            # to do, before changing anything; erasure's work on their own copy).
            lone_in_place=True,
        )

    def _ttl_of(self, tracker: BatchTracker) -> float | None:
        """A tracker that only holds uploads (its batch not registered here) expires
        `unregistered_hold_s` after its last write, held uploads and all: nothing holds them
        forever for a batch that never registers. An erased batch's tombstone, once nothing is
        pending, expires `tombstone_s` after its last write: by then no event of the batch is
        left to arrive. A registered tracker is kept."""
        if tracker.erased and not tracker.pending_erasure:
            return self._tombstone_s
        return None if tracker.registered else self._unregistered_hold_s

    async def update(self, batch_id: str, mutate: Mutation) -> BatchTracker | None:
        """Apply `mutate` by compare-and-set and return the tracker as it left it."""
        tracker = (await self._committer.update(batch_id, mutate)).doc
        if tracker is not None:
            observe_stored(tracker)  # its resolved slots are stored: the index may learn them
        return tracker

    async def get(self, batch_id: str) -> BatchTracker | None:
        """The tracker of `batch_id`, or None (also for ids that cannot be keys)."""
        if not is_valid_id(batch_id):
            return None
        return await _read(self._kv, batch_id, essay_state_pb2.BatchTracker)


class KvEssayIndex:
    """EssayRecord documents in `els_essays`, keyed by essay id."""

    def __init__(self, kv: KeyValue, nc: NATS) -> None:
        self._kv = kv
        self._nc = nc

    async def add(self, batch_id: str, essay_ids: Sequence[str]) -> None:
        """Create a record per essay; records that exist are kept. A batch's records are created
        by one atomic batch (one commit for all); when one exists already (a redelivered
        registration), the batch is refused and each is created alone."""
        payload = EssayRecord(batch_id=batch_id).SerializeToString()
        creates = [
            [kv_entry(ESSAYS_BUCKET, essay_id, payload, create=True)] for essay_id in essay_ids
        ]
        every_result(
            await store_together(
                self._nc,
                creates,
                alone=lambda index: self._create(essay_ids[index], payload),
                together=lambda _where, _index: None,
            )
        )

    async def _create(self, essay_id: str, payload: bytes) -> None:
        # A record that exists came from an earlier delivery of the registration: keep it.
        with contextlib.suppress(KeyWrongLastSequenceError):
            await self._kv.create(essay_id, payload)

    async def erase(self, batch_id: str, essay_ids: Sequence[str], *, whole_batch: bool) -> None:
        """With the whole batch, its essays' records go (a purge, which drops every revision);
        an erased essay of a batch that stays keeps its record (its batch id only), so GetEssay
        still finds its ERASED slot."""
        if not whole_batch:
            return
        for essay_id in essay_ids:
            if is_valid_id(essay_id):
                await self._kv.purge(essay_id)

    async def get(self, essay_id: str) -> EssayRecord | None:
        """The record of `essay_id`, or None (also for ids that cannot be keys)."""
        if not is_valid_id(essay_id):
            return None
        return await _read(self._kv, essay_id, essay_state_pb2.EssayRecord)
