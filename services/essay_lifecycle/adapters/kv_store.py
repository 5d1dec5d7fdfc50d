"""The tracker repository and the essay index on JetStream KV buckets."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

import nats.errors
from google.protobuf.message import Message
from nats.js.errors import KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_state_pb2
from services.essay_lifecycle.domain.errors import StoreUnavailableError
from services.essay_lifecycle.domain.ports import BatchTracker, EssayRecord, Mutation
from services.essay_lifecycle.domain.tracker import is_valid_id
from services.mesh.kv import read_document, update_document

M = TypeVar("M", bound=Message)
BATCHES_BUCKET = "els_batches"
ESSAYS_BUCKET = "els_essays"


async def _read(kv: KeyValue, key: str, message_type: type[M]) -> M | None:
    try:
        found = await read_document(kv, key, message_type)
    except (nats.errors.Error, TimeoutError) as error:
        raise StoreUnavailableError(f"reading {key}: {error!r}") from error
    return None if found is None else found[0]


@dataclass
class _Pending:
    mutate: Mutation
    done: asyncio.Future[BatchTracker | None]
    error: BaseException | None = None


class KvTrackerRepository:
    """BatchTracker documents in `els_batches`, one per batch id, updated by compare-and-set.

    Compare-and-set keeps instances correct. Inside one instance, updates of the same batch that
    arrive while one is being written are applied together by the next write (group commit): the
    events of one batch come in bursts, and one write for a burst beats a queue of CAS races.
    """

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv
        self._queues: dict[str, list[_Pending]] = {}
        self._writers: set[asyncio.Task[None]] = set()

    async def update(self, batch_id: str, mutate: Mutation) -> BatchTracker | None:
        """Apply `mutate` by compare-and-set and return the stored tracker."""
        pending = _Pending(mutate, asyncio.get_running_loop().create_future())
        queue = self._queues.get(batch_id)
        if queue is not None:  # the batch's writer is busy: it takes this update next
            queue.append(pending)
        else:
            self._queues[batch_id] = [pending]
            writer = asyncio.create_task(self._drain(batch_id))
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        return await pending.done

    async def _drain(self, batch_id: str) -> None:
        try:
            while self._queues[batch_id]:
                group, self._queues[batch_id] = self._queues[batch_id], []
                await self._write(batch_id, group)
        finally:
            _fail_unanswered(self._queues.pop(batch_id), RuntimeError("tracker writer stopped"))

    async def _write(self, batch_id: str, group: list[_Pending]) -> None:
        """One compare-and-set for the whole group; each caller gets its own outcome."""

        def combined(doc: BatchTracker | None) -> BatchTracker | None:
            current, changed = doc, False
            for item in group:
                item.error = None
                attempt = None if current is None else _copy(current)
                try:
                    result = item.mutate(attempt)
                except Exception as error:  # this event's failure is its handler's alone
                    item.error = error
                    continue
                if result is not None:
                    current, changed = result, True
            return current if changed else None

        try:
            result = await update_document(
                self._kv, batch_id, essay_state_pb2.BatchTracker, combined
            )
        except asyncio.CancelledError:
            for item in group:
                item.done.cancel()
            raise
        except Exception as error:  # e.g. NATS unavailable: every handler of the group retries
            _fail_unanswered(group, error)
            return
        for item in group:
            if item.done.done():  # its handler was cancelled meanwhile
                continue
            if item.error is not None:
                item.done.set_exception(item.error)
            else:
                item.done.set_result(result.doc)

    async def get(self, batch_id: str) -> BatchTracker | None:
        """The tracker of `batch_id`, or None (also for ids that cannot be keys)."""
        if not is_valid_id(batch_id):
            return None
        return await _read(self._kv, batch_id, essay_state_pb2.BatchTracker)


def _fail_unanswered(group: list[_Pending], error: BaseException) -> None:
    for item in group:
        if not item.done.done():
            item.done.set_exception(error)


def _copy(doc: BatchTracker) -> BatchTracker:
    copy = essay_state_pb2.BatchTracker()
    copy.CopyFrom(doc)
    return copy


class KvEssayIndex:
    """EssayRecord documents in `els_essays`, keyed by essay id."""

    def __init__(self, kv: KeyValue) -> None:
        self._kv = kv

    async def add(self, batch_id: str, essay_ids: Sequence[str]) -> None:
        """Create a record per essay; records that exist are kept (they may hold corrections)."""
        payload = EssayRecord(batch_id=batch_id).SerializeToString()
        await asyncio.gather(*(self._create(essay_id, payload) for essay_id in essay_ids))

    async def _create(self, essay_id: str, payload: bytes) -> None:
        # A record that exists came from an earlier delivery of the registration: keep it.
        with contextlib.suppress(KeyWrongLastSequenceError):
            await self._kv.create(essay_id, payload)

    async def save_corrections(
        self, batch_id: str, essay_id: str, corrections: Sequence[common_pb2.Correction]
    ) -> None:
        """Store the essay's record with its corrections (the same value on every redelivery)."""
        record = EssayRecord(batch_id=batch_id, corrections=list(corrections))
        await self._kv.put(essay_id, record.SerializeToString())

    async def get(self, essay_id: str) -> EssayRecord | None:
        """The record of `essay_id`, or None (also for ids that cannot be keys)."""
        if not is_valid_id(essay_id):
            return None
        return await _read(self._kv, essay_id, essay_state_pb2.EssayRecord)
