"""Batches of real essays through a running cluster, as a teacher's client sends them: RegisterBatch
at any Batch Orchestrator instance, UploadFile of each essay at any File Service instance (the
client spreads calls over the instances with gRPC's round_robin policy and retries a call an
instance died under), then GetBatch until every batch is terminal. Shared by bench.scaling and
tests/cluster; also reads back what the event stream stored, to count requests and completions
per essay."""

from __future__ import annotations

import asyncio
import hashlib
import time
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
import nats.errors
from google.protobuf.message import Message
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy
from nats.js.errors import ServiceUnavailableError

from devstack.cluster_layout import ClusterLayout
from huleedu.batch.v1 import batch_service_pb2, batch_service_pb2_grpc
from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2, essay_service_pb2_grpc
from huleedu.events.v1 import events_pb2
from huleedu.file.v1 import file_service_pb2, file_service_pb2_grpc
from services.cli.results import TERMINAL
from services.mesh import subjects
from services.mesh.auth import bearer_interceptors
from services.mesh.streams import EVENTS_STREAM
from tests.support import CORPUS as SHARED_CORPUS

CORPUS = SHARED_CORPUS / "essays"
B = common_pb2.BatchStatus
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
_MIB = 1024 * 1024
Req = TypeVar("Req", bound=Message)
Rep = TypeVar("Rep", bound=Message)
Rep_ = TypeVar("Rep_")


@dataclass(frozen=True)
class Essay:
    """One file to upload."""

    name: str
    content: bytes


def corpus_essays(count: int, *, skip: int = 0, min_words: int = 60) -> list[Essay]:
    """`count` distinct ELLIPSE essays from the shared corpus (e0001-e1000), long enough to pass
    validation."""
    picked: list[Essay] = []
    seen: set[str] = set()
    for path in sorted(CORPUS.glob("e0*.txt"))[skip:]:
        content = path.read_bytes()
        digest = hashlib.sha256(content).hexdigest()
        if digest in seen or len(content.split()) < min_words:
            continue
        seen.add(digest)
        picked.append(Essay(path.name, content))
        if len(picked) == count:
            return picked
    raise FileNotFoundError(f"fewer than {count} usable essays in {CORPUS}")


def round_robin_channel(target: str, token: str = "") -> grpc.aio.Channel:
    """A channel that spreads calls over every address of an `ipv4:a,b` target and skips
    addresses that do not answer; with `token`, every call carries it as its bearer token."""
    return grpc.aio.insecure_channel(
        target,
        interceptors=bearer_interceptors(token) if token else None,
        options=[
            ("grpc.lb_policy_name", "round_robin"),
            ("grpc.max_send_message_length", 16 * _MIB),
            ("grpc.max_receive_message_length", 16 * _MIB),
            ("grpc.initial_reconnect_backoff_ms", 200),
            ("grpc.max_reconnect_backoff_ms", 2000),
        ],
    )


def _method_name(method: object) -> str:
    name = getattr(method, "_method", b"")  # grpc.aio multicallables keep the full name
    return name.decode().rsplit("/", 1)[-1] if isinstance(name, bytes) else str(name)


