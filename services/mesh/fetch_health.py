"""How a consumer's pull requests are faring: how long they have failed without a break, how long
to wait before the next one, when to create the durable consumer again, and when the consumer
counts as stalled (the service then answers NOT_SERVING)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

# After a failed pull request the loop waits this long, doubling up to the maximum.
RETRY_MIN_S = 0.5
RETRY_MAX_S = 5.0


@dataclass(frozen=True)
class FetchFailure:
    """What to do about one failed pull request."""

    failing_for_s: float
    wait_s: float
    reprovision: bool
    newly_stalled: bool


class FetchHealth:
    """The record of one fetch loop. `stall_after_s`: failures without a break for this long make
    the consumer stalled. `reprovision_after_s`: failing this long (an election takes seconds)
    may mean the durable consumer is gone from the server, so it is created again, at most this
    often."""

    def __init__(
        self,
        *,
        stall_after_s: float,
        reprovision_after_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stall_after_s = stall_after_s
        self._reprovision_after_s = reprovision_after_s
        self._clock = clock
        self._failing_since: float | None = None
        self._wait_s = RETRY_MIN_S
        self._reprovisioned_at: float | None = None
        self._stall_reported = False

    @property
    def stalled(self) -> bool:
        """True while pull requests have failed without a break for `stall_after_s` or longer."""
        since = self._failing_since
        return since is not None and self._clock() - since >= self._stall_after_s

    def answered(self) -> float | None:
        """The server answered a pull request; returns how long the failures lasted, or None if
        there were none."""
        if self._failing_since is None:
            return None
        failed_for_s = self._clock() - self._failing_since
        self._failing_since = None
        self._wait_s = RETRY_MIN_S
        self._stall_reported = False
        return failed_for_s

    def failed(self) -> FetchFailure:
        """A pull request failed: how long failures have lasted, how long to wait before the
        next request, whether to create the durable again, whether it has just stalled."""
        now = self._clock()
        if self._failing_since is None:
            self._failing_since = now
        failing_for_s = now - self._failing_since
        reprovision = failing_for_s >= self._reprovision_after_s and (
            self._reprovisioned_at is None
            or now - self._reprovisioned_at >= self._reprovision_after_s
        )
        if reprovision:
            self._reprovisioned_at = now
        newly_stalled = self.stalled and not self._stall_reported
        self._stall_reported = self._stall_reported or newly_stalled
        wait_s = self._wait_s
        self._wait_s = min(self._wait_s * 2, RETRY_MAX_S)
        return FetchFailure(failing_for_s, wait_s, reprovision, newly_stalled)
