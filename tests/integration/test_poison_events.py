"""Poison on every subject a service consumes: random bytes, a valid event of the wrong type, an
event for a batch that does not exist, an event without metadata (or without its event id or
batch id). Each case ends in the DLQ or is handled as stated in OUTCOMES (in
test_poison_events_support.py, with the poison itself), and afterwards every consumer still
works: a real batch goes from RegisterBatch to COMPLETED through all of them.

A nats-server of its own, the four consuming services in-process (File Service, ELS, BOS, Spell
Checker) plus the Content Service, each logged in as its own NATS user (devstack/nats_users.py):
every dead letter, deadline schedule and event here is within its service's permissions."""

from __future__ import annotations

import contextlib
import io
import json
import logging
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from google.protobuf.message import DecodeError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from devstack.nats_server import NatsServer
from devstack.nats_users import NatsLogins
from huleedu.batch.v1 import batch_service_pb2 as batch_pb
from huleedu.batch.v1 import batch_service_pb2_grpc as batch_grpc
from huleedu.common.v1 import common_pb2
from huleedu.events.v1 import events_pb2
from huleedu.file.v1 import file_service_pb2 as file_pb
from huleedu.file.v1 import file_service_pb2_grpc as file_grpc
from huleedu.internal.els.v1.essay_state_pb2 import BatchTracker
from services.batch_orchestrator.bootstrap import PROGRAM as BOS
from services.batch_orchestrator.bootstrap import RunningBos
from services.batch_orchestrator.domain.registration import RegistrationPolicy
from services.batch_orchestrator.settings import BosSettings
from services.content_service.bootstrap import ContentService
from services.essay_lifecycle.adapters.kv_store import BATCHES_BUCKET as ELS_BATCHES
from services.essay_lifecycle.bootstrap import PROGRAM as ELS
from services.essay_lifecycle.bootstrap import EssayLifecycleApp
from services.file_service.adapters.batch_registry import BATCHES_BUCKET
from services.file_service.adapters.kv_keys import batch_key
from services.file_service.bootstrap import FileService
from services.mesh import subjects
from services.mesh.connection import connect_nats
from services.mesh.content_client import ContentClient
from services.mesh.dead_letters import (
    HEADER_DLQ_CONSUMER,
    HEADER_DLQ_REASON,
    HEADER_DLQ_STREAM_SEQ,
    HEADER_DLQ_SUBJECT,
)
from services.mesh.kv import read_document
from services.mesh.logging import JsonFormatter
from services.mesh.publisher import HEADER_TYPE
from services.mesh.settings import NatsSettings
from services.mesh.streams import DLQ_STREAM, EVENTS_STREAM
from services.spell_checker.bootstrap import PROGRAM as SPELL_CHECKER
from services.spell_checker.bootstrap import SpellCheckerService
from tests.conftest import settings_for
from tests.integration.test_file_service_support import (
    running_content_service,
    running_file_service,
)
from tests.integration.test_hostile_grpc_support import els_settings
from tests.integration.test_poison_events_support import (
    CASES,
    CONSUMERS,
    DLQ,
    HANDLED,
    HELD,
    IGNORED,
    IGNORED_LOG,
    expected,
    poison,
)
from tests.integration.test_spell_checker_support import spell_checker_settings
from tests.support import wait_until
from tests.unit.file_service.catalogue import essay

E = events_pb2


@dataclass
class Mesh:
    content: ContentService
    files: FileService
    els: EssayLifecycleApp
    bos: RunningBos
    spell: SpellCheckerService
    text_storage_id: str


@pytest.fixture(scope="module")
def poison_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    """A nats-server of this module's own (the garbage published here must not reach the tests
    that read the session server's subjects back), with one user per service."""
    server = NatsServer(Path(tmp_path_factory.mktemp("poison-nats")), logins=NatsLogins.generate())
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def nats_settings(poison_server: NatsServer) -> NatsSettings:
    """The test's own connection: the operator."""
    return settings_for(poison_server.url)


