"""FetchHealth's arithmetic on a clock the test moves: waits double up to the cap, the durable
is re-created after a while and not more often than that, stalling is reported once, and an
answer resets everything."""

from __future__ import annotations

import pytest

from services.mesh.fetch_health import RETRY_MAX_S, RETRY_MIN_S, FetchHealth


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def health(clock: Clock) -> FetchHealth:
    return FetchHealth(stall_after_s=30.0, reprovision_after_s=10.0, clock=clock)


def test_waits_double_from_the_minimum_to_the_cap() -> None:
    fetches = health(Clock())
    waits = [fetches.failed().wait_s for _ in range(8)]
    assert waits[0] == RETRY_MIN_S
    assert waits[:5] == [0.5, 1.0, 2.0, 4.0, 5.0]
    assert max(waits) == RETRY_MAX_S and waits[-1] == RETRY_MAX_S


def test_the_durable_is_re_created_after_failing_a_while_and_at_most_that_often() -> None:
    clock = Clock()
    fetches = health(clock)
    decisions = []
    for _ in range(30):
        decisions.append((clock.now - 1000.0, fetches.failed().reprovision))
        clock.now += 1.0
    assert [at for at, reprovision in decisions if reprovision] == [10.0, 20.0]


def test_stalled_after_the_limit_reported_once_and_cleared_by_an_answer() -> None:
    clock = Clock()
    fetches = health(clock)
    assert not fetches.failed().newly_stalled
    clock.now += 29.9
    assert not fetches.stalled and not fetches.failed().newly_stalled
    clock.now += 0.2
    assert fetches.stalled
    assert fetches.failed().newly_stalled
    assert not fetches.failed().newly_stalled  # reported once

    assert fetches.answered() == pytest.approx(30.1)
    assert not fetches.stalled
    assert fetches.answered() is None
    failure = fetches.failed()
    assert failure.failing_for_s == 0.0 and failure.wait_s == RETRY_MIN_S
    assert not failure.reprovision


def test_a_healthy_loop_is_never_stalled() -> None:
    clock = Clock()
    fetches = health(clock)
    clock.now += 3600.0
    assert not fetches.stalled and fetches.answered() is None
