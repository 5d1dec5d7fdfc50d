"""How long the CLI keeps asking a service that is unavailable: the retry horizon, the jittered
backoff between attempts, and one line per outage for the user. No gRPC here; the caller says
which failures are worth another attempt (services/cli/mesh_client.py)."""

from __future__ import annotations

import argparse
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from services.mesh.settings import env_float

HORIZON_VARIABLE = "HULEEDU_RETRY_HORIZON_S"
DEFAULT_HORIZON_S = 60.0
HORIZON_FLAG = "--retry-horizon"


class Clock(Protocol):
    """Time as the retries see it: the real one, or a fake one in tests."""

    def monotonic(self) -> float:
        """Seconds from an arbitrary start."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds`."""
        ...


class SystemClock:
    """time.monotonic and asyncio.sleep."""

    def monotonic(self) -> float:
        """time.monotonic()."""
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        """asyncio.sleep(seconds)."""
        # Loaded already by the loop this runs in; not at the top, where `huleedu --help`
        # (which reads the --retry-horizon flag from here) would pay for it.
        import asyncio  # noqa: PLC0415

        await asyncio.sleep(seconds)


@dataclass(frozen=True)
class Backoff:
    """Exponential waits between attempts, each drawn between half and all of its ceiling so
    that clients who lost the same service do not come back in step."""

    initial_s: float = 0.25
    multiplier: float = 2.0
    maximum_s: float = 4.0

    def delay_s(self, failures: int, rng: random.Random) -> float:
        """The wait after the `failures`-th failure in a row (counted from 0)."""
        # The exponent is capped: past it the ceiling is maximum_s anyway, and a long horizon
        # must not overflow the float.
        ceiling = min(self.maximum_s, self.initial_s * self.multiplier ** min(failures, 32))
        return ceiling * rng.uniform(0.5, 1.0)


class RetryHorizon:
    """Whether to ask a service again after a failure, and when: until `horizon_s` seconds after
    the outage began. An outage is per service and shared by the calls in flight to it, so the
    user is told once that it is unavailable (and once that it answers again), however many
    calls wait for it."""

    def __init__(
        self,
        horizon_s: float,
        announce: Callable[[str], None],
        *,
        clock: Clock | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.horizon_s = horizon_s
        self._announce = announce
        self._clock = clock or SystemClock()
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._outage_began: dict[str, float] = {}

    async def wait_to_retry(self, service: str, reason: str, failures: int) -> bool:
        """After a failure worth another attempt (`reason` says what happened, `failures` counts
        this call's failures in a row before this one): wait the backoff and return True, or
        return False at once when the outage has lasted the horizon."""
        now = self._clock.monotonic()
        began = self._outage_began.get(service)
        if began is None:
            if self.horizon_s <= 0:
                return False
            began = self._outage_began[service] = now
            self._announce(f"{reason}; retrying for up to {self.horizon_s:g} s")
        remaining = began + self.horizon_s - now
        if remaining <= 0:
            return False
        # The last wait ends at the horizon, so the last attempt is made there.
        await self._clock.sleep(min(self._backoff.delay_s(failures, self._rng), remaining))
        return True

    def answered(self, service: str) -> None:
        """A call to `service` succeeded: its outage, if any, is over."""
        if self._outage_began.pop(service, None) is not None:
            self._announce(f"{service} answers again")

    def gave_up(self, reason: str) -> str:
        """The sentence for a failure the retries did not outlast."""
        if self.horizon_s <= 0:
            return reason
        return f"{reason}; gave up after retrying for {self.horizon_s:g} s"


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if number < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return number


def add_retry_flag(parser: argparse.ArgumentParser) -> None:
    """--retry-horizon S, which overrides HULEEDU_RETRY_HORIZON_S."""
    parser.add_argument(
        HORIZON_FLAG,
        dest="retry_horizon",
        type=_seconds,
        metavar="S",
        help=f"keep asking an unavailable service for up to S seconds (${HORIZON_VARIABLE}, "
        f"else {DEFAULT_HORIZON_S:g}; 0: only gRPC's own quick retries)",
    )


def resolve_horizon_s(args: argparse.Namespace) -> float:
    """The flag when given, else the environment variable, else 60 s."""
    flag_value: float | None = getattr(args, "retry_horizon", None)
    if flag_value is not None:
        return flag_value
    return env_float(HORIZON_VARIABLE, DEFAULT_HORIZON_S, minimum=0.0)