class MeshDriver:
    """gRPC clients of BOS, the File Service and ELS over all their instances."""

    def __init__(
        self, layout: ClusterLayout, *, attempt_timeout_s: float = 45.0, token: str = ""
    ) -> None:
        self._channels = [
            round_robin_channel(layout.grpc_target(service), token)
            for service in ("batch_orchestrator", "file_service", "essay_lifecycle")
        ]
        self.bos = batch_service_pb2_grpc.BatchOrchestratorServiceStub(self._channels[0])
        self.files = file_service_pb2_grpc.FileServiceStub(self._channels[1])
        self.els = essay_service_pb2_grpc.EssayLifecycleServiceStub(self._channels[2])
        self._attempt_timeout_s = attempt_timeout_s
        self.retries: Counter[str] = Counter()  # "<method> <code>" of every retried call

    async def close(self) -> None:
        """Close the channels."""
        await asyncio.gather(*(channel.close(None) for channel in self._channels))

    async def call(
        self, method: Callable[..., Awaitable[Rep]], request: Req, *, within_s: float = 120.0
    ) -> Rep:
        """A unary call, retried while the instance it reached is gone (UNAVAILABLE) or slow
        (DEADLINE_EXCEEDED, e.g. during a JetStream leader election), until `within_s`."""
        deadline = time.monotonic() + within_s
        while True:
            try:
                return await method(request, timeout=self._attempt_timeout_s)
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRYABLE or time.monotonic() > deadline:
                    raise
                self.retries[f"{_method_name(method)} {error.code().name}"] += 1
            await asyncio.sleep(0.1)

    async def submit(self, essays: Sequence[Essay], *, uploads_at_once: int = 4) -> str:
        """Register a batch with one slot per essay and upload every essay; the batch id.
        A registration repeated after a lost reply keeps its request_id, so it returns the batch
        the first attempt registered; an upload repeated after a lost reply is harmless: the File
        Service keys an upload by batch and content, so it fills one slot."""
        reply = await self.call(
            self.bos.RegisterBatch,
            batch_service_pb2.RegisterBatchRequest(
                expected_essay_count=len(essays),
                course_code="ENG5",
                language="en",
                title="scaling",
                readiness=common_pb2.ReadinessConfig(
                    timeout_seconds=900, partial_batch_threshold=1.0
                ),
                request_id=str(uuid.uuid4()),
            ),
        )
        limit = asyncio.Semaphore(uploads_at_once)

        async def upload(essay: Essay) -> None:
            async with limit:
                await self.call(
                    self.files.UploadFile,
                    file_service_pb2.UploadFileRequest(
                        batch_id=reply.batch_id, file_name=essay.name, content=essay.content
                    ),
                )

        await asyncio.gather(*(upload(essay) for essay in essays))
        return reply.batch_id

    async def batches(self, batch_ids: Sequence[str]) -> dict[str, batch_service_pb2.Batch]:
        """The current state of each batch."""
        replies = await asyncio.gather(
            *(
                self.call(self.bos.GetBatch, batch_service_pb2.GetBatchRequest(batch_id=batch_id))
                for batch_id in batch_ids
            )
        )
        return {reply.batch.batch_id: reply.batch for reply in replies}

    async def wait_terminal(
        self, batch_ids: Sequence[str], *, timeout_s: float, interval_s: float = 0.5
    ) -> dict[str, batch_service_pb2.Batch]:
        """Poll GetBatch until every batch is terminal; TimeoutError naming the others."""
        deadline = time.monotonic() + timeout_s
        while True:
            current = await self.batches(batch_ids)
            open_ = {i: b for i, b in current.items() if b.status not in TERMINAL}
            if not open_:
                return current
            if time.monotonic() > deadline:
                states = Counter(B.Name(batch.status) for batch in open_.values())
                raise TimeoutError(f"{len(open_)} batches not terminal: {dict(states)}")
            await asyncio.sleep(interval_s)

    async def essays(self, batch_id: str) -> list[essay_service_pb2.Essay]:
        """ELS's view of every essay of the batch."""
        reply = await self.call(
            self.els.ListBatchEssays, essay_service_pb2.ListBatchEssaysRequest(batch_id=batch_id)
        )
        return list(reply.essays)


