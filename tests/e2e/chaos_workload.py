"""The chaos suite's workload and its end checks: classes of 25 corpus essays (some with
documents in other formats, some with bad files, some with a file sent twice), registered and
uploaded by a client that retries what got no answer; then what must hold once the dust settles."""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cache

import nats.errors
from nats.js import JetStreamContext

from huleedu.batch.v1 import batch_service_pb2
from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2
from huleedu.events.v1 import events_pb2
from huleedu.file.v1 import file_service_pb2
from services.mesh.streams import DLQ_STREAM, EVENTS_STREAM
from tests.harness.mesh_calls import MeshCalls, read_events
from tests.support import CORPUS, wait_until
from tests.unit.file_service.corpus_expectations import EXPECTED_OUTCOMES

ESSAYS_PER_BATCH = 25
ACCEPTED = "ACCEPTED"
DURABLES = ("els", "bos", "file_service", "spell_checker")
B = common_pb2.BatchStatus
S = common_pb2.EssayStatus
_MAX_DOCUMENT_BYTES = 400_000


@dataclass(frozen=True)
class Upload:
    """One file a student hands in, and what the File Service must make of it."""

    file_name: str
    content: bytes
    expected: str  # ACCEPTED, or the rejection code

    @property
    def sha256(self) -> str:
        """The content's SHA-256, which is what a slot holds."""
        return hashlib.sha256(self.content).hexdigest()


@dataclass
class ChaosBatch:
    """One class: its files, the state it must end in, and what the client saw."""

    index: int
    kind: str
    uploads: list[Upload]
    expected_status: int
    # Sent with every attempt at RegisterBatch, so lost answers cannot make a second batch.
    request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    batch_id: str = ""
    receipts: dict[str, file_service_pb2.FileReceipt] = field(default_factory=dict)

    @property
    def good(self) -> set[str]:
        """SHA-256 of each distinct accepted file: each must fill exactly one slot."""
        return {u.sha256 for u in self.uploads if u.expected == ACCEPTED}

    @property
    def bad(self) -> set[str]:
        """SHA-256 of each distinct rejected file: each resolves one slot as failed."""
        return {u.sha256 for u in self.uploads if u.expected != ACCEPTED}


@cache
def _corpus_documents() -> tuple[list[Upload], list[Upload]]:
    """(accepted, rejected) corpus documents in other formats, small enough to keep runs short."""
    accepted: list[Upload] = []
    rejected: list[Upload] = []
    for key, outcome in sorted(EXPECTED_OUTCOMES.items()):
        path = CORPUS / key
        if path.stat().st_size > _MAX_DOCUMENT_BYTES:
            continue
        upload = Upload(path.name, path.read_bytes(), outcome)
        (accepted if outcome == ACCEPTED else rejected).append(upload)
    return accepted, rejected


def _synthetic_bad_files() -> list[Upload]:
    return [
        Upload("empty.txt", b"", "EMPTY_CONTENT"),
        Upload("short.txt", b"Three words only.", "CONTENT_TOO_SHORT"),
    ]


def plan_batches(count: int, rng: random.Random, *, first_essay: int = 0) -> list[ChaosBatch]:
    """`count` classes of 25 slots, in four kinds by index: plain essays; essays with three
    documents in other formats; essays with two bad files; essays with one file sent twice under
    another name. Essays are distinct across the run; documents are drawn with `rng`."""
    essays = sorted((CORPUS / "essays").glob("e*.txt"))
    documents, bad_documents = _corpus_documents()
    bad_pool = bad_documents + _synthetic_bad_files()
    plans = []
    cursor = first_essay
    for index in range(count):
        kind = ("essays", "formats", "bad_files", "resent")[index % 4]
        extra: list[Upload] = []
        if kind == "formats":
            extra = rng.sample(documents, 3)
        elif kind == "bad_files":
            extra = rng.sample(bad_pool, 2)
        take = ESSAYS_PER_BATCH - len(extra)
        chosen = [essays[(cursor + n) % len(essays)] for n in range(take)]
        cursor += take
        uploads = [Upload(path.name, path.read_bytes(), ACCEPTED) for path in chosen] + extra
        if kind == "resent":
            again = uploads[0]
            uploads.append(Upload(f"copy of {again.file_name}", again.content, ACCEPTED))
        rng.shuffle(uploads)
        expected = (
            B.BATCH_STATUS_COMPLETED_WITH_FAILURES
            if kind == "bad_files"
            else B.BATCH_STATUS_COMPLETED
        )
        plans.append(ChaosBatch(index, kind, uploads, expected))
    return plans


