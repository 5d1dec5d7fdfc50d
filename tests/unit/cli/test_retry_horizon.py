"""The retry horizon on a fake clock: jittered exponential waits, one line per outage, the last
attempt at the horizon, and the setting that sets it."""

from __future__ import annotations

import argparse
import asyncio
import random

import pytest

from services.cli.retry import (
    DEFAULT_HORIZON_S,
    HORIZON_VARIABLE,
    Backoff,
    RetryHorizon,
    add_retry_flag,
    resolve_horizon_s,
)
from services.mesh.settings import SettingsError

ELS = "Essay Lifecycle Service"
REASON = f"{ELS} unavailable (UNAVAILABLE: nats: timeout)"


class FakeClock:
    """Time that moves only when someone sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def horizon(seconds: float) -> tuple[RetryHorizon, FakeClock, list[str]]:
    """A horizon on a fake clock, and the lines it announces."""
    clock, lines = FakeClock(), list[str]()
    return RetryHorizon(seconds, lines.append, clock=clock, rng=random.Random(7)), clock, lines


async def retry_until_refused(retries: RetryHorizon, service: str = ELS) -> int:
    """Fail every attempt; how many waits the horizon allowed."""
    failures = 0
    while await retries.wait_to_retry(service, REASON, failures):
        failures += 1
    return failures


def test_waits_grow_exponentially_to_the_cap_each_between_half_and_all_of_it() -> None:
    backoff = Backoff(initial_s=0.25, multiplier=2.0, maximum_s=4.0)
    rng = random.Random(1)
    for failures, ceiling in enumerate((0.25, 0.5, 1.0, 2.0, 4.0, 4.0, 4.0)):
        delays = [backoff.delay_s(failures, rng) for _ in range(200)]
        assert all(ceiling / 2 <= delay <= ceiling for delay in delays)
        assert len(set(delays)) > 100  # jittered, not one value
    assert 2.0 <= backoff.delay_s(100_000, rng) <= 4.0  # a long horizon does not overflow


async def test_an_outage_is_retried_until_the_horizon_and_the_last_attempt_is_made_there() -> None:
    retries, clock, lines = horizon(60.0)
    began = clock.now
    waits = await retry_until_refused(retries)
    assert sum(clock.slept) == pytest.approx(60.0)
    assert clock.now == pytest.approx(began + 60.0)
    assert waits == len(clock.slept) > 15
    assert max(clock.slept) <= 4.0
    assert lines == [f"{REASON}; retrying for up to 60 s"]


async def test_the_user_is_told_once_per_outage_however_many_calls_wait() -> None:
    retries, _, lines = horizon(60.0)
    for failures in range(5):
        for _call in range(10):
            assert await retries.wait_to_retry(ELS, REASON, failures)
    retries.answered(ELS)
    retries.answered(ELS)  # the other calls' answers: the outage is already over
    assert lines == [f"{REASON}; retrying for up to 60 s", f"{ELS} answers again"]
    assert await retries.wait_to_retry(ELS, REASON, 0)
    assert lines[-1] == f"{REASON}; retrying for up to 60 s"  # a new outage
    assert len(lines) == 3


async def test_calls_in_flight_share_the_outage_and_its_horizon() -> None:
    retries, clock, lines = horizon(10.0)
    assert await retries.wait_to_retry(ELS, REASON, 0)
    clock.now += 20.0  # a second call fails long after the outage began
    assert not await retries.wait_to_retry(ELS, REASON, 0)
    assert len(lines) == 1


async def test_each_service_has_its_own_outage() -> None:
    retries, _, lines = horizon(60.0)
    assert await retries.wait_to_retry(ELS, REASON, 0)
    assert await retries.wait_to_retry("File Service", "File Service unavailable", 0)
    retries.answered("File Service")
    assert lines == [
        f"{REASON}; retrying for up to 60 s",
        "File Service unavailable; retrying for up to 60 s",
        "File Service answers again",
    ]


async def test_a_zero_horizon_never_waits_nor_announces() -> None:
    retries, clock, lines = horizon(0.0)
    assert await retry_until_refused(retries) == 0
    assert clock.slept == [] and lines == []
    assert retries.gave_up(REASON) == REASON


def test_the_final_sentence_says_how_long_it_tried() -> None:
    retries, _, _ = horizon(1.5)
    assert retries.gave_up(REASON) == f"{REASON}; gave up after retrying for 1.5 s"


async def test_the_real_clock_is_used_when_none_is_given() -> None:
    retries = RetryHorizon(0.05, lambda line: None, backoff=Backoff(initial_s=0.01))
    waits = await asyncio.wait_for(retry_until_refused(retries), timeout=5)
    assert waits >= 1


def parsed(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_retry_flag(parser)
    return parser.parse_args(list(argv))


def test_the_flag_overrides_the_variable_which_overrides_the_default(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(HORIZON_VARIABLE, raising=False)
    assert resolve_horizon_s(parsed()) == DEFAULT_HORIZON_S == 60.0
    monkeypatch.setenv(HORIZON_VARIABLE, "2.5")
    assert resolve_horizon_s(parsed()) == 2.5
    assert resolve_horizon_s(parsed("--retry-horizon", "0")) == 0.0


def test_a_malformed_horizon_names_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(HORIZON_VARIABLE, "-1")
    with pytest.raises(SettingsError, match=HORIZON_VARIABLE):
        resolve_horizon_s(parsed())
    with pytest.raises(SystemExit):
        parsed("--retry-horizon", "soon")
