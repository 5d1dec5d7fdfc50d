"""What a service learns when JetStream stores none of its writes (a full store or a full disk),
and the part of its gRPC health that says so (a `Stallable` for `GrpcServer.follow`).

Every write of the mesh runtime (an event, a KV document, a content object) runs inside
`storage_health(js).watch(stream)`. nats-server 2.15.1 (reproduced on a small tmpfs) answers a
write it cannot store in one of two ways:

* refused, with an error code: 10023 "insufficient resources" once the server's max_file_store is
  reached, 10077 "maximum bytes exceeded" from a stream at its own max_bytes (discard new), 10051
  with the operating system's error (e.g. "no space left on device") when the disk itself is
  full. The limits clear by themselves once data is deleted.
* unanswered: after the disk was full once, the stream's file store keeps a "critical write
  error" and drops every write without an answer, even after space is freed, until nats-server
  restarts; JetStream still answers everything else about the stream.

A refused write faults its stream at once. An unanswered one may as well be a server that died
or a lost connection, so a probe checks it: an empty message written to the stream (on a subject
nobody reads, which keeps only its latest message) that also goes unanswered while JetStream
answers for the stream faults it. While any stream is faulted the service answers NOT_SERVING,
its log names the stream and the fix, and the probe runs every PROBE_INTERVAL_S; the first write
that is stored, the probe's or the service's own, clears the fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import weakref
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import Any

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import APIError

from services.mesh.metrics import STORAGE_UNAVAILABLE

log = logging.getLogger(__name__)

PROBE_INTERVAL_S = 2.0
# JetStream's own limit: max_file_store reached (10023), or a stream's reservation (10047).
LIMIT_CODES = frozenset({10023, 10047})
STREAM_MAX_BYTES = 10077
# The store itself failed; the description carries the operating system's error.
STORE_FAILED = 10051
STORAGE_CODES = LIMIT_CODES | {STREAM_MAX_BYTES, STORE_FAILED}
_PROBE_TOKEN = "storage_probe"

RESTART_FIX = (
    "free space on the disk that holds the JetStream store, then restart nats-server (local "
    "stack: `make down && make up`; docker compose: `docker compose restart nats`): a stream "
    "whose store failed on a full disk stores nothing until nats-server restarts"
)
LIMIT_FIX = (
    "delete data JetStream holds (e.g. old batches' content) or raise its limit "
    "(NATS_MAX_FILE_STORE for the local stack and docker compose, max_file_store in the server "
    "configuration, then reload or restart nats-server); writes resume by themselves once "
    "there is room"
)
MAX_BYTES_FIX = (
    "delete data from the stream or raise its max_bytes; writes resume by themselves once "
    "there is room"
)


def is_storage_refusal(error: APIError) -> bool:
    """True when JetStream refused a write because it cannot store it."""
    # nats-py raises some API errors (e.g. a KV update's wrong last sequence) without err_code.
    return getattr(error, "err_code", None) in STORAGE_CODES


@dataclass(frozen=True)
class StorageFault:
    """A stream that stores none of the service's writes: what JetStream said (`err_code` None:
    writes go unanswered)."""

    stream: str
    reason: str
    err_code: int | None

    @classmethod
    def refused(cls, stream: str, error: APIError) -> StorageFault:
        """JetStream refused a write to `stream` with a storage error."""
        return cls(stream, f"{error.description} (err_code {error.err_code})", error.err_code)

    @classmethod
    def unanswered(cls, stream: str) -> StorageFault:
        """Writes to `stream` go unanswered while JetStream answers for the stream."""
        reason = (
            "writes go unanswered while JetStream answers for the stream: its store is failing "
            "or very slow; nats-server's log and /healthz say which (after a full disk: "
            "'critical write error ... no space left on device')"
        )
        return cls(stream, reason, None)

    @property
    def fix(self) -> str:
        """What to free or raise."""
        if self.err_code in LIMIT_CODES:
            return LIMIT_FIX
        if self.err_code == STREAM_MAX_BYTES:
            return MAX_BYTES_FIX
        return RESTART_FIX

    def describe(self) -> str:
        """One line for the log: the stream, what JetStream said, the fix."""
        return f"JetStream stores nothing in {self.stream}: {self.reason}. Fix: {self.fix}"


class ProbeOutcome(enum.Enum):
    """What a probe write learned, short of a fault."""

    STORED = "stored"
    UNKNOWN = "unknown"  # JetStream did not answer at all: a dead server, a lost connection


class StorageHealth:
    """The storage faults of the service that writes through one JetStream context; `stalled`
    while it has any (services.mesh.grpc_server.Stallable)."""

    def __init__(self, js: JetStreamContext, *, probe_interval_s: float = PROBE_INTERVAL_S):
        self._js = js
        self._probe_interval_s = probe_interval_s
        self._faults: dict[str, StorageFault] = {}
        self._checking: set[str] = set()
        self._probe_subjects: dict[str, str] = {}
        self._recovery: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def stalled(self) -> bool:
        """True while JetStream stores none of the writes to some stream."""
        return bool(self._faults)

    @property
    def faults(self) -> tuple[StorageFault, ...]:
        """The faulted streams, oldest first."""
        return tuple(self._faults.values())

    @contextlib.contextmanager
    def watch(self, stream: str) -> Iterator[None]:
        """Around one write to `stream`: a storage refusal faults the stream, an unanswered write
        is checked by a probe, a stored one clears a fault. The write's error is raised as is."""
        try:
            yield
        except APIError as error:
            if is_storage_refusal(error):
                self._fault(StorageFault.refused(stream, error))
            raise
        except nats.errors.TimeoutError:
            self._check(stream)
            raise
        else:
            self._stored(stream)

    def _fault(self, fault: StorageFault) -> None:
        if fault.stream not in self._faults:
            log.error(fault.describe(), extra={"stream": fault.stream, "err_code": fault.err_code})
            STORAGE_UNAVAILABLE.labels(fault.stream).set(1)
        self._faults[fault.stream] = fault
        if self._recovery is None or self._recovery.done():
            self._recovery = self._spawn(self._recover())

    def _stored(self, stream: str) -> None:
        fault = self._faults.pop(stream, None)
        if fault is not None:
            log.warning("JetStream stores writes again", extra={"stream": stream})
            STORAGE_UNAVAILABLE.labels(stream).set(0)

    def _check(self, stream: str) -> None:
        if stream in self._faults or stream in self._checking:
            return
        self._checking.add(stream)
        self._spawn(self._check_unanswered(stream))

    async def _check_unanswered(self, stream: str) -> None:
        try:
            outcome = await self._probe(stream)
        except nats.errors.ConnectionClosedError:
            return  # the service is stopping
        finally:
            self._checking.discard(stream)
        if isinstance(outcome, StorageFault):
            self._fault(outcome)

    async def _recover(self) -> None:
        """Probe every faulted stream until each stores again (or the connection is closed)."""
        while self._faults:
            await asyncio.sleep(self._probe_interval_s)
            for stream in list(self._faults):
                try:
                    outcome = await self._probe(stream)
                except nats.errors.ConnectionClosedError:
                    return  # the service is stopping
                if outcome is ProbeOutcome.STORED:
                    self._stored(stream)
                elif isinstance(outcome, StorageFault) and stream in self._faults:
                    self._faults[stream] = outcome

    async def _probe(self, stream: str) -> ProbeOutcome | StorageFault:
        """Write an empty message to the stream's probe subject, which keeps only the latest."""
        try:
            subject = await self._probe_subject(stream)
            await self._js.publish(subject, b"")
        except APIError as error:
            if is_storage_refusal(error):
                return StorageFault.refused(stream, error)
            return ProbeOutcome.UNKNOWN
        except nats.errors.TimeoutError:
            return await self._unanswered_or_unknown(stream)
        except nats.errors.ConnectionClosedError:
            raise
        except (nats.errors.Error, TimeoutError):
            return ProbeOutcome.UNKNOWN
        await self._remove_earlier_probes(stream, subject)
        return ProbeOutcome.STORED

    async def _unanswered_or_unknown(self, stream: str) -> ProbeOutcome | StorageFault:
        try:
            await self._js.stream_info(stream)
        except nats.errors.ConnectionClosedError:
            raise
        except (nats.errors.Error, TimeoutError):
            return ProbeOutcome.UNKNOWN
        return StorageFault.unanswered(stream)

    async def _probe_subject(self, stream: str) -> str:
        """A subject of the stream that no reader looks at: its first subject with the wildcards
        filled in (`$KV.<bucket>.storage_probe`, `$O.<bucket>.C.storage_probe` (a chunk no
        object names), `huleedu.storage_probe`)."""
        subject = self._probe_subjects.get(stream)
        if subject is None:
            config = (await self._js.stream_info(stream)).config
            assert config.subjects  # every stream of the mesh takes subjects
            tokens = config.subjects[0].split(".")
            subject = ".".join(_PROBE_TOKEN if token in ("*", ">") else token for token in tokens)
            self._probe_subjects[stream] = subject
        return subject

    async def _remove_earlier_probes(self, stream: str, subject: str) -> None:
        """Purge the probe subject but for the message just written. Removing that one too would
        leave a stream whose last sequence no message has, and a reader that follows the stream
        up to its last sequence would wait for it forever."""
        try:
            await self._js.purge_stream(stream, subject=subject, keep=1)
        except (nats.errors.Error, TimeoutError) as error:
            # An empty message on the probe subject is read by nobody; it only takes room.
            log.warning(
                "could not purge earlier storage probes",
                extra={"stream": stream, "subject": subject, "error": repr(error)},
            )

    def _spawn(self, work: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task


_by_context: weakref.WeakKeyDictionary[JetStreamContext, StorageHealth] = (
    weakref.WeakKeyDictionary()
)


def storage_health(js: JetStreamContext) -> StorageHealth:
    """The storage health of the service that writes through `js`. One per JetStream context:
    the publisher, the KV helper and the Object Store adapter hold only the context, and each
    reports to the one its service's gRPC health follows."""
    health = _by_context.get(js)
    if health is None:
        health = _by_context[js] = StorageHealth(js)
    return health