@pytest.fixture(scope="module")
async def mesh(
    poison_server: NatsServer, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Mesh]:
    def nats_of(service: str) -> NatsSettings:
        return settings_for(poison_server.url_of(service))

    bos = await BOS.start(
        BosSettings(
            addr="127.0.0.1:0",
            nats=nats_of("batch_orchestrator"),
            policy=RegistrationPolicy(),
            unknown_batch_retry_s=0.1,
        )
    )
    async with (
        running_content_service(nats_of("content_service")) as content,
        running_file_service(nats_of("file_service"), content.port) as files,
    ):
        els = await ELS.start(
            els_settings(nats_of("essay_lifecycle"), content.port, consumer_concurrency=8)
        )
        cache = Path(tmp_path_factory.mktemp("spell-index"))
        spell = await SPELL_CHECKER.start(
            spell_checker_settings(nats_of("spell_checker"), content.port, cache)
        )
        client = ContentClient(f"127.0.0.1:{content.port}")
        text_id = await client.put(
            essay(30),
            common_pb2.CONTENT_KIND_EXTRACTED_TEXT,
            "text/plain; charset=utf-8",
            tenant="",
        )
        await client.close()
        yield Mesh(content, files, els, bos, spell, text_id)
        await spell.stop()
        await els.stop()
    await bos.stop()


