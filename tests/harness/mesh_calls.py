"""A client of the mesh that behaves like a real one under faults: it spreads calls over the
instances of a service, retries a call that got no answer (UNAVAILABLE, a deadline, a dropped
connection) on the next instance with backoff, keeps one request_id across the retries of a
RegisterBatch (so it registers one batch however many answers are lost), and re-sends an upload
that got no receipt (the File Service recognises the same bytes and answers DUPLICATE instead of
storing them twice). Also reads back every event the stream holds, with the time JetStream
stored it."""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import DeliverPolicy

from huleedu.batch.v1 import batch_service_pb2, batch_service_pb2_grpc
from huleedu.essay.v1 import essay_service_pb2, essay_service_pb2_grpc
from huleedu.file.v1 import file_service_pb2, file_service_pb2_grpc
from services.cli.results import TERMINAL
from services.mesh import subjects
from services.mesh.grpc_channel import grpc_channel
from services.mesh.publisher import HEADER_TYPE
from services.mesh.streams import EVENTS_STREAM

T = TypeVar("T")
# No answer: the call may or may not have happened; asking again is how a client finds out.
NO_ANSWER = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.ABORTED,
    }
)
# The File Service answers INTERNAL with "retry the upload" when a dependency failed oddly, and
# NOT_FOUND while its view of a just-registered batch lags (e.g. NATS was restarting).
UPLOAD_RETRY = NO_ANSWER | {grpc.StatusCode.INTERNAL, grpc.StatusCode.NOT_FOUND}


@dataclass(frozen=True)
class Attempt:
    """One try of a call: which instance (index among that service's addresses), when it
    started and ended (monotonic), and its status code (None: answered)."""

    what: str
    instance: int
    started: float
    ended: float
    code: grpc.StatusCode | None


