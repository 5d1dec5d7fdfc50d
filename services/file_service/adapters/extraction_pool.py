"""Extraction in worker processes, with a per-file time limit that really stops a stuck file.

concurrent.futures cannot cancel a running task, so this is a small pool of its own: each worker
is a process behind a pipe; a file that is not done in time gets its worker SIGKILLed and a fresh
worker (forked from a preloaded fork server, so in milliseconds) takes its place. A worker also
guards itself: a memory limit (RLIMIT_AS), a CPU limit per file (RLIMIT_CPU, in case this process
dies and cannot kill it) and exit when its parent is gone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import resource
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.context import ForkServerContext
from multiprocessing.process import BaseProcess

from services.file_service.domain.errors import RejectionCode
from services.file_service.domain.extraction import (
    ExtractionLimits,
    ExtractionOutcome,
    process_upload,
    rejected,
)

log = logging.getLogger(__name__)

Job = Callable[[bytes, str, ExtractionLimits], ExtractionOutcome]
_PRELOAD = ["services.file_service.domain.extraction"]
_PARENT_CHECK_S = 1.0


@dataclass(frozen=True)
class PoolSettings:
    """Size and limits of the extraction pool."""

    workers: int = 2
    timeout_s: float = 20.0
    memory_limit_bytes: int = 1024 * 1024 * 1024  # 0: no limit


def _serve(
    conn: Connection, job: Job, limits: ExtractionLimits, memory_limit_bytes: int, parent: int
) -> None:
    """A worker's loop: one file in, one outcome out, until the pipe closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the service decides when workers stop
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)  # damaged files are expected here
    if memory_limit_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (memory_limit_bytes, memory_limit_bytes))
    threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    while True:
        try:
            content, file_name, timeout_s = conn.recv()
        except (EOFError, OSError):
            return
        _limit_cpu(timeout_s)
        conn.send(_run_job(job, content, file_name, limits))


def _run_job(
    job: Job, content: bytes, file_name: str, limits: ExtractionLimits
) -> ExtractionOutcome:
    try:
        return job(content, file_name, limits)
    except MemoryError:
        return rejected(
            RejectionCode.FILE_TOO_LARGE,
            "Reading the file needs more memory than an essay should; upload the essay text "
            "alone (without large images or embedded files).",
        )
    except Exception as error:  # a parser bug on hostile input: refuse the file, keep serving
        return rejected(
            RejectionCode.CORRUPT_FILE,
            f"The file could not be read ({type(error).__name__}: {str(error)[:160]}); it may be "
            "damaged. Save it again and re-upload.",
        )


def _limit_cpu(timeout_s: float) -> None:
    used = resource.getrusage(resource.RUSAGE_SELF)
    spent = used.ru_utime + used.ru_stime
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(spent + 2 * timeout_s) + 2
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _exit_with_parent(parent: int) -> None:
    # The fork server is our parent; when it goes (the service died), so do we.
    while os.getppid() == parent:
        time.sleep(_PARENT_CHECK_S)
    os._exit(1)


class _Worker:
    """One worker process and its end of the pipe."""

    def __init__(self, ctx: ForkServerContext, job: Job, limits: ExtractionLimits, memory: int):
        parent_end, child_end = ctx.Pipe(duplex=True)
        self.process: BaseProcess = ctx.Process(
            target=_serve_forked,
            args=(child_end, job, limits, memory),
            name="file-extraction",
            daemon=True,
        )
        self.process.start()
        child_end.close()
        self.conn = parent_end

    @property
    def pid(self) -> int:
        """The worker's process id."""
        return self.process.pid or 0

    def run(self, content: bytes, file_name: str, timeout_s: float) -> ExtractionOutcome | str:
        """Blocking (call from a thread): the outcome, or "timeout" or "died"."""
        try:
            self.conn.send((content, file_name, timeout_s))
            if not self.conn.poll(timeout_s):
                return "timeout"
            outcome: ExtractionOutcome = self.conn.recv()
        except (EOFError, OSError):
            return "died"
        return outcome

    def kill(self) -> None:
        """SIGKILL the worker and reap it."""
        with contextlib.suppress(ProcessLookupError, ValueError):
            self.process.kill()
        self.process.join(timeout=10)
        self.conn.close()

    def stop(self, grace_s: float = 2.0) -> None:
        """Close the pipe so the worker exits; kill it if it does not."""
        self.conn.close()
        self.process.join(timeout=grace_s)
        if self.process.is_alive():
            self.kill()


