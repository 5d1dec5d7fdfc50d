"""Load benchmark: 200 batches of 25 essays registered and uploaded at once through the whole stack.

`python -m bench.load` starts the local stack (nats-server and the five services as processes on
free ports, as `make up` runs them), registers every batch through BOS at once, uploads each
batch's essays with one UploadFiles stream per batch (all batches at once; a stream that fails
gets no receipts and is sent again, as a client would), waits until BOS reports every batch
terminal, and measures:

* essays/s: essays / (first RegisterBatch → last batch terminal at BOS);
* upload → ready, per batch: the batch's upload starting → its BatchEssaysReady stored on the
  stream (and, for reference, its last receipt → ready);
* ready → completed, per batch: BatchEssaysReady stored → BOS's `completed_at`.

Timestamps: the client's wall clock for uploads, JetStream's stored time for events, BOS's clock
for completion; all on this machine. The load average before and after goes with the figures,
because the machine may be shared. Results go to bench/results/load.json.

Memory: the RSS of each service with its worker processes (and of nats-server) at rest, after
start and before any batch; then its peak and its end over the run. Then (unless
`--no-memory-check`) a second wave of as many batches again, served the same way on the same
stack, and the check that each service's RSS at the end of the second wave is within 10% of its
RSS at the end of the first: memory must not grow with the number of batches served (nats-server
is shown, not judged: its streams keep every batch).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from bench.e2e_report import ProcessSampler
from devstack.nats_server import settings_for
from devstack.stack import NATS, LocalStack, RunDir, StackAddresses, running_processes
from huleedu.batch.v1 import batch_service_pb2
from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.mesh.connection import connect_nats
from tests.harness.figures import summary_ms
from tests.harness.mesh_calls import MeshCalls, read_events

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT.parent / "shared" / "corpus"
RESULTS = Path(__file__).resolve().parent / "results" / "load.json"
ESSAYS_PER_BATCH = 25
RSS_GROWTH_LIMIT = 0.10  # the second wave may end at most this much above the first
_MIB = 1024 * 1024
REST_S = 5.0  # after start, before RSS at rest is read


def corpus_essays() -> list[Path]:
    """The corpus's student essays, in name order."""
    return sorted((CORPUS / "essays").glob("e*.txt"))


def short_essay(path: Path, words: int) -> bytes:
    """The essay's first `words` words (the whole essay with words=0), as UTF-8."""
    text = path.read_text(encoding="utf-8")
    if words > 0:
        text = " ".join(text.split()[:words])
    return text.encode("utf-8")


@dataclass
class LoadBatch:
    """One batch of the run and when things happened to it (wall-clock seconds)."""

    files: list[tuple[str, bytes]]
    batch_id: str = ""
    upload_started: float = 0.0
    last_receipt: float = 0.0
    ready: float = 0.0
    completed: float = 0.0
    status: int = 0


def plan_batches(batches: int, words: int) -> list[LoadBatch]:
    """`batches` batches of 25 distinct corpus essays (the corpus wraps around across batches)."""
    essays = corpus_essays()
    if len(essays) < ESSAYS_PER_BATCH:
        raise SystemExit(f"the corpus is not at {CORPUS}")
    cache: dict[Path, bytes] = {}
    plans = []
    for index in range(batches):
        files = []
        for slot in range(ESSAYS_PER_BATCH):
            path = essays[(index * ESSAYS_PER_BATCH + slot) % len(essays)]
            if path not in cache:
                cache[path] = short_essay(path, words)
            files.append((path.name, cache[path]))
        plans.append(LoadBatch(files))
    return plans


async def run_load(calls: MeshCalls, plans: list[LoadBatch], timeout_s: float) -> float:
    """Register every batch at once, upload every batch at once, wait until all are terminal;
    return the wall-clock time the first registration was sent."""
    began = time.time()
    replies = await asyncio.gather(
        *(
            calls.register(
                batch_service_pb2.RegisterBatchRequest(
                    expected_essay_count=ESSAYS_PER_BATCH,
                    course_code="LOAD",
                    language="en",
                    title=f"load {index}",
                    readiness=common_pb2.ReadinessConfig(
                        timeout_seconds=3600, partial_batch_threshold=1.0
                    ),
                )
            )
            for index in range(len(plans))
        )
    )
    for plan, reply in zip(plans, replies, strict=True):
        plan.batch_id = reply.batch_id

    async def upload(plan: LoadBatch) -> None:
        plan.upload_started = time.time()
        await calls.upload_files(plan.batch_id, plan.files)
        plan.last_receipt = time.time()

    await asyncio.gather(*(upload(plan) for plan in plans))
    finished = await calls.wait_terminal([plan.batch_id for plan in plans], timeout_s=timeout_s)
    for plan in plans:
        batch = finished[plan.batch_id]
        plan.status = batch.status
        plan.completed = batch.completed_at.ToDatetime(tzinfo=UTC).timestamp()
    return began


