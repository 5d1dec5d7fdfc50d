"""Essays through the running Spell Checker, as a client sees it: a freshly started local stack
(bench.e2e.running_stack: nats-server and the five services on free ports), one language tag at a
time; RegisterBatch with the tag, UploadFiles, GetBatch polled until the batch is terminal, then
each essay's corrections read back with GetEssay and its extracted text with GetContent (what
`huleedu diff` reads). Used by bench.spellcheck_quality and its smoke test.

The CPU of every process is sampled over each tag's run (first RegisterBatch to the last batch
terminal), the Spell Checker's worker processes apart from its main process; the workers' RSS is
read once every tag has been checked.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import os
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace

import psutil

from bench.e2e import running_stack
from bench.e2e_report import ProcessSampler
from huleedu.batch.v1 import batch_service_pb2
from huleedu.essay.v1 import essay_service_pb2
from huleedu.file.v1 import file_service_pb2
from services.cli.endpoints import Endpoint, Endpoints
from services.cli.mesh_client import MeshClient
from services.cli.results import TERMINAL, batch_status, essay_status
from services.cli.retry import RetryHorizon
from services.spell_checker.domain.model import CheckResult, Correction

# A class, as `make bench` and its per-essay budget submit them: the CPU per essay is then
# comparable with the budget (ELS spends about 3× as much per essay on batches of 500).
BATCH_SIZE = 25
SPELL_CHECKER = "spell_checker"
WORKER = "spell_checker worker"
_MIB = 1024 * 1024
_READS_AT_ONCE = 16


@dataclass(frozen=True)
class ServiceEssay:
    """One essay as the service left it: the text it checked (the File Service's extraction of
    the upload) and what checking it gave."""

    status: str
    text: str
    result: CheckResult


@dataclass(frozen=True)
class TagRun:
    """One language tag through the service: each essay by file name; CPU seconds and peak RSS
    (MiB) of each process over the run; how long it took."""

    essays: dict[str, ServiceEssay]
    usage: dict[str, dict[str, float]]
    seconds: float


@dataclass(frozen=True)
class StackRun:
    """Every tag's run on one stack, and the RSS (MiB) of each Spell Checker worker after."""

    tags: dict[str, TagRun]
    worker_rss_mib: list[float]


@contextlib.contextmanager
def environment(overrides: Mapping[str, str]) -> Iterator[None]:
    """Set these variables while the block runs (the stack's services inherit them)."""
    previous = {name: os.environ.get(name) for name in overrides}
    os.environ.update(overrides)
    try:
        yield
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def mesh_client(env: Mapping[str, str]) -> MeshClient:
    """The CLI's client of the public APIs, pointed at the stack (no bearer token)."""

    def endpoint(title: str, variable: str) -> Endpoint:
        return Endpoint(title, variable, env[variable])

    endpoints = Endpoints(
        content=endpoint("Content Service", "CONTENT_SERVICE_ADDR"),
        file=endpoint("File Service", "FILE_SERVICE_ADDR"),
        batch=endpoint("Batch Orchestrator", "BATCH_ORCHESTRATOR_ADDR"),
        essay=endpoint("Essay Lifecycle Service", "ESSAY_LIFECYCLE_ADDR"),
        nats_url=env["NATS_URL"],
    )
    retries = RetryHorizon(60.0, lambda line: print(line, file=sys.stderr))
    return MeshClient(endpoints, timeout_s=60.0, retries=retries, token="")


def rebase(correction: Correction, extracted: str, original: str) -> Correction:
    """`correction`, made in the extracted text, with its offset in the original text (they
    differ where the File Service repaired the upload: a byte-order mark, a line separator)."""
    if extracted == original:
        return correction
    matcher = difflib.SequenceMatcher(a=extracted, b=original, autojunk=False)
    for tag, a_start, a_end, b_start, _ in matcher.get_opcodes():
        if tag == "equal" and a_start <= correction.offset < a_end:
            return replace(correction, offset=b_start + correction.offset - a_start)
    return correction


def as_result(essay: essay_service_pb2.Essay, extracted: str, original: str) -> CheckResult:
    """GetEssay's answer as the checker's result, offsets in the original text."""
    corrections = tuple(
        rebase(Correction(c.offset, c.length, c.original, c.replacement), extracted, original)
        for c in essay.corrections
    )
    return CheckResult(
        corrected_text="",
        corrections=corrections,
        unknown_words=tuple(essay.unknown_words),
        word_count=essay.word_count,
        warning=essay.spellcheck_warning,
    )


async def _submit(client: MeshClient, tag: str, files: Sequence[tuple[str, str]]) -> str:
    """RegisterBatch for `files` in language `tag`, then one UploadFiles stream; the batch id."""
    registered = await client.register_batch(
        batch_service_pb2.RegisterBatchRequest(
            expected_essay_count=len(files),
            course_code="ENG5",
            language=tag,
            title=f"spelling quality {tag}",
        )
    )
    batch_id = registered.batch_id
    receipts = await client.upload_files(
        [
            file_service_pb2.UploadFilesRequest(
                batch_id=batch_id, file_name=name, content=text.encode("utf-8")
            )
            for name, text in files
        ]
    )
    refused = [r.file_name for r in receipts if r.detail]
    if refused:
        raise RuntimeError(f"batch {batch_id} ({tag}) refused uploads: {refused[:5]}")
    return batch_id


