"""Which failures are a dependency's and not the message's, and the waits for such a dependency:
jittered, doubling to the cap, never past the horizon; on a clock the test moves."""

from __future__ import annotations

import random

import grpc
import nats.errors
import nats.js.errors
import pytest

from services.mesh.consumer import PermanentError, TransientError
from services.mesh.outage import (
    RETRY_MAX_S,
    RETRY_MIN_S,
    DependencyUnavailable,
    DependencyWait,
    is_unavailable,
)


class Clock:
    def __init__(self) -> None:
        self.now = 500.0

    def __call__(self) -> float:
        return self.now


def rpc_error(code: grpc.StatusCode) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details="x")


@pytest.mark.parametrize(
    "error",
    [
        DependencyUnavailable("content service down"),
        TimeoutError(),
        nats.errors.TimeoutError(),
        nats.errors.NoRespondersError(),
        nats.errors.ConnectionClosedError(),
        ConnectionRefusedError(),
        nats.js.errors.ServiceUnavailableError(code=503),
        nats.js.errors.APIError(code=500, err_code=10051, description="no space left on device"),
        rpc_error(grpc.StatusCode.UNAVAILABLE),
        rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED),
    ],
    ids=repr,
)
def test_a_dependency_that_did_not_answer_is_unavailable(error: Exception) -> None:
    assert is_unavailable(error)


@pytest.mark.parametrize(
    "error",
    [
        ValueError("a bug"),
        PermanentError("bad message"),
        TransientError("batch not known yet"),
        nats.js.errors.APIError(code=400, err_code=10071, description="wrong last sequence"),
        nats.js.errors.NotFoundError(code=404, err_code=10037),
        rpc_error(grpc.StatusCode.INVALID_ARGUMENT),
        rpc_error(grpc.StatusCode.NOT_FOUND),
    ],
    ids=repr,
)
def test_a_failure_of_the_message_is_not(error: Exception) -> None:
    assert not is_unavailable(error)


def test_the_cause_of_a_translated_error_counts() -> None:
    try:
        try:
            raise nats.errors.TimeoutError()
        except nats.errors.TimeoutError as timeout:
            raise RuntimeError("reading the tracker") from timeout
    except RuntimeError as translated:
        assert is_unavailable(translated)


def test_waits_are_jittered_and_double_up_to_the_cap() -> None:
    wait = DependencyWait(3600.0, clock=Clock(), rng=random.Random(7))
    waits = [wait.next_wait_s() for _ in range(12)]
    ceilings = [min(RETRY_MIN_S * 2**n, RETRY_MAX_S) for n in range(12)]
    assert all(c / 2 <= w <= c for w, c in zip(waits, ceilings, strict=True))
    assert len(set(waits)) == len(waits)  # jittered: no two alike


def test_the_horizon_counts_from_the_first_failure_and_no_wait_passes_it() -> None:
    clock = Clock()
    wait = DependencyWait(12.0, clock=clock, rng=random.Random(1))
    assert not wait.spent and wait.waited_s == 0.0
    total = 0.0
    while not wait.spent:
        step = wait.next_wait_s()
        clock.now += step
        total += step
    assert total == pytest.approx(12.0)
    assert wait.waited_s == pytest.approx(12.0)


def test_a_zero_horizon_is_spent_at_the_first_failure() -> None:
    wait = DependencyWait(0.0, clock=Clock())
    assert wait.next_wait_s() == 0.0
    assert wait.spent
