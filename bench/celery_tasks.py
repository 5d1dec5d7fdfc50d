"""The Celery peer's app and tasks: per essay what the mesh does (read the upload, decode it, store
the text, spell-check it with our own engine, store the corrected text), one chord per batch whose
callback marks the batch done. Redis is the broker, the result backend and the store.

    python -m bench.celery_tasks --redis-url redis://127.0.0.1:<port>/0 [--concurrency N]

runs a prefork worker (bench.celery_peer starts it as a subprocess). Keys: `upload:<batch>:<essay>`
(the bytes the client stored), `text:<batch>:<essay>`, `corrected:<batch>:<essay>`, and the hash
`batch:<batch>` (status, essays, completed_at) that the chord's callback writes.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass

import redis
from celery import Celery
from celery.signals import worker_process_init

from services.spell_checker.adapters.checkers import LanguageCheckers
from services.spell_checker.settings import SpellCheckerSettings

CHECK_ESSAY = "peer.check_essay"
MARK_BATCH_DONE = "peer.mark_batch_done"
LANGUAGE = "en"
READY_KEY = "peer:ready"  # the pids of the pool processes whose checker is loaded


def upload_key(batch_id: str, essay_id: str) -> str:
    """Where the client stores an essay's uploaded bytes."""
    return f"upload:{batch_id}:{essay_id}"


def text_key(batch_id: str, essay_id: str) -> str:
    """Where a task stores the essay's decoded text."""
    return f"text:{batch_id}:{essay_id}"


def corrected_key(batch_id: str, essay_id: str) -> str:
    """Where a task stores the essay's corrected text."""
    return f"corrected:{batch_id}:{essay_id}"


def batch_key(batch_id: str) -> str:
    """The batch's status hash, written by the chord's callback."""
    return f"batch:{batch_id}"


@dataclass
class _PoolProcess:
    """What one pool process holds for its whole life, like a Spell Checker worker."""

    redis_url: str = ""
    store: redis.Redis | None = None
    checkers: LanguageCheckers | None = None


_process = _PoolProcess()


def _start_pool_process(**_: object) -> None:
    """worker_process_init: connect to Redis and load the dictionary and index now, as the Spell
    Checker's workers do at start, rather than on the first essay; then say so in READY_KEY."""
    _process.store = redis.Redis.from_url(_process.redis_url)
    # The Spell Checker's own settings: the same engine, index cache and memo as its workers.
    _process.checkers = LanguageCheckers(SpellCheckerSettings.from_env().checker)
    _process.checkers.checker(LANGUAGE)
    _process.store.sadd(READY_KEY, os.getpid())


def _pool_state() -> tuple[redis.Redis, LanguageCheckers]:
    if _process.store is None or _process.checkers is None:
        raise RuntimeError("task ran in a process that worker_process_init did not set up")
    return _process.store, _process.checkers


def check_essay(batch_id: str, essay_id: str) -> str:
    """Read the upload, decode it, store the text, check it, store the corrected text."""
    store, checkers = _pool_state()
    content = store.get(upload_key(batch_id, essay_id))
    if not isinstance(content, bytes):
        raise LookupError(f"no upload for essay {essay_id} of batch {batch_id}")
    text = content.decode("utf-8")
    store.set(text_key(batch_id, essay_id), text)
    result = checkers.check(LANGUAGE, text)
    store.set(corrected_key(batch_id, essay_id), result.corrected_text)
    return essay_id


def mark_batch_done(essay_ids: list[str], batch_id: str) -> int:
    """The chord's callback: every essay of the batch is checked; returns how many."""
    store, _ = _pool_state()
    store.hset(
        batch_key(batch_id),
        mapping={"status": "done", "essays": len(essay_ids), "completed_at": time.time()},
    )
    return len(essay_ids)


def peer_app(redis_url: str) -> Celery:
    """The Celery app on the Redis at `redis_url` (broker and result backend)."""
    app = Celery("huleedu_peer", broker=redis_url, backend=redis_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,  # an essay leaves the queue once checked, not once received
        task_reject_on_worker_lost=True,  # the essay of a killed pool process is redelivered
        broker_connection_retry_on_startup=True,
    )
    app.task(name=CHECK_ESSAY)(check_essay)
    app.task(name=MARK_BATCH_DONE)(mark_batch_done)
    return app


def run_worker(redis_url: str, concurrency: int, loglevel: str) -> None:
    """Run a prefork worker in this process until it is told to stop (SIGTERM)."""
    _process.redis_url = redis_url  # set before the pool forks, so every pool process has it
    worker_process_init.connect(_start_pool_process, weak=False)
    peer_app(redis_url).worker_main(
        ["worker", "--pool=prefork", f"--concurrency={concurrency}", f"--loglevel={loglevel}"]
    )


def main() -> int:
    """Parse the command line and run the worker."""
    parser = argparse.ArgumentParser(description="The Celery peer's worker")
    parser.add_argument("--redis-url", required=True)
    parser.add_argument("--concurrency", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--loglevel", default="WARNING")
    args = parser.parse_args()
    run_worker(args.redis_url, args.concurrency, args.loglevel)
    return 0


if __name__ == "__main__":
    sys.exit(main())
