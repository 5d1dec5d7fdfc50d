"""Many messages to one stream stored by one commit: JetStream's atomic batch publish
(nats-server 2.12 and later, on streams created with allow_atomic).

Every stored message costs nats-server an fsync (`sync_interval: always`) and its publisher a
round trip for the ack. A batch is sent without waiting and acknowledged once, by its commit,
and costs about four fsyncs however many messages it holds (measured on nats-server 2.15: 1,000
messages took 200 ms of the server's CPU one by one and 70 ms in batches of 25; batches of two
cost more than single messages). So a batch is used only from MIN_MESSAGES up.

A batch is stored all or nothing: the stream refuses the whole batch when any message in it would
be refused alone (an expected last sequence that does not hold, a message id already stored).
The messages are then stored one by one by the caller's own code for one message, which meets
each refusal where it belongs (a duplicate is dropped, a conflict is settled), exactly as it did
before batches existed. A commit that is not answered may or may not have been stored: the
messages go again one by one too, which is safe because every one-by-one path here is idempotent.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import nats.errors
from nats.aio.client import Client as NATS
from nats.js.errors import APIError

from services.mesh.batching import CallBatcher

log = logging.getLogger(__name__)

T = TypeVar("T")

HEADER_BATCH_ID = "Nats-Batch-Id"
HEADER_BATCH_SEQUENCE = "Nats-Batch-Sequence"
HEADER_BATCH_COMMIT = "Nats-Batch-Commit"
# Fewer messages than this go one by one: a commit costs about as much as four single messages.
MIN_MESSAGES = 8
# nats-server takes at most 1,000 messages per batch; smaller batches keep one refusal cheap.
MAX_MESSAGES = 200
COMMIT_TIMEOUT_S = 5.0
_NO_LIMIT = 1 << 30


@dataclass(frozen=True)
class Outgoing:
    """One message to store: its subject, payload and headers."""

    subject: str
    payload: bytes
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BatchAck:
    """Where the stream stored a batch: its messages have sequences first_seq, first_seq + 1, …"""

    stream: str
    first_seq: int
    count: int


@dataclass(frozen=True)
class Stored:
    """Where the stream stored one message of a batch."""

    stream: str
    seq: int


def kv_entry(bucket: str, key: str, value: bytes, *, create: bool = False) -> Outgoing:
    """A KV put as a message for a batch; a create (`create`) is stored only while the key has no
    value."""
    headers = {"Nats-Expected-Last-Subject-Sequence": "0"} if create else {}
    return Outgoing(f"$KV.{bucket}.{key}", value, headers)


def kv_key_of(bucket: str, entry: Outgoing) -> str:
    """The key a `kv_entry` of `bucket` writes."""
    return entry.subject.removeprefix(f"$KV.{bucket}.")


async def publish_batch(
    nc: NATS, messages: Sequence[Outgoing], *, timeout_s: float = COMMIT_TIMEOUT_S
) -> BatchAck:
    """Store `messages` (on subjects of one stream that allows atomic publish) in order, all or
    none. Raises APIError when the stream refused the batch, and nats' TimeoutError or
    NoRespondersError when the commit was not answered (stored or not: unknown)."""
    if not messages:
        raise ValueError("an atomic batch needs at least one message")
    batch_id = uuid.uuid4().hex
    *body, last = messages
    for sequence, message in enumerate(body, start=1):
        headers = {
            **message.headers,
            HEADER_BATCH_ID: batch_id,
            HEADER_BATCH_SEQUENCE: str(sequence),
        }
        await nc.publish(message.subject, message.payload, headers=headers)
    commit = {
        **last.headers,
        HEADER_BATCH_ID: batch_id,
        HEADER_BATCH_SEQUENCE: str(len(messages)),
        HEADER_BATCH_COMMIT: "1",
    }
    reply = await nc.request(last.subject, last.payload, timeout=timeout_s, headers=commit)
    answer = json.loads(reply.data or b"{}")
    if "error" in answer:
        APIError.from_error(answer["error"])  # raises the error JetStream answered
    count = int(answer.get("count", 0))
    if count != len(messages):
        raise APIError(description=f"the stream stored {count} of a batch of {len(messages)}")
    return BatchAck(stream=answer["stream"], first_seq=int(answer["seq"]) - count + 1, count=count)


async def store_together(
    nc: NATS,
    units: Sequence[Sequence[Outgoing]],
    alone: Callable[[int], Awaitable[T]],
    together: Callable[[Stored, int], T],
) -> list[T | BaseException]:
    """Store `units` (each one or more messages that belong together, such as an object's chunk
    and its meta message) in atomic batches when they add up to enough messages; otherwise, and
    for a batch that was refused or not answered, store each unit by `alone(index)`,
    concurrently. The result of each unit, in order: `together(where its last message is,
    index)` for one stored in a batch, what `alone` returned or raised for the others."""
    results: list[T | BaseException] = []
    for part in _parts(units):
        results.extend(await _store_part(nc, units, part, alone, together))
    return results


def every_result(results: Sequence[T | BaseException]) -> list[T]:
    """The results of `store_together`, or the first failure among them, raised."""
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [result for result in results if not isinstance(result, BaseException)]


def _parts(units: Sequence[Sequence[Outgoing]]) -> list[range]:
    """Consecutive ranges of units of at most MAX_MESSAGES messages each (a larger unit alone)."""
    parts: list[range] = []
    first, messages = 0, 0
    for index, unit in enumerate(units):
        if messages and messages + len(unit) > MAX_MESSAGES:
            parts.append(range(first, index))
            first, messages = index, 0
        messages += len(unit)
    if first < len(units):
        parts.append(range(first, len(units)))
    return parts


async def _store_part(
    nc: NATS,
    units: Sequence[Sequence[Outgoing]],
    part: range,
    alone: Callable[[int], Awaitable[T]],
    together: Callable[[Stored, int], T],
) -> list[T | BaseException]:
    messages = [message for index in part for message in units[index]]
    if MIN_MESSAGES <= len(messages) <= MAX_MESSAGES:
        try:
            ack = await publish_batch(nc, messages)
        except (APIError, nats.errors.TimeoutError, nats.errors.NoRespondersError) as error:
            log.info(
                "atomic batch not stored; storing its messages one by one: %r",
                error,
                extra={"messages": len(messages), "subject": messages[0].subject},
            )
        else:
            results: list[T | BaseException] = []
            seq = ack.first_seq - 1
            for index in part:
                seq += len(units[index])
                results.append(together(Stored(ack.stream, seq), index))
            return results
    return await asyncio.gather(*(alone(index) for index in part), return_exceptions=True)


class TurnBatcher(Generic[T]):
    """Stores the messages handed to it in one turn of the event loop together (store_together):
    concurrent handlers that reach the same step at once (the spell-check requests of a command,
    the completions of essays checked together) then share one commit. A lone message waits one
    turn of the loop, nothing more. `alone` stores one message the one-by-one way; `together`
    makes its result from where a batch stored it."""

    def __init__(
        self,
        nc: NATS,
        alone: Callable[[Outgoing], Awaitable[T]],
        together: Callable[[Stored], T],
    ) -> None:
        self._nc = nc
        self._alone = alone
        self._together = together
        # store_together cuts what it gets into batches of at most MAX_MESSAGES itself.
        self._turns = CallBatcher(self._store_all, window_s=0.0, max_items=_NO_LIMIT)

    async def store(self, message: Outgoing) -> T:
        """Store `message` with the others of this turn; its own result or error."""
        return await self._turns.call(message)

    async def _store_all(self, messages: Sequence[Outgoing]) -> list[T | BaseException]:
        return await store_together(
            self._nc,
            [[message] for message in messages],
            alone=lambda index: self._alone(messages[index]),
            together=lambda where, _index: self._together(where),
        )
