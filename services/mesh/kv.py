"""The one KV helper: read-modify-write of a protobuf document by compare-and-set, with a cache
of this process's last revision of each document and a group commit for hot documents."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.mesh.nats_internals import bucket_context, update_with_ttl
from services.mesh.storage_health import storage_health

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
# Seconds after which a written revision expires, or None to keep it (see update_document).
TtlOf = Callable[[M], float | None]
_MAX_ATTEMPTS = 200
_FIRST_PAUSE_S = 0.002
_LONGEST_PAUSE_S = 0.25
DEFAULT_CACHED_DOCUMENTS = 1024


class UpdateConflictError(RuntimeError):
    """The document kept changing under us for every attempt."""


@dataclass(frozen=True)
class UpdateResult(Generic[M]):
    """The document after the update, its revision, and whether this call changed it."""

    doc: M | None
    revision: int
    changed: bool


class DocumentCache:
    """The latest revision of each document this process read or wrote, for the
    `max_entries` keys used last. One cache per bucket.

    A cached revision is only ever the `last` of a compare-and-set, never an answer to a read:
    when someone else wrote (or deleted) the key since, the server refuses the write and the
    document is read again, so a stale entry costs a round trip and nothing else.
    """

    def __init__(self, max_entries: int = DEFAULT_CACHED_DOCUMENTS) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, not {max_entries}")
        self._max_entries = max_entries
        self._entries: OrderedDict[str, tuple[bytes, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: str) -> tuple[bytes, int] | None:
        """The serialized document and its revision, or None."""
        entry = self._entries.get(key)
        if entry is not None:
            self._entries.move_to_end(key)
        return entry

    def keep(self, key: str, payload: bytes, revision: int) -> None:
        """Remember a stored document, unless a later revision of it is remembered already
        (a read that was overtaken by a write of this process)."""
        known = self._entries.get(key)
        if known is not None and known[1] > revision:
            return
        self._entries[key] = (payload, revision)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def forget(self, key: str, revision: int | None = None) -> None:
        """Drop the key's entry; with `revision`, only if that is the revision remembered."""
        known = self._entries.get(key)
        if known is not None and (revision is None or known[1] == revision):
            del self._entries[key]


async def read_document(kv: KeyValue, key: str, message_type: type[M]) -> tuple[M, int] | None:
    """The document stored under `key` and its revision, or None."""
    found = await _read_stored(kv, key)
    return None if found is None else (message_type.FromString(found[0]), found[1])


async def _read_stored(kv: KeyValue, key: str) -> tuple[bytes, int] | None:
    try:
        entry = await kv.get(key)
    except (KeyNotFoundError, KeyDeletedError):
        return None
    if entry.revision is None:
        return None
    # A document with every field at its default is stored as an empty value, which nats-py
    # hands back as None: it is still there, at this revision.
    return entry.value or b"", entry.revision