async def measure(addresses: StackAddresses, batches: int, words: int) -> dict[str, Any]:
    """One run against a running stack: the figures of the run."""
    plans = plan_batches(batches, words)
    calls = MeshCalls(
        bos=[addresses.services["BATCH_ORCHESTRATOR_ADDR"]],
        files=[addresses.services["FILE_SERVICE_ADDR"]],
        els=[addresses.services["ESSAY_LIFECYCLE_ADDR"]],
    )
    load_before = os.getloadavg()
    try:
        began = await run_load(calls, plans, timeout_s=max(600.0, batches * 6.0))
    finally:
        await calls.close()
    ended = max(plan.completed for plan in plans)
    load_after = os.getloadavg()

    settings = settings_for(addresses.nats_url)
    client, js = await connect_nats(settings, "bench-load")
    try:
        events = await read_events(js)
    finally:
        await client.drain()
    ready_at = {
        event.batch_id: stored
        for stored, _, event in events
        if isinstance(event, events_pb2.BatchEssaysReady)
    }
    for plan in plans:
        plan.ready = ready_at[plan.batch_id]
    essays = batches * ESSAYS_PER_BATCH
    statuses: dict[str, int] = {}
    for plan in plans:
        name = common_pb2.BatchStatus.Name(plan.status).removeprefix("BATCH_STATUS_")  # type: ignore[arg-type]
        statuses[name] = statuses.get(name, 0) + 1
    words_per_essay = [len(content.split()) for plan in plans for _, content in plan.files]
    return {
        "batches": batches,
        "essays": essays,
        "words_per_essay_mean": round(sum(words_per_essay) / len(words_per_essay), 1),
        "statuses": statuses,
        "all_completed": statuses == {"COMPLETED": batches},
        "seconds": round(ended - began, 2),
        "essays_per_s": round(essays / (ended - began), 1),
        "upload_to_ready": summary_ms([p.ready - p.upload_started for p in plans]),
        "last_receipt_to_ready": summary_ms([p.ready - p.last_receipt for p in plans]),
        "ready_to_completed": summary_ms([p.completed - p.ready for p in plans]),
        "calls_retried": dict(calls.retry_codes),
        "load_average_1m_before": round(load_before[0], 2),
        "load_average_1m_after": round(load_after[0], 2),
        "load_average_5m_after": round(load_after[1], 2),
    }


def log_summary(logs: Path) -> dict[str, dict[str, int]]:
    """Per service, how often each warning or error was logged (its first 100 characters)."""
    summary: dict[str, dict[str, int]] = {}
    for path in sorted(logs.glob("*.log")):
        counts: Counter[str] = Counter()
        for line in path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # nats-server's own log, or a line that is not ours
            if isinstance(entry, dict) and entry.get("level") in ("WARNING", "ERROR"):
                counts[f"{entry['level']}: {str(entry.get('message', ''))[:100]}"] += 1
        if counts:
            summary[path.stem] = dict(counts.most_common(8))
    return summary


def resident_mib(pids: Mapping[str, int]) -> dict[str, float]:
    """RSS of each process with its child processes (a service's workers) now, in MiB."""
    sizes = {}
    for name, pid in pids.items():
        process = psutil.Process(pid)
        total = 0
        for member in [process, *process.children(recursive=True)]:
            try:
                total += member.memory_info().rss
            except psutil.NoSuchProcess:
                continue  # a worker that exited meanwhile
        sizes[name] = round(total / _MIB, 1)
    return sizes


