"""ELS cost per essay against the batch size: does a batch of 500 cost more per essay than 25?

`python -m bench.els_batch_size` starts a fresh nats-server and drives ELS's real handlers
in-process (real KV buckets, real publisher) through one batch per size: the registration, every
essay's upload, the spell-check command, every essay's result, one event at a time by default
(the worst case: no two updates share a write; `--in-flight` runs more at once, as the consumer
does, and group commits then fold them), with the upload metrics and the essay census running as in
the service. Per essay and per step it reports:

* ELS CPU ms: time.process_time of this process, which runs the handlers and the NATS client;
* nats-server CPU ms, from /proc;
* KV bytes written to the trackers' bucket: the bytes this process sent on a NATS connection used
  for that bucket alone (payloads and protocol), and the number of writes (stream sequences).

Each size runs `--repeats` times, interleaved; the figures are medians, with the spread (min-max)
to show the noise, and the ratios of the largest size to the smallest.
Results go to bench/results/els_batch_size.json.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import platform
import pstats
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.client import Client

from devstack.nats_server import NatsServer, settings_for
from huleedu.events.v1 import events_pb2
from services.essay_lifecycle.adapters.deadline import JetStreamDeadlineScheduler
from services.essay_lifecycle.adapters.kv_store import (
    BATCHES_BUCKET,
    ESSAYS_BUCKET,
    KvEssayIndex,
    KvTrackerRepository,
)
from services.essay_lifecycle.adapters.metrics import (
    count_registration,
    count_upload,
    essay_census,
)
from services.essay_lifecycle.domain.slots import ReadinessRules
from services.essay_lifecycle.entrypoints.event_handlers import EssayLifecycleHandlers
from services.mesh.connection import connect_nats
from services.mesh.publisher import EventPublisher
from services.mesh.streams import ensure_kv, ensure_streams
from tests.harness.coordination_events import (
    essay_requests,
    group_completed,
    new_batch,
    provisioned,
    registered,
    spellcheck_command,
    spellcheck_completed,
)

RESULTS = Path(__file__).resolve().parent / "results" / "els_batch_size.json"
STEPS = ("upload", "result")
_TICKS = os.sysconf("SC_CLK_TCK")


class RecordingPublisher:
    """The real publisher, keeping what ELS published so the driver can answer it."""

    def __init__(self, inner: EventPublisher) -> None:
        self._inner = inner
        self.published: list[Message] = []

    async def publish(
        self,
        event: Message,
        *,
        subject: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        self.published.append(event)
        return await self._inner.publish(event, subject=subject, headers=headers)

    def of_type(self, event_type: type[Message], batch_id: str) -> list[Any]:
        return [
            e
            for e in self.published
            if isinstance(e, event_type) and getattr(e, "batch_id", "") == batch_id
        ]


class NoErasure:
    """The benchmark erases nothing."""

    async def erase(
        self, storage_ids: Sequence[str], *, tenant: str, holder: str
    ) -> tuple[list[str], list[str]]:
        raise AssertionError("the benchmark erases nothing")


def server_cpu_s(server: NatsServer) -> float:
    """CPU seconds (user + system) the nats-server process used so far."""
    assert server.process is not None
    fields = Path(f"/proc/{server.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS


class Meter:
    """CPU of this process and of nats-server, bytes sent to the trackers' bucket, its writes."""

    def __init__(self, server: NatsServer, batches_nc: Client, batches_js: Any) -> None:
        self._server = server
        self._nc = batches_nc
        self._js = batches_js

    async def read(self) -> tuple[float, float, int, int]:
        info = await self._js.stream_info(f"KV_{BATCHES_BUCKET}")
        return (
            time.process_time(),
            server_cpu_s(self._server),
            self._nc.stats["out_bytes"],
            info.state.last_seq,
        )

    async def measure(self, essays: int, run: Callable[[], Awaitable[None]]) -> dict[str, float]:
        before = await self.read()
        await run()
        after = await self.read()
        cpu, server_cpu, sent, writes = (b - a for a, b in zip(before, after, strict=True))
        return {
            "els_cpu_ms_per_essay": cpu * 1000 / essays,
            "nats_server_cpu_ms_per_essay": server_cpu * 1000 / essays,
            "kv_bytes_per_essay": sent / essays,
            "kv_writes_per_essay": writes / essays,
        }


def _clock() -> Timestamp:
    now = Timestamp()
    now.GetCurrentTime()
    return now


async def at_most(in_flight: int, calls: Sequence[Callable[[], Awaitable[None]]]) -> None:
    """Make the calls in order, `in_flight` of them at a time (as the consumer runs handlers)."""
    limit = asyncio.Semaphore(in_flight)

    async def one(call: Callable[[], Awaitable[None]]) -> None:
        async with limit:
            await call()

    await asyncio.gather(*(one(call) for call in calls))


