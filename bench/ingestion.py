"""Ingestion benchmark: the corpus documents uploaded through gRPC to the File Service (which
stores bytes and text in the Content Service and announces every file on JetStream), beside the
same extraction run in-process with no gRPC or NATS. The ratio is the cost of the mesh.

    python -m bench.ingestion [--essays 500] [--workers 2] [--concurrency 8] [--rounds 2]

It starts its own nats-server (JetStream, `sync_interval: always`, temporary store) and runs the
Content Service and the File Service as real processes on free ports. Results are printed and
written to bench/results/ingestion.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import platform
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc

from devstack.nats_server import NatsServer
from huleedu.events.v1 import events_pb2
from huleedu.file.v1 import file_service_pb2, file_service_pb2_grpc
from services.file_service.adapters.extraction_pool import ExtractionPool, PoolSettings
from services.file_service.domain.extraction import ExtractionLimits, process_upload
from services.mesh.connection import connect_nats
from services.mesh.event_ids import new_metadata
from services.mesh.publisher import EventPublisher
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_streams
from tests.harness.coordination_harness import ServiceProcess

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = REPO_ROOT.parent / "shared" / "corpus"
RESULTS = REPO_ROOT / "bench" / "results" / "ingestion.json"
DOCUMENT_FOLDERS = ("pdf", "docx", "rtf", "html")
_MIB = 1024 * 1024


@dataclass(frozen=True)
class Upload:
    """One file of the benchmark."""

    name: str
    content: bytes


@dataclass(frozen=True)
class Run:
    """Files, bytes and seconds of one way of ingesting them."""

    files: int
    megabytes: float
    seconds: float
    outcomes: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        """The run with its rates."""
        return {
            "files": self.files,
            "megabytes": round(self.megabytes, 3),
            "seconds": round(self.seconds, 3),
            "files_per_s": round(self.files / self.seconds, 1),
            "mb_per_s": round(self.megabytes / self.seconds, 2),
            "outcomes": dict(sorted(self.outcomes.items())),
        }


def load_documents() -> list[Upload]:
    """Every document of the corpus's pdf, docx, rtf and html folders."""
    uploads = []
    for folder in DOCUMENT_FOLDERS:
        for path in sorted((CORPUS / folder).iterdir()):
            if path.is_file() and path.name != "index.tsv":
                uploads.append(Upload(path.name, path.read_bytes()))
    return uploads


def load_essays(count: int) -> list[Upload]:
    """The first `count` student essays (plain UTF-8 text, what most uploads are)."""
    paths = sorted((CORPUS / "essays").glob("e*.txt"))[:count]
    return [Upload(path.name, path.read_bytes()) for path in paths]


def _megabytes(uploads: list[Upload]) -> float:
    return sum(len(upload.content) for upload in uploads) / _MIB


def run_sequential(uploads: list[Upload]) -> Run:
    """Extraction in this process, one file after another (pypdf's warnings on damaged files
    silenced, as in the service's workers: formatting them costs more than the parsing)."""
    logging.getLogger("pypdf").setLevel(logging.CRITICAL)
    outcomes: Counter[str] = Counter()
    started = time.perf_counter()
    for upload in uploads:
        outcome = process_upload(upload.content, upload.name, ExtractionLimits())
        outcomes[outcome.rejection.value if outcome.rejection else "ACCEPTED"] += 1
    return Run(len(uploads), _megabytes(uploads), time.perf_counter() - started, dict(outcomes))


async def run_pool(uploads: list[Upload], pool: ExtractionPool) -> Run:
    """Extraction in the File Service's worker pool, no gRPC or NATS."""
    started = time.perf_counter()
    results = await asyncio.gather(*(pool.extract(u.content, u.name) for u in uploads))
    seconds = time.perf_counter() - started
    outcomes = Counter(r.rejection.value if r.rejection else "ACCEPTED" for r in results)
    return Run(len(uploads), _megabytes(uploads), seconds, dict(outcomes))


async def _register(nats: NatsSettings, batch_id: str, expected: int) -> None:
    client, js = await connect_nats(nats, "bench")
    try:
        await ensure_streams(js, nats)
        event = events_pb2.BatchEssaysRegistered(
            metadata=new_metadata("bench", correlation_id=f"corr-{batch_id}"),
            batch_id=batch_id,
            expected_essay_count=expected,
            language="en",
        )
        await EventPublisher(js, "bench").publish(event)
    finally:
        await client.drain()


@dataclass(frozen=True)
class Mesh:
    """NATS and the two services, running."""

    nats: NatsSettings
    file_port: int