async def run_batch(
    calls: MeshCalls, plan: ChaosBatch, run_tag: str, uploads: asyncio.Semaphore
) -> None:
    """Register the class (asked again with the same request_id while unanswered), then upload
    every file, each sent again until it has a receipt."""
    reply = await calls.register(
        batch_service_pb2.RegisterBatchRequest(
            expected_essay_count=ESSAYS_PER_BATCH,
            course_code="CHAOS",
            language="en",
            title=f"{run_tag}/{plan.index}",
            readiness=common_pb2.ReadinessConfig(timeout_seconds=3600, partial_batch_threshold=1),
            request_id=plan.request_id,
        )
    )
    plan.batch_id = reply.batch_id

    async def upload(item: Upload) -> None:
        async with uploads:
            plan.receipts[item.file_name] = await calls.upload_file(
                plan.batch_id, item.file_name, item.content
            )

    await asyncio.gather(*(upload(item) for item in plan.uploads))


async def run_workload(
    calls: MeshCalls,
    plans: Sequence[ChaosBatch],
    run_tag: str,
    *,
    stagger_s: float,
    upload_concurrency: int = 16,
    timeout_s: float = 600.0,
) -> dict[str, batch_service_pb2.Batch]:
    """Start a class every `stagger_s` seconds; return once BOS reports each one terminal."""
    uploads = asyncio.Semaphore(upload_concurrency)

    async def started_later(plan: ChaosBatch) -> None:
        await asyncio.sleep(plan.index * stagger_s)  # the schedule of arrivals, not a wait
        await run_batch(calls, plan, run_tag, uploads)

    await asyncio.gather(*(started_later(plan) for plan in plans))
    return await calls.wait_terminal([p.batch_id for p in plans], timeout_s=timeout_s, poll_s=0.5)


@dataclass
class Verdict:
    """What the end checks found: problems (must be none) and figures for the report."""

    problems: list[str] = field(default_factory=list)
    figures: dict[str, object] = field(default_factory=dict)


def check_receipts(plan: ChaosBatch) -> list[str]:
    """Each file has a receipt saying what its content calls for. Content sent twice (or sent
    again after an answer was lost) is ACCEPTED at most once and DUPLICATE otherwise."""
    problems: list[str] = []
    accepted: Counter[str] = Counter()
    for item in plan.uploads:
        receipt = plan.receipts.get(item.file_name)
        where = f"batch {plan.index} ({plan.kind}) {item.file_name!r}"
        if receipt is None:
            problems.append(f"{where}: no receipt")
        elif item.expected == ACCEPTED:
            if receipt.status == file_service_pb2.UPLOAD_STATUS_ACCEPTED:
                accepted[item.sha256] += 1
            elif receipt.status != file_service_pb2.UPLOAD_STATUS_DUPLICATE:
                problems.append(f"{where}: receipt status {receipt.status}")
        else:
            code = common_pb2.ValidationErrorCode.Name(receipt.error_code)
            if code != f"VALIDATION_ERROR_CODE_{item.expected}":
                problems.append(f"{where}: {code}, expected {item.expected}")
    problems.extend(
        f"batch {plan.index}: {sha} ACCEPTED {count} times"
        for sha, count in accepted.items()
        if count > 1
    )
    return problems


@dataclass(frozen=True)
class StreamCounts:
    """What the event stream holds, counted: spell-check requests and completions by essay id,
    upload outcomes (provisioned or failed validation) by file upload id."""

    requests: Counter[str]
    completions: Counter[str]
    outcomes: Counter[str]
    events: int

    @classmethod
    async def read(cls, js: JetStreamContext) -> StreamCounts:
        """Count every event on HULEEDU_EVENTS."""
        events = [event for _, _, event in await read_events(js)]
        return cls(
            requests=Counter(
                essay.essay_id
                for e in events
                if isinstance(e, events_pb2.SpellcheckGroupRequested)
                for essay in e.essays
            ),
            completions=Counter(
                result.essay_id
                for e in events
                if isinstance(e, events_pb2.SpellcheckGroupCompleted)
                for result in e.results
            ),
            outcomes=Counter(
                e.file_upload_id
                for e in events
                if isinstance(
                    e, events_pb2.EssayContentProvisioned | events_pb2.EssayValidationFailed
                )
            ),
            events=len(events),
        )