async def measured_wave(
    addresses: StackAddresses, batches: int, words: int, pids: Mapping[str, int]
) -> tuple[dict[str, Any], dict[str, float], dict[str, float]]:
    """One wave of `batches`: its figures, then the peak and the end RSS of every process."""
    sampler = ProcessSampler(pids)
    sampler.start()
    try:
        run = await measure(addresses, batches, words)
    finally:
        usage = sampler.stop()
    peak = {name: round(u["peak_rss_mib"], 1) for name, u in usage.items()}
    return run, peak, resident_mib(pids)


def growth_check(first_end: Mapping[str, float], second_end: Mapping[str, float]) -> dict[str, Any]:
    """Whether each service ended the second wave within RSS_GROWTH_LIMIT of the first.
    nats-server is shown but not judged: it holds part of what the streams keep, and they keep
    every batch (limits retention)."""
    ratios = {name: second_end[name] / first_end[name] for name in first_end}
    within = {name: ratio <= 1 + RSS_GROWTH_LIMIT for name, ratio in ratios.items() if name != NATS}
    for name, ratio in ratios.items():
        verdict = "not judged" if name == NATS else "ok" if within[name] else "GREW"
        print(
            f"RSS {name}: {first_end[name]} MiB after the first wave, {second_end[name]} MiB "
            f"after the second ({ratio:.2f}x): {verdict}",
            file=sys.stderr,
        )
    print(f"services' RSS within {RSS_GROWTH_LIMIT:.0%}: {all(within.values())}", file=sys.stderr)
    return {
        "limit": RSS_GROWTH_LIMIT,
        "second_end_over_first_end": {name: round(r, 3) for name, r in ratios.items()},
        "services_within": all(within.values()),
    }


async def run_with_stack(batches: int, words: int, memory_check: bool) -> dict[str, Any]:
    """Start a local stack in a temporary run directory, measure (twice with the memory
    check), stop it."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        addresses = StackAddresses.free()
        run_dir = RunDir(Path(tmp))
        stack = LocalStack(run_dir, addresses)
        stack.start()
        try:
            pids = {p.name: p.pid for p in running_processes(run_dir)}
            await asyncio.sleep(REST_S)  # SERVING comes first; let start-up work finish
            rss: dict[str, dict[str, float]] = {"at_rest": resident_mib(pids)}
            run, rss["peak"], rss["end"] = await measured_wave(addresses, batches, words, pids)
            if memory_check:
                second, rss["second_wave_peak"], rss["second_wave_end"] = await measured_wave(
                    addresses, batches, words, pids
                )
        finally:
            stack.stop()
        run["rss_mib"] = {name: {when: rss[when][name] for when in rss} for name in pids}
        if memory_check:
            run["second_wave"] = second
            run["rss_growth"] = growth_check(rss["end"], rss["second_wave_end"])
        run["service_warnings"] = log_summary(run_dir.logs)
        return run


def main() -> None:
    """Parse arguments, run, write the JSON."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batches", type=int, default=200)
    parser.add_argument(
        "--words", type=int, default=0, help="cut each essay to its first N words (0: whole)"
    )
    parser.add_argument("--log-level", default="WARNING", help="LOG_LEVEL of the services")
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--memory-check",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="then a second wave of as many batches, and the RSS growth check (default: on)",
    )
    args = parser.parse_args()
    print(f"{args.batches} batches x {ESSAYS_PER_BATCH} essays ...", file=sys.stderr)
    os.environ["LOG_LEVEL"] = args.log_level  # the stack's services inherit this environment
    run = asyncio.run(run_with_stack(args.batches, args.words, args.memory_check))
    document = {
        "benchmark": "load",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "shared": "other engineers' tests and benchmarks ran on the machine meanwhile",
        },
        "config": {
            "stack": "devstack LocalStack: nats-server (sync_interval: always) and one "
            "process of each service, default settings, LOG_LEVEL " + args.log_level,
            "client": "all RegisterBatch at once, then one UploadFiles stream per batch, all at "
            "once; GetBatch polled once a second per unfinished batch",
            "essays": "real corpus essays (../shared/corpus/essays), 25 distinct per batch"
            + (f", cut to the first {args.words} words" if args.words else ""),
            "memory": "RSS of each process with its workers (psutil): at rest after start, "
            "peak (sampled every 0.2 s) and end of the run"
            + (
                "; then a second wave of as many batches on the same stack, the same way "
                "(second_wave), and its peak and end"
                if args.memory_check
                else ""
            ),
        },
        "run": run,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document, indent=2))


if __name__ == "__main__":
    main()
