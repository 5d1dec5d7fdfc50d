"""The one KV helper: read-modify-write of a protobuf document by compare-and-set."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

from google.protobuf.message import Message
from nats.js.errors import KeyDeletedError, KeyNotFoundError, KeyWrongLastSequenceError
from nats.js.kv import KeyValue

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)
_MAX_ATTEMPTS = 200


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
    if entry.value is None or entry.revision is None:
        return None
    return message_type.FromString(entry.value), entry.revision


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
    lost_creates = 0
    for _ in range(_MAX_ATTEMPTS):
        current = await read_document(kv, key, message_type)
        doc, revision = current if current is not None else (None, 0)
        updated = mutate(doc)
        if updated is None:
            return UpdateResult(doc=doc, revision=revision, changed=False)
        payload = updated.SerializeToString(deterministic=True)
        try:
            if current is None:
                new_revision = await kv.create(key, payload)
            else:
                new_revision = await kv.update(key, payload, last=revision)
        except KeyWrongLastSequenceError:
            continue
        except KeyNotFoundError:
            # A create that lost the race on a replicated bucket: the leader refuses it while
            # the winner's write is still being replicated, and nats-py's create() then looks
            # the key up, finds nothing yet and raises KeyNotFoundError. A conflict all the same,
            # but one that lasts until the winner's write commits (seconds during an election):
            # back off instead of spending every attempt at once.
            if current is not None:
                raise
            await asyncio.sleep(min(0.005 * 2**lost_creates, 0.5))
            lost_creates += 1
            continue
        return UpdateResult(doc=updated, revision=new_revision, changed=True)
    raise UpdateConflictError(f"{key}: gave up after {_MAX_ATTEMPTS} compare-and-set conflicts")
