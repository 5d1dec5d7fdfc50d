"""The one KV helper: read-modify-write of a protobuf document by compare-and-set."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

from services.mesh.storage_health import storage_health

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
_MAX_ATTEMPTS = 200
_FIRST_PAUSE_S = 0.002
_LONGEST_PAUSE_S = 0.25


class UpdateConflictError(RuntimeError):
    """The document kept changing under us for every attempt."""


@dataclass(frozen=True)
class UpdateResult(Generic[M]):
    """The document after the update, its revision, and whether this call changed it."""

    doc: M | None
    revision: int
    changed: bool


async def read_document(kv: KeyValue, key: str, message_type: type[M]) -> tuple[M, int] | None:
    """The document stored under `key` and its revision, or None."""
    try:
        entry = await kv.get(key)
    except (KeyNotFoundError, KeyDeletedError):
        return None
    if entry.revision is None:
        return None
    # A document with every field at its default is stored as an empty value, which nats-py
    # hands back as None: it is still there, at this revision.
    return message_type.FromString(entry.value or b""), entry.revision


async def update_document(
    kv: KeyValue,
    key: str,
    message_type: type[M],
    mutate: Callable[[M | None], M | None],
) -> UpdateResult[M]:
    """Apply `mutate` to the current document and store it only if nobody wrote in between.

    `mutate` gets a fresh copy (None when absent) and returns the new document, or None for no
    change. It may run several times, so it must not have side effects beyond its return value.
    """
    for conflicts in range(_MAX_ATTEMPTS):  # every pass that does not return is a conflict
        current = await read_document(kv, key, message_type)
        doc, revision = current if current is not None else (None, 0)
        updated = mutate(doc)
        if updated is None:
            return UpdateResult(doc=doc, revision=revision, changed=False)
        payload = updated.SerializeToString(deterministic=True)
        try:
            with _watch_storage(kv):
                if current is None:
                    new_revision = await kv.create(key, payload)
                else:
                    new_revision = await kv.update(key, payload, last=revision)
        except KeyWrongLastSequenceError:
            pass
        except KeyNotFoundError:
            # A create that lost the race on a replicated bucket: the leader refuses it while
            # the winner's write is still being replicated, and nats-py's create() then looks
            # the key up, finds nothing yet and raises KeyNotFoundError. A conflict all the same.
            if current is not None:
                raise
        else:
            return UpdateResult(doc=updated, revision=new_revision, changed=True)
        log.debug("compare-and-set conflict; reading again", extra={"key": key})
        await asyncio.sleep(conflict_pause(conflicts))
    raise UpdateConflictError(f"{key}: gave up after {_MAX_ATTEMPTS} compare-and-set conflicts")


def _watch_storage(kv: KeyValue) -> AbstractContextManager[None]:
    """Reports a write to the bucket to the storage health of the service writing it. nats-py
    keeps the bucket's JetStream context and stream (`KV_<bucket>`) private, with no public way
    to either."""
    return storage_health(kv._js).watch(kv._stream)


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
