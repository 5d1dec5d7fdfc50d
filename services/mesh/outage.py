"""Which failures say nothing about the message (a dependency that did not answer), and how long
a handler waits for such a dependency: jittered backoff up to a horizon.

A message whose handler failed because NATS, the Content Service or another dependency was
unavailable is not a bad message. Redelivering it would spend the per-message failure budget
(`NATS_MAX_DELIVER`) on the infrastructure, and a few seconds of broker restart could then end a
good essay FAILED. So the consumer keeps such a message and runs its handler again after a wait,
for up to `DEPENDENCY_RETRY_HORIZON_S`, without counting a delivery.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable

import grpc
import nats.errors
import nats.js.errors

# After a dependency failure the handler runs again after a wait drawn from [wait/2, wait],
# starting at RETRY_MIN_S and doubling up to RETRY_MAX_S.
RETRY_MIN_S = 0.25
RETRY_MAX_S = 10.0

# gRPC codes that mean the call never got an answer from a working peer.
UNAVAILABLE_CODES = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
# JetStream API answers that mean the server could not serve the request right now: no leader,
# storage unavailable or full, the JetStream subsystem not (yet) enabled after a restart.
_UNAVAILABLE_HTTP_CODES = frozenset({500, 503})
# One generator for every wait's jitter: seeding a new one per message (from os.urandom) cost
# more than the rest of a wait's bookkeeping.
_JITTER = random.Random()
_NATS_UNAVAILABLE = (
    nats.errors.TimeoutError,
    nats.errors.NoRespondersError,
    nats.errors.ConnectionClosedError,
    nats.errors.ConnectionReconnectingError,
    nats.errors.ConnectionDrainingError,
    nats.errors.NoServersError,
    nats.errors.StaleConnectionError,
    nats.errors.OutboundBufferLimitError,
    nats.errors.FlushTimeoutError,
    nats.js.errors.ServiceUnavailableError,
)


class DependencyUnavailable(Exception):
    """A dependency (NATS, another service) did not answer: the message is not at fault, and the
    consumer runs the handler again once the dependency may be back."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def is_unavailable(error: BaseException) -> bool:
    """True when `error` (or what it was raised from) says a dependency did not answer."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if _unavailable_itself(current):
            return True
        current = current.__cause__
    return False


def _unavailable_itself(error: BaseException) -> bool:
    if isinstance(error, DependencyUnavailable | TimeoutError | ConnectionError):
        return True
    if isinstance(error, _NATS_UNAVAILABLE):
        return True
    if isinstance(error, nats.js.errors.APIError):
        return error.code in _UNAVAILABLE_HTTP_CODES
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code() in UNAVAILABLE_CODES
    return False


class DependencyWait:
    """The waits of one message for an unavailable dependency: jittered, doubling, until
    `horizon_s` has passed since the first failure."""

    def __init__(
        self,
        horizon_s: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._horizon_s = horizon_s
        self._clock = clock
        self._rng = rng or _JITTER
        self._since: float | None = None
        self._ceiling_s = RETRY_MIN_S

    @property
    def waited_s(self) -> float:
        """How long since the first failure (0 before it)."""
        return 0.0 if self._since is None else self._clock() - self._since

    @property
    def spent(self) -> bool:
        """True once the horizon has passed since the first failure."""
        return self._since is not None and self.waited_s >= self._horizon_s

    def next_wait_s(self) -> float:
        """Record a failure; the wait before the next attempt (never past the horizon)."""
        if self._since is None:
            self._since = self._clock()
        wait_s = self._rng.uniform(self._ceiling_s / 2, self._ceiling_s)
        self._ceiling_s = min(self._ceiling_s * 2, RETRY_MAX_S)
        return max(0.0, min(wait_s, self._horizon_s - self.waited_s))


async def wait_or_stop(stopping: asyncio.Event, wait_s: float) -> bool:
    """Wait `wait_s`, or less if `stopping` is set; True when stopping."""
    try:
        await asyncio.wait_for(stopping.wait(), wait_s)
    except TimeoutError:
        return False
    return True
