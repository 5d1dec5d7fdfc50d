"""Runs essay checks in a pool of worker processes, off the event loop: one essay, or a group of
essays shared out among the workers."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from services.mesh.consumer import TransientError
from services.spell_checker.adapters import worker
from services.spell_checker.adapters.checkers import CheckerConfig
from services.spell_checker.adapters.worker import WorkerReport
from services.spell_checker.domain.model import CheckResult

log = logging.getLogger(__name__)
T = TypeVar("T")
_ROLL_CALL_TIMEOUT_S = 120.0


class ProcessPoolChecker:
    """A pool of `workers` processes (spawned, so they never inherit the event loop's threads).

    Workers load dictionaries and map the shared index at start; a worker that dies breaks
    the pool, which is replaced, and the essay it held is retried by redelivery.
    """

    def __init__(
        self, config: CheckerConfig, workers: int, *, logging_as: tuple[str, str] | None = None
    ) -> None:
        self._config = config
        self._workers = workers
        self._logging_as = logging_as
        self._executor: ProcessPoolExecutor | None = None
        self.start_up_s = 0.0

    @property
    def workers(self) -> int:
        """How many worker processes the pool runs."""
        return self._workers

    async def start(self) -> list[WorkerReport]:
        """Start every worker, wait until each has loaded its languages, report on each."""
        started = time.monotonic()
        self._executor = self._new_executor()
        reports = await self.reports()
        self.start_up_s = time.monotonic() - started
        return reports

    async def reports(self) -> list[WorkerReport]:
        """A report from each worker, taken while every worker waits at the same barrier."""
        loop = asyncio.get_running_loop()
        executor = self._require()
        futures = [
            loop.run_in_executor(executor, worker.report, _ROLL_CALL_TIMEOUT_S)
            for _ in range(self._workers)
        ]
        reports = await asyncio.gather(*futures)
        return sorted(reports, key=lambda r: r.pid)

    async def check(self, language: str, text: str, allowed_words: Sequence[str]) -> CheckResult:
        """Check one essay in a worker process."""
        return await self._in_worker(worker.check_essay, language, text, tuple(allowed_words))

    async def check_many(
        self, essays: Sequence[tuple[str, str, Sequence[str]]]
    ) -> list[CheckResult]:
        """Check essays in one task per worker, each taking about an equal share of the text."""
        items = [(language, text, tuple(words)) for language, text, words in essays]
        shares = share_out([len(text) for _, text, _ in items], self._workers)
        done = await asyncio.gather(
            *(self._in_worker(worker.check_essays, [items[i] for i in share]) for share in shares)
        )
        results: dict[int, CheckResult] = {}
        for share, share_results in zip(shares, done, strict=True):
            results.update(zip(share, share_results, strict=True))
        return [results[index] for index in range(len(items))]

    async def _in_worker(self, function: Callable[..., T], *args: object) -> T:
        executor = self._require()
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(executor, function, *args)
        except BrokenProcessPool as error:
            self._replace(executor)
            raise TransientError(f"a spell-check worker died: {error}", delay_s=1.0) from error

    async def close(self) -> None:
        """Stop the workers after the essays they hold."""
        if self._executor is not None:
            executor, self._executor = self._executor, None
            await asyncio.to_thread(executor.shutdown, wait=True)

    def _require(self) -> ProcessPoolExecutor:
        if self._executor is None:
            raise RuntimeError("the worker pool is not started")
        return self._executor

    def _new_executor(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(
            max_workers=self._workers,
            mp_context=context,
            initializer=worker.initialize,
            initargs=(self._config, context.Barrier(self._workers), self._logging_as),
        )

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is broken:
            log.error("worker pool broken; starting a new one")
            broken.shutdown(wait=False, cancel_futures=True)
            self._executor = self._new_executor()


def share_out(sizes: Sequence[int], parts: int) -> list[list[int]]:
    """The indexes of `sizes` in at most `parts` shares of about equal total size (largest first,
    each to the lightest share so far); no share is empty."""
    shares: list[list[int]] = [[] for _ in range(min(parts, len(sizes)))]
    totals = [0] * len(shares)
    for index in sorted(range(len(sizes)), key=lambda i: -sizes[i]):
        lightest = totals.index(min(totals))
        shares[lightest].append(index)
        totals[lightest] += sizes[index]
    return shares
