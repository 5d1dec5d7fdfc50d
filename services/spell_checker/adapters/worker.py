"""What runs inside each worker process of the pool: its checkers and the tasks it accepts.

A worker process keeps its state in this module (the pool's initializer sets it), so each
worker loads a language's dictionary once and memoises corrections for its whole life.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from services.mesh.logging import configure_logging
from services.mesh.process_stats import ProcessMemory, process_memory
from services.spell_checker.adapters.checkers import CheckerConfig, LanguageCheckers
from services.spell_checker.domain.model import CheckResult


@dataclass
class _WorkerState:
    checkers: LanguageCheckers | None = None
    roll_call: threading.Barrier | None = None
    ready_after_s: float = 0.0


_PARENT_CHECK_S = 1.0
_started_at = time.monotonic()
_state = _WorkerState()


@dataclass(frozen=True)
class WorkerReport:
    """A worker's state: how long it took to become ready and the memory it holds."""

    pid: int
    ready_after_s: float
    memory: ProcessMemory


def initialize(
    config: CheckerConfig, roll_call: threading.Barrier, logging_as: tuple[str, str] | None
) -> None:
    """Pool initializer: build this worker's checkers and load the preloaded languages.

    `roll_call` is a barrier of all the pool's workers (a multiprocessing one), so that a
    report task waits for every worker and lands on each exactly once. `logging_as` is the
    (service, level) to log as, like the process that started the pool.
    """
    if logging_as is not None:
        configure_logging(*logging_as)
    _leave_with_parent(os.getppid())
    _state.roll_call = roll_call
    _state.checkers = LanguageCheckers(config)
    _state.checkers.preload(config.preload_languages)
    # What is loaded now stays for the worker's life: out of the collector's way, so that its
    # full collections only go through what essays leave behind.
    gc.freeze()
    _state.ready_after_s = time.monotonic() - _started_at


def _leave_with_parent(parent: int) -> None:
    """Exit when the process that started the pool is gone (killed without a chance to stop
    its pool), rather than live on as an orphan holding memory."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def check_essay(language: str, text: str, allowed_words: Sequence[str]) -> CheckResult:
    """Check one essay in this worker."""
    if _state.checkers is None:
        raise RuntimeError("worker used before initialize()")
    return _state.checkers.check(language, text, allowed_words)


def check_essays(essays: Sequence[tuple[str, str, Sequence[str]]]) -> list[CheckResult]:
    """Check several essays in this worker: one round trip to the pool for all of them."""
    return [check_essay(language, text, allowed) for language, text, allowed in essays]


def report(timeout_s: float) -> WorkerReport:
    """This worker's start-up time and memory, once every worker of the pool is asked too."""
    if _state.roll_call is None:
        raise RuntimeError("worker used before initialize()")
    _state.roll_call.wait(timeout_s)
    return WorkerReport(os.getpid(), _state.ready_after_s, process_memory())