def check_batch(
    plan: ChaosBatch,
    batch: batch_service_pb2.Batch,
    essays: Sequence[essay_service_pb2.Essay],
    counts: StreamCounts,
) -> list[str]:
    """What does not hold for one class: its end state, one slot per distinct good file (spell
    checked) and per distinct bad file (failed validation), one request and one completion per
    checked essay, one announced outcome per upload, and its receipts."""
    where = f"batch {plan.index} ({plan.kind}, {plan.batch_id})"
    problems = check_receipts(plan)
    if batch.status != plan.expected_status:
        problems.append(
            f"{where}: {status_name(batch.status)}, not {status_name(plan.expected_status)}"
        )
    done = Counter(
        e.content_sha256 for e in essays if e.status == S.ESSAY_STATUS_SPELLCHECKED_SUCCESS
    )
    failed = Counter(
        e.content_sha256 for e in essays if e.status == S.ESSAY_STATUS_VALIDATION_FAILED
    )
    if set(done) != plan.good or set(done.values()) != {1}:
        missing = len(plan.good - set(done))
        problems.append(
            f"{where}: good files hold {sorted(done.values())} slots; {missing} missing"
        )
    if set(failed) != plan.bad or set(failed.values()) - {1}:
        problems.append(f"{where}: bad files hold {dict(failed)} slots, expected {len(plan.bad)}")
    for essay in essays:
        requested, completed = counts.requests[essay.essay_id], counts.completions[essay.essay_id]
        if essay.status == S.ESSAY_STATUS_SPELLCHECKED_SUCCESS and (requested, completed) != (1, 1):
            problems.append(
                f"{where} essay {essay.essay_id}: {requested} requests, {completed} completions"
            )
    for upload_id in {receipt.file_upload_id for receipt in plan.receipts.values()}:
        if counts.outcomes[upload_id] != 1:
            problems.append(
                f"{where}: upload {upload_id} announced {counts.outcomes[upload_id]} times"
            )
    return problems


def status_name(status: int) -> str:
    """BATCH_STATUS_COMPLETED → COMPLETED."""
    return B.Name(status).removeprefix("BATCH_STATUS_")  # type: ignore[arg-type]


async def verify(
    calls: MeshCalls,
    js: JetStreamContext,
    plans: Sequence[ChaosBatch],
    run_tag: str,
    *,
    settle_timeout_s: float = 60.0,
) -> Verdict:
    """Every end check of the chaos suite, once no consumer has anything pending or unanswered;
    the verdict lists what does not hold."""
    verdict = Verdict()
    await wait_until(lambda: _settled(js), timeout_s=settle_timeout_s, message="consumers idle")
    counts = await StreamCounts.read(js)
    for plan in plans:
        batch = await calls.get_batch(plan.batch_id)
        essays = await calls.list_batch_essays(plan.batch_id)
        verdict.problems.extend(check_batch(plan, batch, essays, counts))
    ours = {plan.batch_id for plan in plans}
    unused = [
        batch
        for batch in await calls.list_batches()
        if batch.title.startswith(f"{run_tag}/") and batch.batch_id not in ours
    ]
    # Each class asked for its batch with one request_id however often its answer was lost, so
    # a batch of this run that no class holds was registered twice.
    verdict.problems.extend(
        f"unused registration {batch.batch_id} ({batch.title}): {status_name(batch.status)}"
        for batch in unused
    )
    dlq = await js.stream_info(DLQ_STREAM)
    if dlq.state.messages:
        verdict.problems.append(f"{dlq.state.messages} messages in {DLQ_STREAM}")
    verdict.figures.update(
        batches=len(plans),
        essays_spellchecked=sum(counts.completions.values()),
        events_on_stream=counts.events,
        unused_registrations=len(unused),
        client_retries=dict(calls.retry_codes),
    )
    return verdict


async def consumer_backlog(js: JetStreamContext) -> dict[str, tuple[int, int]]:
    """(num_pending, num_ack_pending) of each durable consumer."""
    backlog = {}
    for durable in DURABLES:
        info = await js.consumer_info(EVENTS_STREAM, durable)
        backlog[durable] = (info.num_pending or 0, info.num_ack_pending or 0)
    return backlog


async def _settled(js: JetStreamContext) -> bool:
    """Every durable idle, and nothing published while they were read one after another: a
    Spell Checker that acked its last request after ELS was read left ELS the completion (seen:
    an essay that ended FAILED went unchecked)."""
    try:
        before = (await js.stream_info(EVENTS_STREAM)).state.last_seq
        backlog = await consumer_backlog(js)
        after = (await js.stream_info(EVENTS_STREAM)).state.last_seq
    except (nats.errors.Error, TimeoutError):
        return False
    idle = all(pending == 0 and acking == 0 for pending, acking in backlog.values())
    return idle and before == after


def elapsed(since: float) -> float:
    """Seconds since a monotonic time."""
    return time.monotonic() - since
