"""The Celery + Redis peer of the end-to-end benchmark: starts Debian's redis-server and a prefork
Celery worker (bench.celery_tasks) as subprocesses, submits batches as a client would (each
essay's bytes stored in Redis like an upload, then a chord of one task per essay), waits for every
chord, and stops both.

redis-server runs on a free loopback port with its data in a temporary directory, `appendonly yes`
and `appendfsync always`: every write is on disk before Redis answers, as our JetStream runs with
`sync_interval: always`.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil
import redis
from celery import Celery, chord
from celery.result import AsyncResult

from bench.celery_tasks import (
    CHECK_ESSAY,
    MARK_BATCH_DONE,
    READY_KEY,
    batch_key,
    corrected_key,
    peer_app,
    upload_key,
)
from bench.e2e_corpus import BenchFile
from devstack.nats_server import free_port
from devstack.processes import ManagedProcess, spawn, stop

REPO_ROOT = Path(__file__).resolve().parent.parent
_POLL_S = 0.05


class PeerError(RuntimeError):
    """redis-server or the Celery worker did not start, or a batch did not complete."""


def redis_server_binary() -> str | None:
    """The redis-server executable on PATH (Debian's `redis-server` package), if installed."""
    return shutil.which("redis-server")


def _log_tail(path: Path, lines: int = 15) -> str:
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class RedisServer:
    """One redis-server on a free port of 127.0.0.1 with its data under `directory`."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.port = free_port()
        self.log_path = directory / "redis-server.log"
        self.process: ManagedProcess | None = None

    @property
    def url(self) -> str:
        """The URL clients and the worker use (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout_s: float = 20.0) -> None:
        """Start the server and return once it answers PING."""
        binary = redis_server_binary()
        if binary is None:
            raise PeerError("redis-server not found: apt-get install -y redis-server")
        self.directory.mkdir(parents=True, exist_ok=True)
        argv = [binary, "--bind", "127.0.0.1", "--port", str(self.port)]
        argv += ["--dir", str(self.directory), "--save", ""]  # AOF only, no RDB snapshots
        argv += ["--appendonly", "yes", "--appendfsync", "always", "--daemonize", "no"]
        self.process = spawn(
            "redis-server",
            argv,
            log_path=self.log_path,
            env=os.environ,
            cwd=self.directory,
            marker="redis-server",
        )
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + timeout_s
        while True:
            if not self.process.alive:
                raise PeerError(f"redis-server exited:\n{_log_tail(self.log_path)}")
            with contextlib.suppress(redis.ConnectionError):
                if client.ping():
                    client.close()
                    return
            if time.monotonic() > deadline:
                raise PeerError(f"redis-server not answering after {timeout_s} s")
            time.sleep(_POLL_S)

    def stop(self) -> None:
        """SIGTERM the server and wait for it to exit."""
        if self.process is not None:
            stop(self.process)
            self.process = None


@dataclass(frozen=True)
class PeerRun:
    """One run of batches: when the first upload was stored and the last batch was marked done
    (epoch s), and each batch's id with its essay ids."""

    started: float
    finished: float
    batches: dict[str, list[str]]


class CeleryPeer:
    """redis-server and one Celery worker with `concurrency` pool processes under `directory`."""

    def __init__(self, directory: Path, concurrency: int = os.cpu_count() or 1) -> None:
        self.directory = directory
        self.concurrency = concurrency
        self.redis = RedisServer(directory / "redis")
        self.worker_log = directory / "celery-worker.log"
        self.worker: ManagedProcess | None = None
        self._store: redis.Redis | None = None

    def __enter__(self) -> CeleryPeer:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self, timeout_s: float = 120.0) -> None:
        """Start Redis, then the worker; return once every pool process has its checker loaded
        and the worker answers a ping. On failure, stop what was started."""
        try:
            self.redis.start()
            self._store = redis.Redis.from_url(self.redis.url)
            # Celery's own variables would override the broker passed on the command line.
            env = {k: v for k, v in os.environ.items() if not k.startswith("CELERY_")}
            argv = [sys.executable, "-m", "bench.celery_tasks", "--redis-url", self.redis.url]
            self.worker = spawn(
                "celery-worker",
                [*argv, "--concurrency", str(self.concurrency)],
                log_path=self.worker_log,
                env=env,
                cwd=REPO_ROOT,
                marker="bench.celery_tasks",
            )
            self._wait_ready(time.monotonic() + timeout_s)
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, deadline: float) -> None:
        app = peer_app(self.redis.url)
        try:
            while not (
                self.store.scard(READY_KEY) >= self.concurrency and app.control.ping(timeout=0.5)
            ):
                if self.worker is None or not self.worker.alive:
                    raise PeerError(f"the Celery worker exited:\n{_log_tail(self.worker_log)}")
                if time.monotonic() > deadline:
                    raise PeerError(f"the Celery worker not ready:\n{_log_tail(self.worker_log)}")
                time.sleep(_POLL_S)
        finally:
            app.close()

    def stop(self) -> None:
        """Stop the worker (a warm shutdown: SIGTERM), then Redis."""
        if self._store is not None:
            self._store.close()
            self._store = None
        if self.worker is not None:
            stop(self.worker)
            self.worker = None
        self.redis.stop()

    @property
    def store(self) -> redis.Redis:
        """A client of the peer's Redis."""
        if self._store is None:
            raise PeerError("the peer is not running")
        return self._store

    def processes(self) -> dict[str, int]:
        """The pid of redis-server, of the worker's main process and of each pool process."""
        if self.worker is None or self.redis.process is None:
            raise PeerError("the peer is not running")
        pool = sorted(child.pid for child in psutil.Process(self.worker.pid).children())
        return {
            "redis-server": self.redis.process.pid,
            "celery worker (main)": self.worker.pid,
            **{f"celery pool process {i}": pid for i, pid in enumerate(pool, 1)},
        }

    def run(self, batches: Sequence[Sequence[BenchFile]], timeout_s: float) -> PeerRun:
        """Submit every batch at once and wait until each chord's callback has run."""
        app = peer_app(self.redis.url)
        try:
            started = time.time()
            submitted = [self._submit(app, files) for files in batches]
            deadline = time.monotonic() + timeout_s
            for (batch_id, result), files in zip(submitted, batches, strict=True):
                checked = result.get(timeout=max(deadline - time.monotonic(), 0.1))
                if checked != len(files):
                    raise PeerError(f"batch {batch_id}: {checked} of {len(files)} essays checked")
        finally:
            app.close()
        done = {batch_id: self.batch_status(batch_id) for batch_id, _ in submitted}
        finished = max(float(status["completed_at"]) for status in done.values())
        essays = {
            batch_id: [essay_id(f) for f in files]
            for (batch_id, _), files in zip(submitted, batches, strict=True)
        }
        return PeerRun(started, finished, essays)

    def _submit(self, app: Celery, files: Sequence[BenchFile]) -> tuple[str, AsyncResult]:
        """Store the batch's uploads, then send its chord: one task per essay, then the callback."""
        batch_id = uuid.uuid4().hex
        with self.store.pipeline(transaction=False) as pipe:
            for f in files:
                pipe.set(upload_key(batch_id, essay_id(f)), f.content)
            pipe.execute()
        tasks = app.tasks
        header = [tasks[CHECK_ESSAY].s(batch_id, essay_id(f)) for f in files]
        return batch_id, chord(header)(tasks[MARK_BATCH_DONE].s(batch_id))

    def batch_status(self, batch_id: str) -> dict[str, str]:
        """The batch's status hash as the chord's callback wrote it (empty before)."""
        raw = self.store.hgetall(batch_key(batch_id))
        return {_text(key): _text(value) for key, value in raw.items()}

    def corrected_texts(self, batch_id: str, essay_ids: Sequence[str]) -> dict[str, str]:
        """The corrected text the peer stored for each essay."""
        values = self.store.mget([corrected_key(batch_id, e) for e in essay_ids])
        return {e: _text(v) for e, v in zip(essay_ids, values, strict=True) if v is not None}


def _text(value: bytes | str) -> str:
    """A Redis reply as text (the client returns bytes: it does not decode responses)."""
    return value.decode("utf-8") if isinstance(value, bytes) else value


def essay_id(upload: BenchFile) -> str:
    """An essay's id within its batch: its file name without the extension."""
    return upload.name.rsplit(".", 1)[0]