@asynccontextmanager
async def running_mesh(workers: int, scratch: Path) -> AsyncIterator[Mesh]:
    """nats-server, the Content Service and the File Service as processes, for the block."""
    server = NatsServer(scratch / "nats")
    server.start()
    quiet = {"LOG_LEVEL": "WARNING", "METRICS_ENABLED": "false"}
    content = ServiceProcess(
        "services.content_service",
        addr_variable="CONTENT_SERVICE_ADDR",
        nats_url=server.url,
        log_path=scratch / "content_service.log",
        extra_env=quiet,
    )
    files = ServiceProcess(
        "services.file_service",
        addr_variable="FILE_SERVICE_ADDR",
        nats_url=server.url,
        log_path=scratch / "file_service.log",
        extra_env={
            **quiet,
            "CONTENT_SERVICE_ADDR": content.addr,
            "FILE_EXTRACTION_WORKERS": str(workers),
            "FILE_EXTRACTION_TIMEOUT_S": "60",
        },
    )
    try:
        await content.start(timeout_s=60)
        await files.start(timeout_s=60)
        file_port = int(files.addr.rsplit(":", 1)[1])
        yield Mesh(NatsSettings((server.url,), 5, 30.0, 1, 3600.0, 120.0), file_port)
    finally:
        for process in (files, content):
            await process.stop()
        server.stop()


async def run_grpc(uploads: list[Upload], mesh: Mesh, concurrency: int) -> Run:
    """Upload into a new batch through `concurrency` UploadFiles streams at once."""
    batch_id = f"bench-{time.time_ns()}"
    await _register(mesh.nats, batch_id, len(uploads))
    options = [("grpc.max_send_message_length", 64 * _MIB)]
    async with grpc.aio.insecure_channel(f"127.0.0.1:{mesh.file_port}", options=options) as channel:
        stub = file_service_pb2_grpc.FileServiceStub(channel)

        async def stream(share: list[Upload]) -> list[file_service_pb2.FileReceipt]:
            async def requests() -> AsyncIterator[file_service_pb2.UploadFilesRequest]:
                for upload in share:
                    yield file_service_pb2.UploadFilesRequest(
                        batch_id=batch_id, file_name=upload.name, content=upload.content
                    )

            return list((await stub.UploadFiles(requests(), timeout=600)).receipts)

        shares = [uploads[index::concurrency] for index in range(concurrency)]
        started = time.perf_counter()
        receipts = [r for rs in await asyncio.gather(*map(stream, shares)) for r in rs]
        seconds = time.perf_counter() - started
    outcomes = Counter(
        file_service_pb2.UploadStatus.Name(r.status).removeprefix("UPLOAD_STATUS_")
        for r in receipts
    )
    return Run(len(uploads), _megabytes(uploads), seconds, dict(outcomes))


def _best(runs: list[Run]) -> dict[str, object]:
    best = min(runs, key=lambda run: run.seconds)
    return {**best.as_dict(), "seconds_each_round": [round(run.seconds, 3) for run in runs]}


async def main(essays: int, workers: int, concurrency: int, rounds: int) -> dict[str, object]:
    """Run the three measurements on each file set, `rounds` times interleaved; report the best
    round of each (the machine may be shared)."""
    sets = {"documents": load_documents(), "essays": load_essays(essays)}
    runs: dict[str, dict[str, list[Run]]] = {
        name: {"in_process_sequential": [], "in_process_pool": [], "grpc_mesh": []} for name in sets
    }
    pool = ExtractionPool(PoolSettings(workers=workers, timeout_s=60.0), ExtractionLimits())
    await pool.start()
    try:
        with tempfile.TemporaryDirectory(prefix="bench-ingestion-") as scratch:
            async with running_mesh(workers, Path(scratch)) as mesh:
                for _ in range(rounds):
                    for name, uploads in sets.items():
                        runs[name]["in_process_sequential"].append(run_sequential(uploads))
                        runs[name]["in_process_pool"].append(await run_pool(uploads, pool))
                        runs[name]["grpc_mesh"].append(await run_grpc(uploads, mesh, concurrency))
    finally:
        await pool.stop()
    report: dict[str, object] = {
        "benchmark": "ingestion",
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "settings": {
            "extraction_workers": workers,
            "grpc_streams": concurrency,
            "rounds": rounds,
            "nats_sync_always": True,
            "limits": "defaults (25 to 10,000 words, 10 MiB)",
        },
    }
    for name, measured in runs.items():
        best = {way: min(run.seconds for run in way_runs) for way, way_runs in measured.items()}
        report[name] = {
            **{way: _best(way_runs) for way, way_runs in measured.items()},
            "mesh_time_over_pool_time": round(best["grpc_mesh"] / best["in_process_pool"], 2),
        }
    report["documents_set"] = "shared/corpus pdf, docx, rtf, html: every file"
    report["essays_set"] = f"shared/corpus essays: the first {essays}"
    return report


def cli() -> None:
    """Parse arguments, run, print and save the report."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--essays", type=int, default=500, help="student essays to upload")
    parser.add_argument("--workers", type=int, default=2, help="extraction worker processes")
    parser.add_argument("--concurrency", type=int, default=8, help="UploadFiles streams at once")
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds; best is kept")
    args = parser.parse_args()
    report = asyncio.run(main(args.essays, args.workers, args.concurrency, args.rounds))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    cli()