async def update_document(
    kv: KeyValue,
    key: str,
    message_type: type[M],
    mutate: Callable[[M | None], M | None],
    cache: DocumentCache | None = None,
    *,
    ttl_of: TtlOf[M] | None = None,
) -> UpdateResult[M]:
    """Apply `mutate` to the current document and store it only if nobody wrote in between.

    `mutate` gets a fresh copy (None when absent) and returns the new document, or None for no
    change. It may run several times, so it must not have side effects beyond its return value.
    With a `cache`, the first attempt applies `mutate` to the cached document and writes against
    its revision without reading; anything but a successful write is then judged again on a
    fresh read. With `ttl_of`, a written revision the function gives seconds for expires after
    them (JetStream's per-message TTL: the bucket must allow it); None keeps it.
    """
    conflicts_so_far = 0
    if cache is not None:
        cached = await _update_cached(kv, key, message_type, mutate, cache, ttl_of=ttl_of)
        if isinstance(cached, UpdateResult):
            return cached
        conflicts_so_far = int(cached)
    # Every pass that does not return is a conflict (a conflicted cached write is the first).
    for conflicts in range(conflicts_so_far, _MAX_ATTEMPTS):
        current = await _read_stored(kv, key)
        if cache is not None:
            if current is None:
                cache.forget(key)
            else:
                cache.keep(key, *current)
        doc = None if current is None else message_type.FromString(current[0])
        revision = 0 if current is None else current[1]
        updated = mutate(doc)
        if updated is None:
            return UpdateResult(doc=doc, revision=revision, changed=False)
        payload = updated.SerializeToString(deterministic=True)
        ttl = ttl_of(updated) if ttl_of is not None else None
        try:
            with _watch_storage(kv):
                if current is None:
                    new_revision = await kv.create(key, payload, msg_ttl=ttl)
                else:
                    new_revision = await _update(kv, key, payload, revision, ttl)
        except KeyWrongLastSequenceError:
            pass
        except KeyNotFoundError:
            # A create that lost the race on a replicated bucket: the leader refuses it while
            # the winner's write is still being replicated, and nats-py's create() then looks
            # the key up, finds nothing yet and raises KeyNotFoundError. A conflict all the same.
            if current is not None:
                raise
        else:
            if cache is not None:
                cache.keep(key, payload, new_revision)
            return UpdateResult(doc=updated, revision=new_revision, changed=True)
        log.debug("compare-and-set conflict; reading again", extra={"key": key})
        await asyncio.sleep(conflict_pause(conflicts))
    raise UpdateConflictError(f"{key}: gave up after {_MAX_ATTEMPTS} compare-and-set conflicts")


async def _update(kv: KeyValue, key: str, payload: bytes, last: int, ttl: float | None) -> int:
    """Compare-and-set `payload` over revision `last`, expiring after `ttl` seconds if given."""
    if ttl is None:
        return await kv.update(key, payload, last=last)
    return await update_with_ttl(kv, key, payload, last=last, msg_ttl=ttl)


async def _update_cached(
    kv: KeyValue,
    key: str,
    message_type: type[M],
    mutate: Callable[[M | None], M | None],
    cache: DocumentCache,
    *,
    ttl_of: TtlOf[M] | None,
) -> UpdateResult[M] | bool:
    """The update written against the cached revision, or whether trying it met a conflict.

    Only a change is trusted to the cache: "no change" and a refusal (an exception) may come
    from a stale copy, so both are left to the read that follows. Nothing is created from the
    cache either, since it only holds documents that were there; a key deleted since makes the
    write fail like any other change."""
    cached = cache.get(key)
    if cached is None:
        return False
    payload, revision = cached
    try:
        updated = mutate(message_type.FromString(payload))
    except Exception:  # judged on a copy that may be stale: `mutate` runs again on a fresh read
        cache.forget(key, revision)
        return False
    if updated is None:
        return False
    new_payload = updated.SerializeToString(deterministic=True)
    ttl = ttl_of(updated) if ttl_of is not None else None
    try:
        with _watch_storage(kv):
            new_revision = await _update(kv, key, new_payload, revision, ttl)
    except KeyWrongLastSequenceError:
        cache.forget(key, revision)
        log.debug("compare-and-set conflict on a cached revision; reading", extra={"key": key})
        return True
    except BaseException:  # the write may have landed: the revision is unknown now
        cache.forget(key, revision)
        raise
    cache.keep(key, new_payload, new_revision)
    return UpdateResult(doc=updated, revision=new_revision, changed=True)


@dataclass
class _Pending(Generic[M]):
    mutate: Callable[[M | None], M | None]
    done: asyncio.Future[UpdateResult[M]]
    error: Exception | None = None
    doc: M | None = None
    changed: bool = False


