"""Streams, durable consumers, KV buckets and the Object Store, declared in code and provisioned
idempotently at start."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

import nats.errors
from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    ObjectStoreConfig,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import (
    APIError,
    BadRequestError,
    BucketNotFoundError,
    NotFoundError,
    ServiceUnavailableError,
)
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from services.mesh import subjects
from services.mesh.settings import NatsSettings

log = logging.getLogger(__name__)

EVENTS_STREAM = "HULEEDU_EVENTS"
DLQ_STREAM = "HULEEDU_DLQ"
AUDIT_STREAM = "HULEEDU_AUDIT"
# How long provisioning waits for a new replicated stream to elect its leader and take writes.
_LEADER_WAIT_S = 15.0
# The write probe: it expects a stream that does not exist, so the stream refuses it (10060,
# "expected stream does not match") and stores nothing.
_PROBE_HEADERS = {"Nats-Expected-Stream": "huleedu-write-probe"}
_STREAM_NOT_MATCH = 10060
_KV_DUPLICATE_WINDOW_S = 120.0  # nats-py's for a KV bucket (its TTL when shorter)
_STREAM_NAME_IN_USE = 10058  # "stream name already in use with a different configuration"
# "no suitable peers for placement": nodes that were just unreachable count as offline for a
# moment after they come back; the placement is asked again like an unanswered request.
_NO_PEERS_YET = 10005
_UNANSWERED = (nats.errors.TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError)

T = TypeVar("T")


class ProvisioningError(RuntimeError):
    """JetStream did not answer provisioning in time; the message says what to check."""


@dataclass(frozen=True)
class ConsumerSpec:
    """A durable pull consumer of the event stream."""

    durable: str
    filter_subjects: list[str]
    max_deliver: int = 5
    ack_wait_s: float = 30.0
    max_ack_pending: int = 1000
    stream: str = EVENTS_STREAM
    description: str = field(default="")

    @classmethod
    def of_service(
        cls, durable: str, filter_subjects: Sequence[str], nats: NatsSettings, description: str
    ) -> ConsumerSpec:
        """A service's durable on the event stream, its delivery limits from the NATS settings."""
        return cls(
            durable,
            list(filter_subjects),
            max_deliver=nats.max_deliver,
            ack_wait_s=nats.ack_wait_s,
            description=description,
        )


# No stream has a max_bytes: the server's max_file_store (below the disk's size: the local stack
# and docker compose set it) is what refuses writes once the store is full. A max_bytes on the
# event stream or the DLQ (discard old) would silently drop events. On a KV bucket or the Object
# Store (discard new) it would refuse cleanly, but JetStream reserves each max_bytes out of
# max_file_store when the stream is created (10047 once they add up to more), so each would need
# sizing per deployment, and one bucket could be full while the store has room.
def _events_config(settings: NatsSettings) -> StreamConfig:
    return StreamConfig(
        name=EVENTS_STREAM,
        description="HuleEdu events and commands: a replayable event log",
        subjects=[subjects.EVENTS_SUBJECTS],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=settings.event_retention_s,
        duplicate_window=settings.duplicate_window_s,
        num_replicas=settings.replicas,
        allow_msg_schedules=True,
        allow_atomic=True,  # services.mesh.atomic_batch
    )