def _serve_forked(conn: Connection, job: Job, limits: ExtractionLimits, memory: int) -> None:
    _serve(conn, job, limits, memory, os.getppid())


class ExtractionPool:
    """Runs `job` (by default extraction and validation) in worker processes, one file each."""

    def __init__(
        self, settings: PoolSettings, limits: ExtractionLimits, *, job: Job = process_upload
    ) -> None:
        self._settings = settings
        self._limits = limits
        self._job = job
        self._ctx = multiprocessing.get_context("forkserver")
        self._threads = ThreadPoolExecutor(
            max_workers=settings.workers * 2, thread_name_prefix="extraction"
        )
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._workers: set[_Worker] = set()
        self._running: set[asyncio.Task[ExtractionOutcome]] = set()

    @property
    def worker_pids(self) -> set[int]:
        """Process ids of the live workers."""
        return {worker.pid for worker in self._workers}

    async def start(self) -> None:
        """Start the workers (the first start also starts the fork server)."""
        self._ctx.set_forkserver_preload(_PRELOAD)
        loop = asyncio.get_running_loop()
        for _ in range(self._settings.workers):
            worker = await loop.run_in_executor(self._threads, self._spawn)
            self._idle.put_nowait(worker)
        log.info(
            "extraction pool started",
            extra={"workers": self._settings.workers, "timeout_s": self._settings.timeout_s},
        )

    async def extract(self, content: bytes, file_name: str) -> ExtractionOutcome:
        """The outcome for one file; waits for a free worker first."""
        worker = await self._idle.get()
        task = asyncio.create_task(self._run(worker, content, file_name))
        self._running.add(task)
        task.add_done_callback(self._running.discard)
        # A caller that goes away (cancelled RPC) must not leak the worker: the task finishes
        # on its own and hands the worker back.
        return await asyncio.shield(task)

    async def stop(self) -> None:
        """Let files in progress finish, then stop every worker."""
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        loop = asyncio.get_running_loop()
        for worker in list(self._workers):
            await loop.run_in_executor(self._threads, worker.stop)
        self._workers.clear()
        self._threads.shutdown(wait=True)
        log.info("extraction pool stopped")

    def _spawn(self) -> _Worker:
        worker = _Worker(self._ctx, self._job, self._limits, self._settings.memory_limit_bytes)
        self._workers.add(worker)
        return worker

    def _replace(self, worker: _Worker) -> _Worker:
        worker.kill()
        self._workers.discard(worker)
        return self._spawn()

    async def _run(self, worker: _Worker, content: bytes, file_name: str) -> ExtractionOutcome:
        loop = asyncio.get_running_loop()
        timeout_s = self._settings.timeout_s
        try:
            result = await loop.run_in_executor(
                self._threads, worker.run, content, file_name, timeout_s
            )
        except BaseException:
            self._idle.put_nowait(await loop.run_in_executor(self._threads, self._replace, worker))
            raise
        if isinstance(result, ExtractionOutcome):
            self._idle.put_nowait(worker)
            return result
        pid = worker.pid
        self._idle.put_nowait(await loop.run_in_executor(self._threads, self._replace, worker))
        log.warning(
            "extraction worker replaced",
            extra={"reason": result, "pid": pid, "file_bytes": len(content)},
        )
        if result == "timeout":
            return rejected(
                RejectionCode.EXTRACTION_TIMEOUT,
                f"Reading the file took longer than {timeout_s:g} s and was stopped; the file "
                "may be damaged or unusually complex. Save it again (or as PDF) and re-upload.",
            )
        return rejected(
            RejectionCode.CORRUPT_FILE,
            "The file crashed the text extractor; it may be damaged. Save it again and re-upload.",
        )