@pytest.fixture
def json_logs() -> Iterator[io.StringIO]:
    """Every log line of the in-process services during the test, as the services write it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


@dataclass(frozen=True)
class Sent:
    subject: str
    case: str
    batch_id: str
    seq: int


async def dead_letters(js: JetStreamContext, since: int) -> dict[tuple[int, str], str]:
    """DLQ entries stored after `since`: (original stream seq, consumer) -> reason."""
    subscription = await js.pull_subscribe(
        "dlq.huleedu.>",
        stream=DLQ_STREAM,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=since + 1,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
        ),
    )
    try:
        pending = (await subscription.consumer_info()).num_pending or 0
        found: dict[tuple[int, str], str] = {}
        while len(found) < pending:
            for msg in await subscription.fetch(batch=min(256, pending - len(found)), timeout=5):
                headers = msg.headers or {}
                consumer = headers.get(HEADER_DLQ_CONSUMER, "").split("/")[-1]
                seq = int(headers.get(HEADER_DLQ_STREAM_SEQ, "0"))
                found[(seq, consumer)] = headers.get(HEADER_DLQ_REASON, "") + (
                    "" if headers.get(HEADER_DLQ_SUBJECT) else " (no subject header)"
                )
        return found
    finally:
        await subscription.unsubscribe()


async def consumers_idle(js: JetStreamContext) -> bool:
    """Every durable has delivered and settled everything (nothing pending, nothing unacked)."""
    for durable in ("file_service", "els", "bos", "spell_checker"):
        info = await js.consumer_info(EVENTS_STREAM, durable)
        if info.num_pending or info.num_ack_pending:
            return False
    return True


async def run_a_batch_through_every_consumer(mesh: Mesh) -> batch_pb.Batch:
    """RegisterBatch → upload → ready → spell check → COMPLETED: every consumer handles events."""
    async with (
        grpc.aio.insecure_channel(f"127.0.0.1:{mesh.bos.port}") as bos_channel,
        grpc.aio.insecure_channel(f"127.0.0.1:{mesh.files.port}") as file_channel,
    ):
        bos = batch_grpc.BatchOrchestratorServiceStub(bos_channel)
        registered = await bos.RegisterBatch(
            batch_pb.RegisterBatchRequest(expected_essay_count=2, course_code="ENG5", language="en")
        )
        files = file_grpc.FileServiceStub(file_channel)
        for number in (31, 32):
            await files.UploadFile(
                file_pb.UploadFileRequest(
                    batch_id=registered.batch_id, file_name=f"{number}.txt", content=essay(number)
                ),
                timeout=30,
            )

        async def completed() -> batch_pb.Batch | None:
            reply = await bos.GetBatch(batch_pb.GetBatchRequest(batch_id=registered.batch_id))
            done = reply.batch.status == common_pb2.BATCH_STATUS_COMPLETED
            return reply.batch if done else None

        return await wait_until(completed, timeout_s=60, message="the good batch COMPLETED")


async def test_poison_on_every_subject_ends_as_stated_and_every_consumer_goes_on(
    mesh: Mesh, nats_settings: NatsSettings, json_logs: io.StringIO
) -> None:
    client, js = await connect_nats(nats_settings, "poison-test")
    try:
        dlq_before = (await js.stream_info(DLQ_STREAM)).state.last_seq
        sent: list[Sent] = []
        for subject in CONSUMERS:
            for case in CASES:
                data, headers, batch_id = poison(subject, case, mesh.text_storage_id)
                ack = await js.publish(subject, data, headers=headers or None)
                sent.append(Sent(subject, case, batch_id, ack.seq))

        batch = await run_a_batch_through_every_consumer(mesh)  # every consumer goes on
        assert batch.counts.expected == 2

        await wait_until(lambda: consumers_idle(js), timeout_s=60, message="consumers idle")
        letters = await dead_letters(js, dlq_before)
        effects = Effects(js, json_logs, await answered_batches(js, sent[0].seq))
        observed: dict[tuple[str, str, str], str] = {}
        table = []
        for item in sent:
            for consumer in CONSUMERS[item.subject]:
                reason = letters.get((item.seq, consumer))
                outcome = DLQ if reason is not None else await effects.of(item, consumer)
                observed[(item.subject, item.case, consumer)] = outcome
                table.append(
                    f"| `{item.subject}` | {item.case} | {consumer} | {outcome} | {reason or ''} |"
                )
    finally:
        await client.drain()
    print("\n" + "\n".join(table))  # the table of the closing note
    assert observed == {key: expected(*key) for key in observed}


async def answered_batches(js: JetStreamContext, since: int) -> set[str]:
    """Batch ids of the spell-check completions (of one essay or a group) the Spell Checker
    stored after stream seq `since`."""
    answered: set[str] = set()
    for subject, completion in (
        (subjects.ESSAY_SPELLCHECK_COMPLETED, E.EssaySpellcheckCompleted),
        (subjects.SPELLCHECK_GROUP_COMPLETED, E.SpellcheckGroupCompleted),
    ):
        answered |= await _answered_on(js, since, subject, completion)
    return answered


async def _answered_on(
    js: JetStreamContext,
    since: int,
    subject: str,
    completion: type[E.EssaySpellcheckCompleted] | type[E.SpellcheckGroupCompleted],
) -> set[str]:
    subscription = await js.pull_subscribe(
        subject,
        stream=EVENTS_STREAM,
        config=ConsumerConfig(
            deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=since,
            ack_policy=AckPolicy.NONE,
            inactive_threshold=30.0,
        ),
    )
    try:
        pending = (await subscription.consumer_info()).num_pending or 0
        answered: set[str] = set()
        for _ in range(pending):
            [msg] = await subscription.fetch(batch=1, timeout=5)
            if (msg.headers or {}).get(HEADER_TYPE) != completion.DESCRIPTOR.full_name:
                continue  # poison this test published on the subject
            with contextlib.suppress(DecodeError):
                completed = completion.FromString(msg.data)
                if completed.metadata.producer == "spell_checker":
                    answered.add(completed.batch_id)
        return answered
    finally:
        await subscription.unsubscribe()


@dataclass
class Effects:
    """What an acknowledged poison message left behind, to tell HANDLED, HELD and IGNORED."""

    js: JetStreamContext
    json_logs: io.StringIO
    answered: set[str]

    async def of(self, item: Sent, consumer: str) -> str:
        if consumer == "file_service":
            kv = await self.js.key_value(BATCHES_BUCKET)
            known = await read_document(kv, batch_key(item.batch_id), E.BatchEssaysRegistered)
            return HANDLED if known is not None else "acknowledged without effect"
        if consumer == "spell_checker":
            return HANDLED if item.batch_id in self.answered else "acknowledged, unanswered"
        if consumer == "els" and item.subject == subjects.BATCH_READINESS_DEADLINE:
            said = IGNORED_LOG[item.subject]
            logs = [json.loads(line) for line in self.json_logs.getvalue().splitlines()]
            logged = any(e.get("batch_id") == item.batch_id and said in e["message"] for e in logs)
            return IGNORED if logged else "acknowledged without the log line"
        tracker = await read_document(
            await self.js.key_value(ELS_BATCHES), item.batch_id, BatchTracker
        )
        if tracker is None:
            return "acknowledged without effect"
        doc = tracker[0]
        if doc.registered:
            return HANDLED
        return HELD if doc.held_uploads else "unregistered tracker without held uploads"