def _dlq_config(settings: NatsSettings) -> StreamConfig:
    return StreamConfig(
        name=DLQ_STREAM,
        description="Messages no handler could process, with the reason in headers",
        subjects=[f"{subjects.DLQ_PREFIX}huleedu.>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=settings.event_retention_s * 4,
        duplicate_window=settings.duplicate_window_s,
        num_replicas=settings.replicas,
    )


def audit_config(settings: NatsSettings) -> StreamConfig:
    """The audit log (services.mesh.audit): kept for AUDIT_RETENTION_DAYS, and nothing in it can
    be deleted or purged through the API before then. Atomic batches let the records of one turn
    of the event loop share a commit."""
    return StreamConfig(
        name=AUDIT_STREAM,
        description="Who read or wrote essay content, what and when: the audit log",
        subjects=[f"{subjects.AUDIT_PREFIX}>"],
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=settings.audit_retention_s,
        duplicate_window=settings.duplicate_window_s,
        num_replicas=settings.replicas,
        deny_delete=True,
        deny_purge=True,
        allow_atomic=True,
    )


async def _until_answered(what: str, attempt: Callable[[], Awaitable[T]], wait_s: float) -> T:
    """Run a whole check-then-create `attempt` until JetStream answers it, for up to `wait_s`.
    On a cluster, creating a replicated stream is answered only once its group has a leader, and a
    busy cluster can take longer than one request's timeout: the request may have gone through or
    not. Creating or updating with the same configuration changes nothing, so asking again is
    safe; so is asking again when the cluster has no peers to place a stream on yet (nodes that
    were unreachable count as offline for a moment after they are back). A server without
    JetStream never answers: ProvisioningError says so at the end."""
    deadline = time.monotonic() + wait_s
    pause = 0.2
    while True:
        try:
            return await attempt()
        except (*_UNANSWERED, BadRequestError) as error:
            if isinstance(error, BadRequestError) and error.err_code != _NO_PEERS_YET:
                raise
            if time.monotonic() + pause > deadline:
                raise ProvisioningError(
                    f"JetStream did not answer provisioning of {what} for {wait_s:g} s "
                    f"(last: {error!r}): check that the servers in NATS_URL run with JetStream "
                    "enabled (nats-server -js) and, on a cluster, that most nodes are up; "
                    "NATS_PROVISION_WAIT_S sets how long to wait"
                ) from error
            log.warning(
                "JetStream did not answer provisioning; asking again",
                extra={"what": what, "error": repr(error), "retry_in_s": pause},
            )
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


def _probe_subject(config: StreamConfig) -> str:
    """A subject of the stream for the write probe: its first, wildcards filled in."""
    assert config.subjects
    tokens = config.subjects[0].split(".")
    return ".".join("_probe" if token in ("*", ">") else token for token in tokens)


async def _ensure_stream(js: JetStreamContext, config: StreamConfig, wait_s: float) -> None:
    name = config.name
    assert name is not None

    async def attempt() -> None:
        try:
            await js.stream_info(name)
        except NotFoundError:
            await js.add_stream(config)
            await wait_until_writable(js, name, _probe_subject(config), config.num_replicas or 1)
            return
        await js.update_stream(config)

    await _until_answered(f"stream {name}", attempt, wait_s)


async def wait_until_writable(
    js: JetStreamContext, stream: str, subject: str, replicas: int
) -> None:
    """Return once a new replicated stream takes writes from this connection. Created on a
    cluster, a stream answers nothing until its leader is elected, and a publish reaches it only
    once the leader's interest in its subjects has spread to the node this client talks to: until
    then a write straight after start-up goes unanswered (no responders). Probes with a publish to
    `subject` that the stream refuses unstored (it expects another stream), so the probe leaves no
    trace. Gives up with a warning after a while; writes then fail as transient errors until the
    stream is reachable."""
    if replicas <= 1:
        return
    deadline = time.monotonic() + _LEADER_WAIT_S
    while time.monotonic() < deadline:
        if await _has_leader(js, stream) and await _takes_writes(js, subject):
            return
        await asyncio.sleep(0.1)
    log.warning("stream takes no writes yet", extra={"stream": stream, "waited_s": _LEADER_WAIT_S})


async def _has_leader(js: JetStreamContext, stream: str) -> bool:
    try:
        info = await js.stream_info(stream)
    except (nats.errors.Error, TimeoutError):
        return False
    return info.cluster is not None and bool(info.cluster.leader)


async def _takes_writes(js: JetStreamContext, subject: str) -> bool:
    try:
        await js.publish(subject, b"", headers=_PROBE_HEADERS)
    except APIError as error:
        return error.err_code == _STREAM_NOT_MATCH
    except (nats.errors.Error, TimeoutError):
        return False
    log.error("the write probe was stored", extra={"subject": subject})
    return True


async def ensure_streams(js: JetStreamContext, settings: NatsSettings) -> None:
    """Create or update HULEEDU_EVENTS and HULEEDU_DLQ."""
    await _ensure_stream(js, _events_config(settings), settings.provision_wait_s)
    await _ensure_stream(js, _dlq_config(settings), settings.provision_wait_s)


async def ensure_audit_stream(js: JetStreamContext, settings: NatsSettings) -> None:
    """Create or update HULEEDU_AUDIT."""
    await _ensure_stream(js, audit_config(settings), settings.provision_wait_s)


def consumer_config(spec: ConsumerSpec) -> ConsumerConfig:
    """The JetStream configuration of a durable consumer spec."""
    return ConsumerConfig(
        durable_name=spec.durable,
        description=spec.description or None,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        filter_subjects=list(spec.filter_subjects),
        max_deliver=spec.max_deliver,
        ack_wait=spec.ack_wait_s,
        max_ack_pending=spec.max_ack_pending,
    )


async def ensure_consumer(
    js: JetStreamContext,
    spec: ConsumerSpec,
    *,
    provision_wait_s: float = NatsSettings.provision_wait_s,
) -> None:
    """Create the durable consumer, or update it to the spec (same name: instances share it)."""

    async def attempt() -> None:
        await js.add_consumer(spec.stream, consumer_config(spec))

    await _until_answered(f"consumer {spec.durable}", attempt, provision_wait_s)


async def ensure_kv(
    js: JetStreamContext,
    bucket: str,
    settings: NatsSettings,
    *,
    ttl_s: float | None = None,
    message_ttls: bool = False,
) -> KeyValue:
    """Bind the KV bucket, creating it if it does not exist (entries expire after `ttl_s`);
    with `message_ttls`, a write may also carry its own TTL (services.mesh.kv's `ttl_of`).
    Unlike nats-py's, the bucket's stream takes message deletes, so what it held can be erased
    (services.mesh.message_erasure)."""

    async def attempt() -> KeyValue:
        try:
            kv = await js.key_value(bucket)
        except BucketNotFoundError:
            kv = await _created_or_bound(
                _create_kv(js, bucket, settings.replicas, ttl_s), lambda: js.key_value(bucket)
            )
        # Also when bound: another node may have created it a moment ago, and its interest may
        # not have reached the node this connection talks to yet.
        await wait_until_writable(js, f"KV_{bucket}", f"$KV.{bucket}._probe", settings.replicas)
        await _allow_atomic(js, f"KV_{bucket}", message_ttls=message_ttls)
        return kv

    return await _until_answered(f"KV bucket {bucket}", attempt, settings.provision_wait_s)


async def _create_kv(
    js: JetStreamContext, bucket: str, replicas: int, ttl_s: float | None
) -> KeyValue:
    """The bucket's stream as nats-py's create_key_value makes it (one revision per key), but
    without `deny_delete`, which no update can take back."""
    await js.add_stream(
        StreamConfig(
            name=f"KV_{bucket}",
            subjects=[f"$KV.{bucket}.>"],
            allow_direct=True,
            allow_rollup_hdrs=True,
            allow_msg_ttl=True,
            deny_delete=False,
            discard=DiscardPolicy.NEW,
            duplicate_window=min(ttl_s, _KV_DUPLICATE_WINDOW_S)
            if ttl_s
            else _KV_DUPLICATE_WINDOW_S,
            max_age=ttl_s,
            max_consumers=-1,
            max_msgs=-1,
            max_msgs_per_subject=1,
            num_replicas=replicas,
            storage=StorageType.FILE,
        )
    )
    return await js.key_value(bucket)


async def ensure_object_store(
    js: JetStreamContext,
    bucket: str,
    settings: NatsSettings,
    *,
    max_bytes: int | None = None,
) -> ObjectStore:
    """Bind the Object Store bucket, creating it if it does not exist."""

    async def attempt() -> ObjectStore:
        try:
            store = await js.object_store(bucket)
        except (BucketNotFoundError, NotFoundError):
            config = ObjectStoreConfig(
                storage=StorageType.FILE, replicas=settings.replicas, max_bytes=max_bytes
            )
            store = await _created_or_bound(
                js.create_object_store(bucket, config), lambda: js.object_store(bucket)
            )
            await wait_until_writable(
                js, f"OBJ_{bucket}", f"$O.{bucket}.C._probe", settings.replicas
            )
        await _allow_atomic(js, f"OBJ_{bucket}")
        return store

    return await _until_answered(f"Object Store {bucket}", attempt, settings.provision_wait_s)


async def _created_or_bound(create: Awaitable[T], bind: Callable[[], Awaitable[T]]) -> T:
    """Create a bucket; when another instance created it a moment ago (and already let it take
    atomic batches, so its configuration differs from nats-py's), bind to that one."""
    try:
        return await create
    except BadRequestError as error:
        if error.err_code != _STREAM_NAME_IN_USE:
            raise
    return await bind()


async def _allow_atomic(js: JetStreamContext, stream: str, *, message_ttls: bool = False) -> None:
    """Let the bucket's stream take atomic batches (services.mesh.atomic_batch), and messages
    with a TTL of their own when asked; nats-py creates buckets with neither."""
    config = (await js.stream_info(stream)).config
    allow_msg_ttl = True if message_ttls else config.allow_msg_ttl
    if not config.allow_atomic or allow_msg_ttl != config.allow_msg_ttl:
        await js.update_stream(
            dataclasses.replace(config, allow_atomic=True, allow_msg_ttl=allow_msg_ttl)
        )