class BatchFlow:
    """Submits batches one after another, keeping at most `window` of them unfinished, while a
    monitor polls GetBatch for the unfinished ones; `final` fills as batches turn terminal."""

    def __init__(
        self,
        driver: MeshDriver,
        batches: Sequence[Sequence[Essay]],
        *,
        window: int,
        poll_s: float = 0.5,
    ) -> None:
        self._driver = driver
        self._batches = batches
        self._window = window
        self._poll_s = poll_s
        self._progress = asyncio.Event()
        self._all_submitted = False
        self.submitted: list[str] = []
        self.final: dict[str, batch_service_pb2.Batch] = {}
        self.first_submit_at = 0.0
        self.last_terminal_at = 0.0

    @property
    def terminal(self) -> int:
        """Batches seen terminal so far."""
        return len(self.final)

    async def run(self, *, timeout_s: float) -> dict[str, batch_service_pb2.Batch]:
        """Submit every batch and return once all are terminal; TimeoutError at the deadline."""
        deadline = time.monotonic() + timeout_s
        self.first_submit_at = time.monotonic()
        monitor = asyncio.create_task(self._monitor(deadline))
        try:
            for essays in self._batches:
                while len(self.submitted) - len(self.final) >= self._window:
                    self._progress.clear()
                    waiter = asyncio.create_task(self._progress.wait())
                    done, _ = await asyncio.wait(
                        [monitor, waiter], return_when=asyncio.FIRST_COMPLETED
                    )
                    waiter.cancel()
                    if monitor in done:
                        monitor.result()  # raises what stopped the monitor
                self.submitted.append(await self._driver.submit(essays))
            self._all_submitted = True
            await monitor
        finally:
            monitor.cancel()
        return self.final

    async def _monitor(self, deadline: float) -> None:
        while not (self._all_submitted and len(self.final) == len(self.submitted)):
            unfinished = [batch_id for batch_id in self.submitted if batch_id not in self.final]
            if unfinished:
                for batch_id, batch in (await self._driver.batches(unfinished)).items():
                    if batch.status in TERMINAL:
                        self.final[batch_id] = batch
                        self.last_terminal_at = time.monotonic()
                        self._progress.set()
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(self.final)} of {len(self._batches)} batches terminal "
                    f"({len(self.submitted)} submitted) at the deadline"
                )
            await asyncio.sleep(self._poll_s)


async def jetstream_call(
    call: Callable[[], Awaitable[Rep_]], *, within_s: float = 30.0, interval_s: float = 0.25
) -> Rep_:
    """A JetStream API call, asked again while it goes unanswered (a stream or consumer with
    no leader for a few seconds after a node is lost) until `within_s`."""
    deadline = time.monotonic() + within_s
    while True:
        try:
            return await call()
        except (nats.errors.TimeoutError, nats.errors.NoRespondersError, ServiceUnavailableError):
            if time.monotonic() > deadline:
                raise
        await asyncio.sleep(interval_s)


@dataclass(frozen=True)
class StoredCounts:
    """How many messages the event stream holds per essay, for the requests and completions of
    the given batches."""

    requests: Counter[str]
    completions: Counter[str]


def _requested(data: bytes) -> list[tuple[str, str]]:
    request = events_pb2.SpellcheckGroupRequested.FromString(data)
    return [(request.batch_id, essay.essay_id) for essay in request.essays]


def _completed(data: bytes) -> list[tuple[str, str]]:
    completed = events_pb2.SpellcheckGroupCompleted.FromString(data)
    return [(completed.batch_id, result.essay_id) for result in completed.results]


async def _count_stored(
    js: JetStreamContext,
    subject: str,
    essays: Callable[[bytes], list[tuple[str, str]]],
    batch_ids: set[str],
    deadline: float,
) -> Counter[str]:
    info = await jetstream_call(lambda: js.stream_info(EVENTS_STREAM, subjects_filter=subject))
    stored = (info.state.subjects or {}).get(subject, 0)
    subscription = await js.subscribe(
        subject, stream=EVENTS_STREAM, ordered_consumer=True, deliver_policy=DeliverPolicy.ALL
    )
    counts: Counter[str] = Counter()
    try:
        for _ in range(stored):
            msg = await subscription.next_msg(timeout=max(0.1, deadline - time.monotonic()))
            for batch_id, essay_id in essays(msg.data):
                if batch_id in batch_ids:
                    counts[essay_id] += 1
    finally:
        await subscription.unsubscribe()
    return counts


async def stored_spellcheck_counts(
    js: JetStreamContext, batch_ids: set[str], *, timeout_s: float = 60.0
) -> StoredCounts:
    """Read every stored spell-check group request and completion (an ordered consumer from the
    start of the stream) and count how often each names an essay of `batch_ids`."""
    deadline = time.monotonic() + timeout_s
    return StoredCounts(
        requests=await _count_stored(
            js, subjects.SPELLCHECK_GROUP_REQUESTED, _requested, batch_ids, deadline
        ),
        completions=await _count_stored(
            js, subjects.SPELLCHECK_GROUP_COMPLETED, _completed, batch_ids, deadline
        ),
    )