class GroupCommitter(Generic[M]):
    """Updates of the documents of one bucket, by compare-and-set, where updates of one key that
    arrive while one is being written are applied together by the next write (group commit).

    Compare-and-set keeps instances correct; inside one, a burst of updates of a hot document
    costs one write instead of a queue of compare-and-set races. Each caller gets its own
    outcome, as if the updates had been written one by one in the order they came: the document
    as its `mutate` left it, whether that changed it, and its own exception.

    Each update is given its own copy of the document. With `lone_in_place`, an update alone in
    its group is given the document itself, parsed for that attempt only: a copy of a large
    document costs as much as parsing it, and most updates of a document come alone. Only for
    updates that change the document they are given solely when they return it (a failed or
    "no change" update leaves it as it was), since the caller is handed that document.
    """

    def __init__(
        self,
        kv: KeyValue,
        message_type: type[M],
        cache: DocumentCache | None = None,
        ttl_of: TtlOf[M] | None = None,
        *,
        lone_in_place: bool = False,
    ) -> None:
        self._kv = kv
        self._message_type = message_type
        self._cache = cache
        self._ttl_of = ttl_of
        self._lone_in_place = lone_in_place
        self._queues: dict[str, list[_Pending[M]]] = {}
        self._writers: set[asyncio.Task[None]] = set()

    async def update(self, key: str, mutate: Callable[[M | None], M | None]) -> UpdateResult[M]:
        """Apply `mutate` (pure; it may run several times, like update_document's) to the
        document under `key`, together with the other updates of `key` waiting by then."""
        pending: _Pending[M] = _Pending(mutate, asyncio.get_running_loop().create_future())
        queue = self._queues.get(key)
        if queue is not None:  # the key's writer is busy: it takes this update next
            queue.append(pending)
        else:
            self._queues[key] = [pending]
            writer = asyncio.create_task(self._drain(key))
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        return await pending.done

    async def _drain(self, key: str) -> None:
        try:
            while self._queues[key]:
                queued, self._queues[key] = self._queues[key], []
                # A caller cancelled while waiting has given up on its update: leave it out.
                group = [item for item in queued if not item.done.done()]
                if group:
                    await self._write(key, group)
        finally:
            _fail_unanswered(self._queues.pop(key), RuntimeError("group commit writer stopped"))

    async def _write(self, key: str, group: list[_Pending[M]]) -> None:
        """One compare-and-set for the whole group; each caller gets its own outcome."""

        in_place = self._lone_in_place and len(group) == 1

        def combined(doc: M | None) -> M | None:
            current, changed = doc, False
            for item in group:
                item.error, item.changed = None, False
                attempt = current if current is None or in_place else _copy(current)
                try:
                    result = item.mutate(attempt)
                except Exception as error:  # this update's failure is its caller's alone
                    item.error = error
                    continue
                if result is not None:
                    current, changed, item.changed = result, True, True
                item.doc = current
            return current if changed else None

        try:
            result = await update_document(
                self._kv, key, self._message_type, combined, self._cache, ttl_of=self._ttl_of
            )
        except asyncio.CancelledError:
            for item in group:
                item.done.cancel()
            raise
        except Exception as error:  # e.g. NATS unavailable: every caller of the group retries
            _fail_unanswered(group, error)
            return
        for item in group:
            if item.done.done():  # its caller was cancelled meanwhile
                continue
            if item.error is not None:
                item.done.set_exception(item.error)
            else:
                item.done.set_result(UpdateResult(item.doc, result.revision, item.changed))


def _fail_unanswered(group: list[_Pending[M]], error: BaseException) -> None:
    for item in group:
        if not item.done.done():
            item.done.set_exception(error)


def _copy(doc: M) -> M:
    copy = type(doc)()
    copy.CopyFrom(doc)
    return copy


def _watch_storage(kv: KeyValue) -> AbstractContextManager[None]:
    """Reports a write to the bucket to the storage health of the service writing it."""
    js, stream = bucket_context(kv)
    return storage_health(js).watch(stream)


def conflict_pause(conflicts: int) -> float:
    """How long to wait before reading again after `conflicts` earlier conflicts in a row. None
    after the first: another writer won a plain race and its write is in. Then doubling from
    2 ms to 250 ms, with jitter so that the losers do not collide again in step: on a replicated
    bucket the leader refuses every write to a key while one is still being replicated, and
    reading again at once shows the old revision until that write commits (a second or more when
    a follower's disk is slow, or during an election), which 200 immediate retries would not
    outlast."""
    if conflicts == 0:
        return 0.0
    ceiling = min(_FIRST_PAUSE_S * 2 ** (conflicts - 1), _LONGEST_PAUSE_S)
    return random.uniform(ceiling / 2, ceiling)
