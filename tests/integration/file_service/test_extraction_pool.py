"""The extraction pool really stops a stuck file: the worker is killed and replaced, never
leaked, and the pool keeps serving."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from services.file_service.adapters.extraction_pool import ExtractionPool, PoolSettings
from services.file_service.domain.errors import RejectionCode
from services.file_service.domain.extraction import ExtractionLimits
from tests.support import wait_until
from tests.unit.file_service.catalogue import essay
from tests.unit.file_service.pool_jobs import hang_or_extract


@pytest.fixture
async def pool() -> AsyncIterator[ExtractionPool]:
    extraction_pool = ExtractionPool(
        PoolSettings(workers=2, timeout_s=1.0, memory_limit_bytes=512 * 1024 * 1024),
        ExtractionLimits(),
        job=hang_or_extract,
    )
    await extraction_pool.start()
    yield extraction_pool
    await extraction_pool.stop()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.parametrize("stuck", [b"HANG", b"SPIN"])
async def test_a_stuck_file_times_out_and_its_worker_is_killed(
    pool: ExtractionPool, stuck: bytes
) -> None:
    before = pool.worker_pids

    outcome = await pool.extract(stuck, "stuck.txt")

    assert outcome.rejection is RejectionCode.EXTRACTION_TIMEOUT
    assert "1 s" in outcome.detail
    after = pool.worker_pids
    assert len(after) == 2
    [killed] = before - after
    assert not _alive(killed)
    good = await pool.extract(essay(1), "essay.txt")
    assert good.accepted


async def test_a_crashing_worker_is_replaced(pool: ExtractionPool) -> None:
    outcome = await pool.extract(b"DIE", "x.txt")

    assert outcome.rejection is RejectionCode.CORRUPT_FILE
    assert len(pool.worker_pids) == 2
    assert (await pool.extract(essay(2), "e.txt")).accepted


async def test_an_extractor_exception_becomes_corrupt_file(pool: ExtractionPool) -> None:
    before = pool.worker_pids
    outcome = await pool.extract(b"RAISE", "x.txt")

    assert outcome.rejection is RejectionCode.CORRUPT_FILE
    assert "RuntimeError" in outcome.detail
    assert pool.worker_pids == before  # the worker itself is fine


async def test_extraction_runs_in_worker_processes_in_parallel(pool: ExtractionPool) -> None:
    pids = await asyncio.gather(*(pool.extract(b"PID", "x") for _ in range(8)))

    used = {int(outcome.text) for outcome in pids}
    assert os.getpid() not in used
    assert used <= pool.worker_pids


async def test_a_cancelled_caller_does_not_leak_the_worker(pool: ExtractionPool) -> None:
    stuck = asyncio.create_task(pool.extract(b"HANG", "x"))
    await wait_until(lambda: len(pool._running) == 1, timeout_s=5, message="job started")
    stuck.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stuck

    # the job still ends at its deadline and the pool is whole again
    await wait_until(lambda: not pool._running, timeout_s=10, message="job settled")
    outcomes = await asyncio.gather(*(pool.extract(essay(3), "e.txt") for _ in range(2)))
    assert all(outcome.accepted for outcome in outcomes)
    assert len(pool.worker_pids) == 2


async def test_stop_leaves_no_worker_behind() -> None:
    extraction_pool = ExtractionPool(PoolSettings(workers=2, timeout_s=5.0), ExtractionLimits())
    await extraction_pool.start()
    pids = extraction_pool.worker_pids
    assert (await extraction_pool.extract(essay(4), "e.txt")).accepted

    await extraction_pool.stop()

    assert not any(_alive(pid) for pid in pids)