class MeshCalls:
    """Retrying calls to BOS, the File Service and ELS, over one or more instances of each."""

    def __init__(
        self,
        *,
        bos: Sequence[str],
        files: Sequence[str],
        els: Sequence[str],
        call_timeout_s: float = 30.0,
        give_up_after_s: float = 300.0,
    ) -> None:
        self._channels = [grpc_channel(addr) for addr in (*bos, *files, *els)]
        channels = iter(self._channels)
        self._bos = [
            batch_service_pb2_grpc.BatchOrchestratorServiceStub(next(channels)) for _ in bos
        ]
        self._files = [file_service_pb2_grpc.FileServiceStub(next(channels)) for _ in files]
        self._els = [essay_service_pb2_grpc.EssayLifecycleServiceStub(next(channels)) for _ in els]
        self._turn = itertools.count()
        self._call_timeout_s = call_timeout_s
        self._give_up_after_s = give_up_after_s
        self.retries: Counter[str] = Counter()
        self.retry_codes: Counter[str] = Counter()
        self.attempts: list[Attempt] = []

    async def close(self) -> None:
        """Close every channel."""
        for channel in self._channels:
            await channel.close(None)

    async def _retrying(
        self,
        what: str,
        stubs: Sequence[T],
        call: Callable[[T], Any],
        retry_on: frozenset[grpc.StatusCode] = NO_ANSWER,
    ) -> Any:
        """`call(stub)` on the instances in turn until one answers; retryable failures back off
        from 0.1 s to 2 s; give up after `give_up_after_s`."""
        deadline = time.monotonic() + self._give_up_after_s
        start = next(self._turn)
        for attempt in itertools.count():
            index = (start + attempt) % len(stubs)
            began = time.monotonic()
            try:
                reply = await call(stubs[index])
            except grpc.aio.AioRpcError as error:
                self.attempts.append(Attempt(what, index, began, time.monotonic(), error.code()))
                if error.code() not in retry_on or time.monotonic() > deadline:
                    raise
                self.retries[what] += 1
                self.retry_codes[f"{what} {error.code().name}"] += 1
            else:
                self.attempts.append(Attempt(what, index, began, time.monotonic(), None))
                return reply
            await asyncio.sleep(min(0.1 * 2 ** min(attempt, 5), 2.0))
        raise AssertionError("unreachable")

    async def register(
        self, request: batch_service_pb2.RegisterBatchRequest
    ) -> batch_service_pb2.RegisterBatchResponse:
        """RegisterBatch; asked again when unanswered, with the same request_id (a new one if the
        request has none), so a retry gets the batch an unanswered call registered instead of
        registering another."""
        if not request.request_id:
            keyed = batch_service_pb2.RegisterBatchRequest()
            keyed.CopyFrom(request)
            keyed.request_id = str(uuid.uuid4())
            request = keyed
        reply: batch_service_pb2.RegisterBatchResponse = await self._retrying(
            "register",
            self._bos,
            lambda stub: stub.RegisterBatch(request, timeout=self._call_timeout_s),
        )
        return reply

    async def upload_file(
        self, batch_id: str, file_name: str, content: bytes
    ) -> file_service_pb2.FileReceipt:
        """UploadFile, sent again until it gets a receipt."""
        request = file_service_pb2.UploadFileRequest(
            batch_id=batch_id, file_name=file_name, content=content
        )
        reply: file_service_pb2.UploadFileResponse = await self._retrying(
            "upload_file",
            self._files,
            lambda stub: stub.UploadFile(request, timeout=self._call_timeout_s * 4),
            UPLOAD_RETRY,
        )
        return reply.receipt

    async def upload_files(
        self, batch_id: str, files: Sequence[tuple[str, bytes]]
    ) -> list[file_service_pb2.FileReceipt]:
        """One UploadFiles stream for the files; the whole stream again if it gets no receipts
        (files that were stored come back DUPLICATE)."""

        async def requests() -> AsyncIterator[file_service_pb2.UploadFilesRequest]:
            for name, content in files:
                yield file_service_pb2.UploadFilesRequest(
                    batch_id=batch_id, file_name=name, content=content
                )

        reply: file_service_pb2.UploadFilesResponse = await self._retrying(
            "upload_files",
            self._files,
            lambda stub: stub.UploadFiles(requests(), timeout=self._call_timeout_s * 20),
            UPLOAD_RETRY,
        )
        return list(reply.receipts)

    async def get_batch(self, batch_id: str) -> batch_service_pb2.Batch:
        """GetBatch."""
        request = batch_service_pb2.GetBatchRequest(batch_id=batch_id)
        reply: batch_service_pb2.GetBatchResponse = await self._retrying(
            "get_batch", self._bos, lambda stub: stub.GetBatch(request, timeout=10)
        )
        return reply.batch

    async def list_batches(self) -> list[batch_service_pb2.Batch]:
        """Every batch BOS knows, all pages."""
        batches: list[batch_service_pb2.Batch] = []
        token = ""
        while True:
            page = batch_service_pb2.ListBatchesRequest(page_size=100, page_token=token)
            reply: batch_service_pb2.ListBatchesResponse = await self._retrying(
                "list_batches", self._bos, _list_batches(page)
            )
            batches.extend(reply.batches)
            token = reply.next_page_token
            if not token:
                return batches

    async def list_batch_essays(self, batch_id: str) -> list[essay_service_pb2.Essay]:
        """ListBatchEssays."""
        request = essay_service_pb2.ListBatchEssaysRequest(batch_id=batch_id)
        reply: essay_service_pb2.ListBatchEssaysResponse = await self._retrying(
            "list_batch_essays", self._els, lambda stub: stub.ListBatchEssays(request, timeout=10)
        )
        return list(reply.essays)

    async def wait_terminal(
        self, batch_ids: Sequence[str], *, timeout_s: float, poll_s: float = 1.0
    ) -> dict[str, batch_service_pb2.Batch]:
        """Poll GetBatch (16 at a time) until every batch is terminal; the terminal batches."""
        done: dict[str, batch_service_pb2.Batch] = {}
        deadline = time.monotonic() + timeout_s
        limit = asyncio.Semaphore(16)

        async def check(batch_id: str) -> None:
            async with limit:
                batch = await self.get_batch(batch_id)
            if batch.status in TERMINAL:
                done[batch_id] = batch

        while True:
            await asyncio.gather(*(check(b) for b in batch_ids if b not in done))
            if len(done) == len(batch_ids):
                return done
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{len(batch_ids) - len(done)} of {len(batch_ids)} batches not terminal "
                    f"after {timeout_s:.0f} s"
                )
            await asyncio.sleep(poll_s)


def _list_batches(
    page: batch_service_pb2.ListBatchesRequest,
) -> Callable[[batch_service_pb2_grpc.BatchOrchestratorServiceStub], Any]:
    return lambda stub: stub.ListBatches(page, timeout=30)


async def read_events(
    js: JetStreamContext, *, timeout_s: float = 120.0
) -> list[tuple[float, str, Message]]:
    """Every event HULEEDU_EVENTS holds now, decoded: (stored at, wall-clock seconds; subject;
    event), in stream order. Messages of unknown types are left out."""
    info = await js.stream_info(EVENTS_STREAM)
    last = info.state.last_seq
    events: list[tuple[float, str, Message]] = []
    if info.state.messages == 0:
        return events
    reached = asyncio.Event()

    async def on_message(msg: Msg) -> None:
        message_type = subjects.message_type_for((msg.headers or {}).get(HEADER_TYPE, ""))
        metadata = msg.metadata
        if message_type is not None:
            event = message_type.FromString(msg.data)
            events.append((metadata.timestamp.timestamp(), msg.subject, event))
        if metadata.sequence.stream >= last:
            reached.set()

    subscription = await js.subscribe(
        subjects.EVENTS_SUBJECTS,
        cb=on_message,
        ordered_consumer=True,
        deliver_policy=DeliverPolicy.ALL,
    )
    try:
        await asyncio.wait_for(reached.wait(), timeout_s)
    finally:
        await subscription.unsubscribe()
    return events
