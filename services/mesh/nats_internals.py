"""The few nats-py internals the mesh needs and nats-py does not expose, in one place.

Each says why it is needed. tests/integration/mesh/test_nats_internals.py checks every one
against the installed nats-py, so an upgrade that moves one fails there, by name, instead of
somewhere in a service at run time.
"""

from __future__ import annotations

from nats.aio.client import Client as NATS
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.kv import KeyValue


def connection_of(js: JetStreamContext) -> NATS:
    """The connection under a JetStream context: core NATS calls (an advisory subscription,
    flush, the publishes and commit of an atomic batch) on the context's own connection."""
    connection: NATS = js._nc
    return connection


def subscription_of(pull: JetStreamContext.PullSubscription) -> Subscription:
    """The core subscription under a pull subscription: messages a pull request delivered after
    the last fetch wait there, and a stopping consumer hands them back."""
    subscription: Subscription = pull._sub
    return subscription


async def withdraw_interest(subscription: Subscription) -> None:
    """Tell the server to deliver nothing more to `subscription`, and wait for a round trip:
    whatever it sent before is then in the subscription's queue, still read with `next_msg`.
    nats-py's `drain` does this and then waits for the queue's `join`, which never returns for
    a pull subscription (`fetch` takes messages off the queue without `task_done`)."""
    connection = subscription._conn
    await connection._send_unsubscribe(subscription._id)
    await connection.flush()


def watch_subscription(watcher: KeyValue.KeyWatcher) -> JetStreamContext.PushSubscription | None:
    """The ordered consumer's subscription under a KV watch: its consumer info tells how much of
    the watch is left to read, and its name lets the watch's consumer be deleted at once."""
    subscription: JetStreamContext.PushSubscription | None = watcher._sub
    return subscription


def watch_consumer_name(watcher: KeyValue.KeyWatcher) -> str | None:
    """The name of a KV watch's ephemeral consumer (None before it is created)."""
    name = getattr(watch_subscription(watcher), "_consumer", None)
    return name if isinstance(name, str) else None


def bucket_context(kv: KeyValue) -> tuple[JetStreamContext, str]:
    """A bucket's JetStream context and stream (`KV_<bucket>`), to report its writes to the
    service's storage health."""
    stream: str = kv._stream
    js: JetStreamContext = kv._js
    return js, stream


async def update_with_ttl(
    kv: KeyValue, key: str, value: bytes, *, last: int, msg_ttl: float
) -> int:
    """A compare-and-set update whose revision expires after `msg_ttl` seconds. nats-py's
    public `KeyValue.update` takes no TTL (only `create` does); its `_update` does, with the same
    wrong-last-sequence error as `update`. Returns the new revision."""
    revision: int = await kv._update(key, value, last=last, msg_ttl=msg_ttl)
    return revision
