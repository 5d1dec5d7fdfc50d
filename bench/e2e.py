"""End-to-end benchmark: the whole stack (nats-server and the five services as local processes on
free ports, as `make run` starts them) on a fixed set of corpus essays in several batches of 25
in mixed formats (.txt, .html, .rtf, .docx); then ours against the Celery + Redis peer.

    python -m bench.e2e [--batches 8] [--plain-budget-s 60] [--rounds 3] [--no-budget]

Reports essays/s end to end; p50/p99 per stage from the event times JetStream stored (upload:
upload call → EssayContentProvisioned; ready: → BatchEssaysReady; spell check: request →
EssaySpellcheckCompleted; complete: upload call → the batch's ELSBatchPhaseOutcome); the same
essays through plain pyspellchecker in this one process (a time-boxed prefix of them: it costs
about a tenth of a second per unknown word) and the ratio; CPU seconds per essay and peak RSS per
service (with its worker processes). Writes bench/results/latest.{json,md,png}.

Then the comparison with the peer (bench.e2e_peer, bench.celery_peer): the same number of
batches of plain-text essays through ours and through the peer, alternating, `--rounds` rounds
each on a freshly started system; essays/s and CPU per essay of every process, medians. Writes
bench/results/peer.{json,md,png}. The peer needs Debian's redis-server.

Then the per-essay budget (bench.e2e_budget, `--no-budget` skips it): stored messages, KV
revisions, Object Store puts and gets, gRPC calls, fsyncs and CPU per essay on the same
plain-text batches; bench/results/budget.{json,md}, beside budget_before.json when it exists.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import grpc
import nats
from nats.aio.msg import Msg
from nats.js.api import DeliverPolicy

from bench.celery_peer import redis_server_binary
from bench.e2e_corpus import BenchFile, bench_batches
from bench.e2e_peer import SideRound, alternate, measure, peer_round, plain_text_batches
from bench.e2e_peer_report import OURS, PEER, summarise_comparison, write_comparison
from bench.e2e_report import ProcessSampler, StreamEvent, summarise, write_reports
from devstack.stack import LocalStack, RunDir, StackAddresses, running_processes
from huleedu.batch.v1 import batch_service_pb2, batch_service_pb2_grpc
from huleedu.file.v1 import file_service_pb2, file_service_pb2_grpc
from services.mesh.publisher import HEADER_TYPE
from services.mesh.subjects import BATCH_PHASE_OUTCOME, EVENTS_SUBJECTS, message_type_for
from tests.harness.spellcheck_common import machine

RESULTS = Path(__file__).resolve().parent / "results"


class EventTap:
    """Every event the stream stores from now on, with the time JetStream stored it."""

    def __init__(self) -> None:
        self.events: list[StreamEvent] = []

    async def on_message(self, msg: Msg) -> None:
        type_name = (msg.headers or {}).get(HEADER_TYPE, "")
        message_type = message_type_for(type_name)
        if message_type is None:
            return
        event = message_type.FromString(msg.data)
        stored = msg.metadata.timestamp.timestamp()
        self.events.append(StreamEvent(type_name.rsplit(".", 1)[-1], stored, event))

    def outcomes(self, batch_ids: set[str]) -> set[str]:
        """The batches whose phase outcome the stream holds."""
        return {
            e.event.batch_id
            for e in self.events
            if e.type == "ELSBatchPhaseOutcome" and e.event.batch_id in batch_ids
        }


async def submit_batch(
    env: dict[str, str], files: Sequence[BenchFile], upload_started: dict[str, float]
) -> str:
    """RegisterBatch, then every file in one UploadFiles stream; returns the batch id."""
    bos_addr, file_addr = env["BATCH_ORCHESTRATOR_ADDR"], env["FILE_SERVICE_ADDR"]
    async with (
        grpc.aio.insecure_channel(bos_addr) as bos_channel,
        grpc.aio.insecure_channel(file_addr) as file_channel,
    ):
        registered = await batch_service_pb2_grpc.BatchOrchestratorServiceStub(
            bos_channel
        ).RegisterBatch(
            batch_service_pb2.RegisterBatchRequest(
                expected_essay_count=len(files), course_code="ENG5", language="en"
            ),
            timeout=60,
        )
        batch_id = registered.batch_id
        upload_started[batch_id] = time.time()
        requests = [
            file_service_pb2.UploadFilesRequest(
                batch_id=batch_id, file_name=f.name, content=f.content
            )
            for f in files
        ]
        reply = await file_service_pb2_grpc.FileServiceStub(file_channel).UploadFiles(
            iter(requests), timeout=120
        )
        rejected = [r.file_name for r in reply.receipts if r.detail]
        if rejected:
            print(f"bench: rejected uploads in {batch_id}: {rejected}", file=sys.stderr)
    return batch_id


async def drive(
    env: dict[str, str],
    batches: Sequence[Sequence[BenchFile]],
    timeout_s: float,
    subject: str = EVENTS_SUBJECTS,
) -> dict[str, Any]:
    """Submit every batch at once, wait for every phase outcome, return the raw observations
    (the events stored on `subject`: it must cover the phase outcomes)."""
    client = await nats.connect(env["NATS_URL"], name="bench_e2e")
    js = client.jetstream()
    tap = EventTap()
    subscription = await js.subscribe(
        subject, cb=tap.on_message, ordered_consumer=True, deliver_policy=DeliverPolicy.NEW
    )
    upload_started: dict[str, float] = {}
    started = time.time()
    try:
        batch_ids = set(
            await asyncio.gather(*(submit_batch(env, files, upload_started) for files in batches))
        )
        deadline = time.monotonic() + timeout_s
        while tap.outcomes(batch_ids) != batch_ids:
            if time.monotonic() > deadline:
                missing = batch_ids - tap.outcomes(batch_ids)
                raise TimeoutError(f"no phase outcome after {timeout_s} s for {sorted(missing)}")
            await asyncio.sleep(0.1)
        finished = time.time()
    finally:
        await subscription.unsubscribe()
        await client.close()
    return {
        "events": tap.events,
        "upload_started": upload_started,
        "started": started,
        "finished": finished,
        "batch_ids": batch_ids,
    }


def plain_spellcheck(texts: list[str], budget_s: float) -> dict[str, Any]:
    """Plain pyspellchecker, one process: every unknown word through correction(), essay by
    essay, until the budget is spent (at least two essays)."""
    from spellchecker import SpellChecker  # noqa: PLC0415 - loaded only for this part

    checker = SpellChecker(language="en")
    started = time.perf_counter()
    checked = 0
    corrections = 0
    for text in texts:
        for word in checker.unknown(checker.split_words(text)):
            if checker.correction(word) not in (None, word):
                corrections += 1
        checked += 1
        if checked >= 2 and time.perf_counter() - started > budget_s:
            break
    seconds = time.perf_counter() - started
    return {
        "essays": checked,
        "of": len(texts),
        "seconds": round(seconds, 2),
        "essays_per_s": round(checked / seconds, 3),
        "corrections": corrections,
    }


@contextlib.contextmanager
def running_stack() -> Iterator[tuple[dict[str, str], dict[str, int]]]:
    """A freshly started stack on free ports: its environment and the pid of each process."""
    with tempfile.TemporaryDirectory(prefix="huleedu-bench-") as tmp:
        run_dir = RunDir(Path(tmp))
        addresses = StackAddresses.free()
        stack = LocalStack(run_dir, addresses, report=_report)
        stack.start(timeout_s=240)
        try:
            yield addresses.env(), {p.name: p.pid for p in running_processes(run_dir)}
        finally:
            stack.stop()


def _report(line: str) -> None:
    print(line, file=sys.stderr)


def ours_round(batches: Sequence[Sequence[BenchFile]], timeout_s: float) -> SideRound:
    """Ours, freshly started, on `batches` (the client taps only the phase outcomes); then
    stopped."""
    essays = sum(len(files) for files in batches)
    with running_stack() as (env, pids):

        def work() -> tuple[float, float]:
            observed = asyncio.run(drive(env, batches, timeout_s, BATCH_PHASE_OUTCOME))
            outcomes = [e.stored for e in observed["events"] if e.type == "ELSBatchPhaseOutcome"]
            return observed["started"], max(outcomes)

        return measure(essays, pids, work)


def compare_with_peer(args: argparse.Namespace) -> dict[str, Path]:
    """Ours and the peer, alternating, on the same plain-text batches; write peer.*."""
    batches = plain_text_batches(args.batches)
    rounds = alternate(
        {
            OURS: lambda: ours_round(batches, args.timeout_s),
            PEER: lambda: peer_round(batches, args.timeout_s),
        },
        args.rounds,
        _report,
    )
    result = summarise_comparison(rounds, len(batches), machine())
    return write_comparison(result, args.results)


def per_essay_budget(args: argparse.Namespace) -> dict[str, Path]:
    """The per-essay budget on plain-text batches, beside budget_before.json if it exists."""
    # bench.e2e_budget drives the stack with this module's running_stack and drive.
    from bench.e2e_budget import run_budget, write_budget  # noqa: PLC0415

    before_path = args.results / "budget_before.json"
    before = json.loads(before_path.read_text()) if before_path.exists() else None
    result = run_budget(args.batches, args.timeout_s)
    return write_budget(result, args.results, "budget", before)


def main() -> int:
    """Run the benchmark once and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8, help="batches of 25 (default: 8)")
    parser.add_argument("--plain-budget-s", type=float, default=60.0)
    parser.add_argument("--timeout-s", type=float, default=900.0)
    parser.add_argument("--rounds", type=int, default=3, help="per side against the peer; 0: none")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument(
        "--budget",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="then the per-essay budget (bench.e2e_budget; default: on)",
    )
    args = parser.parse_args()
    if args.rounds and redis_server_binary() is None:
        parser.error("the Celery peer needs redis-server: apt-get install -y redis-server")
    batches = bench_batches(args.batches)
    load_before = os.getloadavg()
    with running_stack() as (env, pids):
        sampler = ProcessSampler(pids)
        sampler.start()
        observed = asyncio.run(drive(env, batches, args.timeout_s))
        usage = sampler.stop()
    load_after = os.getloadavg()
    texts = [f.text for files in batches for f in files]
    plain = plain_spellcheck(texts, args.plain_budget_s)
    result = summarise(observed, batches, usage, plain)
    result["machine"] = {
        **machine(),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
    paths = write_reports(result, observed, args.results)
    print(paths["md"].read_text())
    if args.rounds:
        peer_paths = compare_with_peer(args)
        print(peer_paths["md"].read_text())
        paths.update({f"peer {kind}": path for kind, path in peer_paths.items()})
    if args.budget:
        budget_paths = per_essay_budget(args)
        print(budget_paths["md"].read_text())
        paths.update({f"budget {kind}": path for kind, path in budget_paths.items()})
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
