"""Coordination benchmark: N concurrent batches of 25 essays through BOS and ELS.

`python -m bench.coordination` starts a fresh nats-server, BOS and ELS as processes and a stub spell
checker that answers every request at once; registers N batches through BOS, publishes each
essay's EssayContentProvisioned as the File Service would, and measures:

* essays/s from the first upload until BOS reports the last batch terminal (through ELS and BOS),
  and until the last BatchEssaysReady (slot assignment alone);
* per batch, p50/p99 of last upload -> BatchEssaysReady and of BatchEssaysReady ->
  ELSBatchPhaseOutcome, timed where the stream stores the events (a JetStream consumer here).

Results go to bench/results/coordination.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from devstack.nats_server import NatsServer, nats_server_binary, settings_for
from huleedu.batch.v1 import batch_service_pb2, batch_service_pb2_grpc
from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from services.cli.results import TERMINAL
from services.mesh.connection import connect_nats
from services.mesh.publisher import EventPublisher
from services.mesh.streams import ensure_streams
from tests.harness.coordination_events import provisioned
from tests.harness.coordination_harness import EventTap, StubSpellChecker, bos_process, els_process
from tests.harness.figures import summary_ms

ESSAYS_PER_BATCH = 25
RESULTS = Path(__file__).resolve().parent / "results" / "coordination.json"


async def register_batches(
    bos: batch_service_pb2_grpc.BatchOrchestratorServiceAsyncStub, count: int
) -> list[str]:
    """Register `count` batches through BOS, 32 at a time."""
    limit = asyncio.Semaphore(32)

    async def one() -> str:
        async with limit:
            reply = await bos.RegisterBatch(
                batch_service_pb2.RegisterBatchRequest(
                    expected_essay_count=ESSAYS_PER_BATCH,
                    course_code="BENCH",
                    language="en",
                    readiness=common_pb2.ReadinessConfig(
                        timeout_seconds=3600, partial_batch_threshold=1.0
                    ),
                )
            )
            return reply.batch_id

    return list(await asyncio.gather(*(one() for _ in range(count))))


async def wait_terminal(
    bos: batch_service_pb2_grpc.BatchOrchestratorServiceAsyncStub,
    tap: EventTap,
    batch_ids: Sequence[str],
    timeout_s: float,
) -> dict[str, float]:
    """When BOS first reported each batch terminal. A batch is asked about only once its phase
    outcome is on the stream, so the polling does not load BOS while it works."""
    seen: dict[str, float] = {}
    ids = set(batch_ids)
    deadline = time.monotonic() + timeout_s

    async def check(batch_id: str) -> None:
        reply = await bos.GetBatch(batch_service_pb2.GetBatchRequest(batch_id=batch_id))
        if reply.batch.status in TERMINAL:
            seen[batch_id] = time.monotonic()

    while len(seen) < len(ids):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids) - len(seen)} batches not terminal in {timeout_s} s")
        finished = {e.batch_id for e in tap.of(events_pb2.ELSBatchPhaseOutcome, ids)}
        await asyncio.gather(*(check(b) for b in finished if b not in seen))
        await asyncio.sleep(0.02)
    return seen


async def run_once(batches: int, workdir: Path, *, sync_always: bool) -> dict[str, Any]:
    """One measured run with a fresh server and fresh services."""
    server = NatsServer(workdir / f"nats-{batches}", sync_always=sync_always)
    server.start()
    quiet = {"LOG_LEVEL": "WARNING"}
    els = els_process(server.url, workdir / f"els-{batches}.log", **quiet)
    bos = bos_process(server.url, workdir / f"bos-{batches}.log", **quiet)
    settings = settings_for(server.url)
    client, js = await connect_nats(settings, "bench")
    try:
        await ensure_streams(js, settings)
        await asyncio.gather(els.start(), bos.start())
        tap = EventTap(js)
        stub = StubSpellChecker(js, concurrency=256)
        await tap.start()
        await stub.start()
        publisher = EventPublisher(js, "file_service")
        async with grpc.aio.insecure_channel(bos.addr) as channel:
            stub_bos = batch_service_pb2_grpc.BatchOrchestratorServiceStub(channel)
            batch_ids = await register_batches(stub_bos, batches)
            uploads = [
                provisioned(batch_id, f"essay{i}.txt")
                for i in range(ESSAYS_PER_BATCH)
                for batch_id in batch_ids
            ]  # round robin: every batch fills at the same time
            last_upload: dict[str, float] = {}
            first_upload = time.monotonic()
            for start in range(0, len(uploads), 250):
                chunk = uploads[start : start + 250]
                await asyncio.gather(*(publisher.publish(u) for u in chunk))
                acked = time.monotonic()
                for upload in chunk:
                    last_upload[upload.batch_id] = acked
            uploaded = time.monotonic()
            terminal = await wait_terminal(stub_bos, tap, batch_ids, timeout_s=600)
        await stub.stop()
        await tap.stop()
    finally:
        await asyncio.gather(els.stop(), bos.stop(), return_exceptions=True)
        await client.close()
        server.stop()

    ids = set(batch_ids)
    ready_at = {e.batch_id: t for t, e in tap.timed(events_pb2.BatchEssaysReady, ids)}
    outcome_at = {e.batch_id: t for t, e in tap.timed(events_pb2.ELSBatchPhaseOutcome, ids)}
    groups = tap.of(events_pb2.SpellcheckGroupRequested, ids)
    requested = Counter(essay.essay_id for group in groups for essay in group.essays)
    essays = batches * ESSAYS_PER_BATCH
    assert len(ready_at) == batches and len(outcome_at) == batches
    assert len(requested) == essays and set(requested.values()) == {1}
    return {
        "batches": batches,
        "essays": essays,
        "upload_publish_s": round(uploaded - first_upload, 3),
        "end_to_end_s": round(max(terminal.values()) - first_upload, 3),
        "essays_per_s_through_els_and_bos": round(
            essays / (max(terminal.values()) - first_upload), 1
        ),
        "essays_per_s_to_ready": round(essays / (max(ready_at.values()) - first_upload), 1),
        "last_upload_to_ready": summary_ms([ready_at[b] - last_upload[b] for b in batch_ids]),
        "ready_to_phase_outcome": summary_ms([outcome_at[b] - ready_at[b] for b in batch_ids]),
        "ready_to_bos_terminal": summary_ms([terminal[b] - ready_at[b] for b in batch_ids]),
    }


def nats_version() -> str:
    """The nats-server version string."""
    done = subprocess.run(
        [nats_server_binary(), "--version"], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    """All runs, one after another."""
    runs = []
    with tempfile.TemporaryDirectory(prefix="bench-coordination-") as tmp:
        for durability in args.durability:
            for batches in args.batches:
                print(
                    f"{batches} batches x {ESSAYS_PER_BATCH} essays, sync {durability} ...",
                    file=sys.stderr,
                )
                result = await run_once(
                    batches, Path(tmp) / durability, sync_always=durability == "always"
                )
                result = {"jetstream_sync": durability, **result}
                print(json.dumps(result), file=sys.stderr)
                runs.append(result)
    return {
        "benchmark": "coordination",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "nats_server": nats_version(),
        },
        "config": {
            "essays_per_batch": ESSAYS_PER_BATCH,
            "jetstream_sync": "always = sync_interval: always (shipped); relaxed = server default",
            "spell_checker": "stub: answers each request at once",
            "file_service": "EssayContentProvisioned published by the benchmark, round robin",
            "els_instances": 1,
            "bos_instances": 1,
            "processes": "nats-server, ELS, BOS and this driver on one machine",
        },
        "runs": runs,
    }


def main() -> None:
    """Parse arguments, run, write the JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--batches", type=int, nargs="+", default=[10, 200])
    parser.add_argument("--output", type=Path, default=RESULTS)
    parser.add_argument(
        "--durability",
        nargs="+",
        choices=["always", "relaxed"],
        default=["always"],
        help="always: JetStream sync_interval: always (shipped); relaxed: the server default",
    )
    args = parser.parse_args()
    results = asyncio.run(main_async(args))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