async def one_batch(
    handlers: EssayLifecycleHandlers,
    publisher: RecordingPublisher,
    meter: Meter,
    size: int,
    in_flight: int = 1,
) -> dict[str, dict[str, float]]:
    """Register a batch of `size`, upload every essay, initiate spell check, report every
    result, `in_flight` events at a time; the cost of the uploads and of the results, per
    essay."""
    batch_id, essay_ids = new_batch(size)
    await handlers.on_batch_registered(registered(batch_id, essay_ids, timeout_s=3600))
    uploads = [provisioned(batch_id, f"essay-{i}.txt") for i in range(size)]

    async def upload_all() -> None:
        calls = [partial(handlers.on_upload, u, n) for n, u in enumerate(uploads, start=1)]
        await at_most(in_flight, calls)

    figures = {"upload": await meter.measure(size, upload_all)}
    ready = publisher.of_type(events_pb2.BatchEssaysReady, batch_id)
    assert len(ready) == 1 and len(ready[0].ready_essays) == size, "the batch did not close"
    await handlers.on_spellcheck_command(spellcheck_command(ready[0]))
    groups = publisher.of_type(events_pb2.SpellcheckGroupRequested, batch_id)
    requests = essay_requests(groups)
    assert len(requests) == size, f"{len(requests)} spell-check requests for {size} essays"
    answers = [
        group_completed(group, [spellcheck_completed(r) for r in essay_requests([group])])
        for group in groups
    ]

    async def report_all() -> None:
        calls = [partial(handlers.on_spellcheck_group_completed, a) for a in answers]
        await at_most(in_flight, calls)

    figures["result"] = await meter.measure(size, report_all)
    outcomes = publisher.of_type(events_pb2.ELSBatchPhaseOutcome, batch_id)
    assert len(outcomes) == 1 and len(outcomes[0].processed_essays) == size, "no phase outcome"
    publisher.published.clear()
    return figures


def summarize(runs: dict[int, list[dict[str, dict[str, float]]]]) -> dict[str, Any]:
    """Medians and spreads per size and step, and the ratios of the largest size to the
    smallest."""
    sizes = sorted(runs)
    by_size: dict[str, Any] = {}
    for size in sizes:
        by_size[str(size)] = {
            step: {
                figure: {
                    "median": statistics.median(run[step][figure] for run in runs[size]),
                    "min": min(run[step][figure] for run in runs[size]),
                    "max": max(run[step][figure] for run in runs[size]),
                }
                for figure in runs[size][0][step]
            }
            for step in STEPS
        }
    small, large = str(sizes[0]), str(sizes[-1])
    ratios = {
        step: {
            figure: _ratio(
                by_size[large][step][figure]["median"], by_size[small][step][figure]["median"]
            )
            for figure in by_size[small][step]
        }
        for step in STEPS
    }
    return {"by_size": by_size, f"ratio_{large}_to_{small}": ratios}


def _ratio(large: float, small: float) -> float | None:
    """large / small, or None when the small figure is too small to measure (nats-server's CPU
    is counted in ticks of 10 ms)."""
    return round(large / small, 2) if small > 0 else None


async def run(
    sizes: Sequence[int], repeats: int, profile: Path | None, in_flight: int
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="els-batch-size-") as store:
        server = NatsServer(Path(store))
        server.start()
        try:
            return await _run_against(server, sizes, repeats, profile, in_flight)
        finally:
            server.stop()


async def _run_against(
    server: NatsServer, sizes: Sequence[int], repeats: int, profile: Path | None, in_flight: int
) -> dict[str, Any]:
    settings = settings_for(server.url)
    nc, js = await connect_nats(settings, "bench-els")
    # The trackers' bucket gets a connection of its own, so what it sends is what ELS wrote.
    batches_nc, batches_js = await connect_nats(settings, "bench-els-batches")
    try:
        await ensure_streams(js, settings)
        batches_kv = await ensure_kv(batches_js, BATCHES_BUCKET, settings, message_ttls=True)
        essays_kv = await ensure_kv(js, ESSAYS_BUCKET, settings)
        publisher = RecordingPublisher(EventPublisher(js, "essay_lifecycle"))
        handlers = EssayLifecycleHandlers(
            KvTrackerRepository(batches_kv),
            KvEssayIndex(essays_kv, nc),
            publisher,
            JetStreamDeadlineScheduler(publisher),
            NoErasure(),
            rules=ReadinessRules(timeout_s=3600, partial_threshold=0.8),
            clock=_clock,
            on_upload=count_upload,
            on_registered=count_registration,
        )
        # As in the service: the census follows the trackers' bucket (on the other connection).
        census = asyncio.create_task(essay_census(await js.key_value(BATCHES_BUCKET)).follow())
        meter = Meter(server, batches_nc, batches_js)
        await one_batch(handlers, publisher, meter, min(sizes))  # warm-up, not counted
        runs: dict[int, list[dict[str, dict[str, float]]]] = {size: [] for size in sizes}
        for _ in range(repeats):
            for size in sizes:
                runs[size].append(await one_batch(handlers, publisher, meter, size, in_flight))
        if profile is not None:
            profiler = cProfile.Profile()
            profiler.enable()
            await one_batch(handlers, publisher, meter, max(sizes), in_flight)
            profiler.disable()
            pstats.Stats(profiler).dump_stats(profile)
        census.cancel()
        return summarize(runs)
    finally:
        await batches_nc.close()
        await nc.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 100, 500])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--profile", type=Path, help="cProfile of one more largest batch")
    parser.add_argument(
        "--in-flight",
        type=int,
        default=1,
        help="events handled at once (1: each its own write; ELS's consumer runs up to 64)",
    )
    args = parser.parse_args(argv)
    summary = asyncio.run(run(args.sizes, args.repeats, args.profile, args.in_flight))
    report = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "repeats": args.repeats,
        "in_flight": args.in_flight,
        "method": (
            "real handlers in-process against a fresh nats-server; `in_flight` events at a time; "
            "medians of the repeats (min/max the spread); per essay of the batch"
        ),
        **summary,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    ratios = report[next(key for key in report if key.startswith("ratio_"))]
    print(json.dumps({"by_size": _medians(summary["by_size"]), "ratios": ratios}, indent=1))


def _medians(by_size: dict[str, Any]) -> dict[str, Any]:
    return {
        size: {
            step: {figure: round(value["median"], 3) for figure, value in figures.items()}
            for step, figures in steps.items()
        }
        for size, steps in by_size.items()
    }


if __name__ == "__main__":
    main()