async def _wait_terminal(client: MeshClient, batch_ids: Sequence[str], timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    pending = set(batch_ids)
    while pending:
        batches = await asyncio.gather(*(client.get_batch(b) for b in sorted(pending)))
        pending = {b.batch_id for b in batches if b.status not in TERMINAL}
        if not pending:
            return
        if time.monotonic() > deadline:
            states = ", ".join(f"{b.batch_id} {batch_status(b.status)}" for b in batches)
            raise TimeoutError(f"not terminal after {timeout_s:.0f} s: {states}")
        await asyncio.sleep(0.5)


async def _read_back(
    client: MeshClient, batch_ids: Sequence[str], originals: Mapping[str, str]
) -> dict[str, ServiceEssay]:
    """Each essay of the batches by file name, its text and corrections as GetEssay and
    GetContent answer them."""
    slots = [e for b in batch_ids for e in await client.list_batch_essays(b)]
    limit = asyncio.Semaphore(_READS_AT_ONCE)

    async def read(essay_id: str) -> tuple[str, ServiceEssay]:
        async with limit:
            essay = await client.get_essay(essay_id)
            extracted = ""
            if essay.text_storage_id:  # none when the upload was refused
                extracted = (await client.get_content(essay.text_storage_id)).content.decode()
        original = originals[essay.original_file_name]
        return essay.original_file_name, ServiceEssay(
            essay_status(essay.status), extracted, as_result(essay, extracted, original)
        )

    return dict(await asyncio.gather(*(read(slot.essay_id) for slot in slots)))


def _worker_pids(spell_checker_pid: int) -> dict[str, int]:
    """The Spell Checker's pool processes (spawned: `multiprocessing.spawn`), by name."""
    children = psutil.Process(spell_checker_pid).children(recursive=True)
    workers = [c for c in children if "spawn_main" in " ".join(c.cmdline())]
    return {f"{WORKER} {n}": c.pid for n, c in enumerate(sorted(workers, key=lambda c: c.pid))}


async def _tag_run(
    env: Mapping[str, str],
    pids: Mapping[str, int],
    tag: str,
    files: Mapping[str, str],
    *,
    timeout_s: float,
    batch_size: int,
) -> TagRun:
    items = sorted(files.items())
    chunks = [items[i : i + batch_size] for i in range(0, len(items), batch_size)]
    workers = _worker_pids(pids[SPELL_CHECKER])
    sampler = ProcessSampler({**pids, **workers}, alone=set(workers))
    async with mesh_client(env) as client:
        started = time.monotonic()
        sampler.start()
        batch_ids = await asyncio.gather(*(_submit(client, tag, chunk) for chunk in chunks))
        await _wait_terminal(client, batch_ids, timeout_s)
        usage = sampler.stop()
        seconds = time.monotonic() - started
        essays = await _read_back(client, batch_ids, files)
    return TagRun(essays, usage, seconds)


def check_through_service(
    jobs: Mapping[str, Mapping[str, str]],
    *,
    timeout_s: float = 1800.0,
    batch_size: int = BATCH_SIZE,
    settings: Mapping[str, str] | None = None,
) -> StackRun:
    """Each job (language tag → texts by file name) through one freshly started stack, one tag
    after another, in batches of at most `batch_size` essays submitted at once; the stack's
    services get `settings` in their environment."""
    with environment(settings or {}), running_stack() as (env, pids):
        runs = {
            tag: asyncio.run(
                _tag_run(env, pids, tag, files, timeout_s=timeout_s, batch_size=batch_size)
            )
            for tag, files in jobs.items()
        }
        rss = [
            round(psutil.Process(pid).memory_info().rss / _MIB, 1)
            for pid in _worker_pids(pids[SPELL_CHECKER]).values()
        ]
    return StackRun(runs, rss)


def cpu_ms_per_essay(run: TagRun) -> dict[str, float]:
    """CPU ms per essay of the run: each process, the Spell Checker with its workers, the
    workers alone, and the whole mesh (every process but this client)."""
    essays = len(run.essays)
    per = {name: 1000 * u["cpu_s"] / essays for name, u in run.usage.items()}
    workers = sum(v for name, v in per.items() if name.startswith(WORKER))
    mesh = {name: v for name, v in per.items() if not name.startswith(WORKER)}
    return {
        "spell_checker_workers": round(workers, 3),
        "spell_checker_with_workers": round(per[SPELL_CHECKER], 3),
        "mesh_total": round(sum(mesh.values()), 3),
        **{name: round(v, 3) for name, v in sorted(mesh.items())},
    }
