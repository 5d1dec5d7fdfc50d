"""Least privilege on NATS (devstack/nats_users.py): a real nats-server with one user per
service refuses a service what is not its own (another service's event, another service's KV
bucket) and lets it do its own job, erasure included (ELS announces an erased essay's upload, the
File Service erases its record)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import nats
import nats.errors
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from devstack.nats_server import NatsServer
from devstack.nats_users import NatsLogins
from huleedu.events.v1 import events_pb2
from services.batch_orchestrator.adapters.kv_batches import BUCKET as BOS_BATCHES
from services.essay_lifecycle.adapters.deadline import JetStreamDeadlineScheduler
from services.file_service import bootstrap as file_service
from services.file_service.adapters.erasure import UploadEraser
from services.file_service.adapters.file_admissions import BATCH_FILES_BUCKET, KvFileAdmissions
from services.file_service.adapters.upload_ledger import UPLOADS_BUCKET, KvUploadLedger
from services.file_service.domain.uploads import UploadRecord, file_upload_id_for
from services.mesh import subjects
from services.mesh.connection import connect_nats
from services.mesh.dead_letters import MAX_DELIVERIES_ADVISORY
from services.mesh.event_ids import new_metadata
from services.mesh.publisher import HEADER_TYPE, EventPublisher
from services.mesh.settings import NatsSettings, inbox_prefix
from services.mesh.streams import (
    EVENTS_STREAM,
    ConsumerSpec,
    ensure_consumer,
    ensure_kv,
    ensure_streams,
)
from services.spell_checker.bootstrap import DURABLE as SPELL_DURABLE
from tests.conftest import settings_for
from tests.support import wait_until

# A refused request is never answered: it fails when the request times out.
REFUSED_AFTER_S = 1.0


@pytest.fixture(scope="module")
def users_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsServer]:
    server = NatsServer(Path(tmp_path_factory.mktemp("nats-users")), logins=NatsLogins.generate())
    server.start()
    yield server
    server.stop()


def settings_of(server: NatsServer, user: str) -> NatsSettings:
    return settings_for(server.url_of(user), request_timeout_s=REFUSED_AFTER_S)


@pytest.fixture(scope="module")
async def bos_batch_key(users_server: NatsServer) -> AsyncIterator[str]:
    """The BOS user provisions the streams and its bucket, and stores one batch there."""
    settings = settings_of(users_server, "batch_orchestrator")
    client, js = await connect_nats(settings, "bos-test")
    await ensure_streams(js, settings)
    await EventPublisher(js, "batch_orchestrator").publish(registered_event())
    kv = await ensure_kv(js, BOS_BATCHES, settings)
    key = f"batch-{uuid.uuid4()}"
    await kv.put(key, b"a batch of BOS")
    yield key
    await client.drain()


def registered_event() -> events_pb2.BatchEssaysRegistered:
    return events_pb2.BatchEssaysRegistered(
        metadata=new_metadata("batch_orchestrator", correlation_id=str(uuid.uuid4())),
        batch_id=str(uuid.uuid4()),
    )


class Violations:
    """The permission violations the server reports to one connection."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    async def record(self, error: Exception) -> None:
        self.errors.append(str(error))

    def of(self, subject: str) -> list[str]:
        """The violations that name `subject` (nats-py hands them over in lower case)."""
        return [error for error in self.errors if f'"{subject.lower()}"' in error]


async def spell_checker(server: NatsServer) -> tuple[Client, JetStreamContext, Violations]:
    violations = Violations()
    client = await nats.connect(
        server.url_of("spell_checker"),
        allow_reconnect=False,
        error_cb=violations.record,
        inbox_prefix=inbox_prefix("spell_checker"),
    )
    return client, client.jetstream(timeout=REFUSED_AFTER_S), violations


async def test_the_spell_checker_cannot_publish_batch_essays_ready(
    users_server: NatsServer, bos_batch_key: str
) -> None:
    client, js, violations = await spell_checker(users_server)
    ready = events_pb2.BatchEssaysReady(
        metadata=new_metadata("essay_lifecycle", correlation_id=str(uuid.uuid4())),
        batch_id=str(uuid.uuid4()),
    )
    try:
        with pytest.raises(nats.errors.TimeoutError):
            await EventPublisher(js, "spell_checker").publish(ready)
    finally:
        await client.close()
    assert violations.of(subjects.BATCH_ESSAYS_READY)
    assert "permissions violation for publish" in violations.errors[0]
    operator, operator_js = await connect_nats(settings_for(users_server.url), "operator")
    try:
        info = await operator_js.stream_info(EVENTS_STREAM, subjects_filter=">")
    finally:
        await operator.drain()
    assert subjects.BATCH_ESSAYS_READY not in (info.state.subjects or {})


async def test_the_spell_checker_cannot_read_the_bos_batches_bucket(
    users_server: NatsServer, bos_batch_key: str
) -> None:
    client, js, violations = await spell_checker(users_server)
    stream = f"KV_{BOS_BATCHES}"
    direct_get = f"$JS.API.DIRECT.GET.{stream}.$KV.{BOS_BATCHES}.{bos_batch_key}"
    try:
        with pytest.raises(nats.errors.TimeoutError):
            await js.key_value(BOS_BATCHES)
        with pytest.raises(nats.errors.TimeoutError):
            await client.request(direct_get, b"", timeout=REFUSED_AFTER_S)
        with pytest.raises(nats.errors.TimeoutError):
            await js.get_msg(stream, subject=f"$KV.{BOS_BATCHES}.{bos_batch_key}")
        await client.subscribe(f"$KV.{BOS_BATCHES}.>")
        # Nor the answers BOS gets to its own reads: only its own inboxes are the Spell Checker's.
        await client.subscribe("_INBOX.>")
        await client.subscribe(f"{inbox_prefix('batch_orchestrator')}.>")
        refused = [
            f"$JS.API.STREAM.INFO.{stream}",
            direct_get,
            f"$JS.API.STREAM.MSG.GET.{stream}",
            f"$KV.{BOS_BATCHES}.>",  # the subscriptions, refused too
            "_INBOX.>",
            "_INBOX_batch_orchestrator.>",
        ]
        # The server's refusals reach the error callback asynchronously.
        await wait_until(
            lambda: all(violations.of(subject) for subject in refused),
            timeout_s=10,
            message=f"a violation reported for each of {refused}",
        )
    finally:
        await client.close()


async def test_the_spell_checker_does_its_own_job(
    users_server: NatsServer, bos_batch_key: str
) -> None:
    settings = settings_of(users_server, "spell_checker")
    client, js = await connect_nats(settings, "spell-checker-test")
    spec = ConsumerSpec(SPELL_DURABLE, [subjects.ESSAY_SPELLCHECK_REQUESTED])
    completed = events_pb2.EssaySpellcheckCompleted(
        metadata=new_metadata("spell_checker", correlation_id=str(uuid.uuid4())),
        batch_id=str(uuid.uuid4()),
        essay_id=str(uuid.uuid4()),
    )
    try:
        await ensure_consumer(js, spec, provision_wait_s=REFUSED_AFTER_S)
        stored = await EventPublisher(js, "spell_checker").publish(completed)
        pull = await js.pull_subscribe_bind(SPELL_DURABLE, EVENTS_STREAM)
        await pull.unsubscribe()
    finally:
        await client.drain()
    assert stored.stream == EVENTS_STREAM


async def test_the_essay_lifecycle_schedules_its_deadline_and_it_fires(
    users_server: NatsServer, bos_batch_key: str
) -> None:
    batch_id = str(uuid.uuid4())
    reached = events_pb2.BatchReadinessDeadlineReached(
        metadata=new_metadata("essay_lifecycle", correlation_id=batch_id), batch_id=batch_id
    )
    client, js = await connect_nats(settings_of(users_server, "essay_lifecycle"), "els-test")
    try:
        now = Timestamp()
        now.GetCurrentTime()  # a time already passed: the schedule fires at once
        await JetStreamDeadlineScheduler(EventPublisher(js, "essay_lifecycle")).schedule(
            reached, now
        )
    finally:
        await client.drain()
    operator, operator_js = await connect_nats(settings_for(users_server.url), "operator")

    async def fired() -> bool:
        try:
            stored = await operator_js.get_last_msg(
                EVENTS_STREAM, subjects.BATCH_READINESS_DEADLINE
            )
        except NotFoundError:
            return False
        return events_pb2.BatchReadinessDeadlineReached.FromString(stored.data or b"") == reached

    try:
        await wait_until(fired, timeout_s=10, message="the deadline stored on its subject")
    finally:
        await operator.drain()


async def test_a_service_hears_the_max_deliveries_advisory_of_its_own_durable_only(
    users_server: NatsServer, bos_batch_key: str
) -> None:
    client, js, violations = await spell_checker(users_server)
    own = MAX_DELIVERIES_ADVISORY.format(stream=EVENTS_STREAM, durable=SPELL_DURABLE)
    other = MAX_DELIVERIES_ADVISORY.format(stream=EVENTS_STREAM, durable="bos")
    try:
        await client.subscribe(own)
        await client.subscribe(other)
        await client.flush()
        # What an advisory names is read back by its sequence (services.mesh.dead_letters).
        first = await js.get_msg(EVENTS_STREAM, seq=1)
        await wait_until(lambda: violations.of(other), timeout_s=10, message="refused: " + other)
    finally:
        await client.close()
    assert first.subject == subjects.BATCH_ESSAYS_REGISTERED
    assert not violations.of(own)


async def test_an_erased_essays_upload_goes_from_the_essay_lifecycle_to_the_file_service(
    users_server: NatsServer, bos_batch_key: str
) -> None:
    batch_id, sha256 = str(uuid.uuid4()), "ab" * 32
    upload = events_pb2.EssayUploadsErased.Upload(
        content_sha256=sha256, file_upload_id=file_upload_id_for(batch_id, sha256)
    )
    settings = settings_of(users_server, "file_service")
    files, files_js = await connect_nats(settings, "file-service-test")
    els, els_js = await connect_nats(settings_of(users_server, "essay_lifecycle"), "els-test")
    try:
        service_settings: Any = SimpleNamespace(nats=settings)
        spec = file_service.consumer_spec(service_settings)
        await ensure_consumer(files_js, spec, provision_wait_s=REFUSED_AFTER_S)
        uploads_kv = await ensure_kv(files_js, UPLOADS_BUCKET, settings)
        admissions = KvFileAdmissions(await ensure_kv(files_js, BATCH_FILES_BUCKET, settings))
        ledger = KvUploadLedger(uploads_kv, files)
        assert await ledger.create(upload_record(batch_id, upload))

        await EventPublisher(els_js, "essay_lifecycle").publish(
            events_pb2.EssayUploadsErased(
                metadata=new_metadata("essay_lifecycle", correlation_id=batch_id),
                batch_id=batch_id,
                uploads=[upload],
            )
        )
        pull = await files_js.pull_subscribe_bind(file_service.DURABLE, EVENTS_STREAM)
        announced = None
        while announced is None:
            [msg] = await pull.fetch(batch=1, timeout=5)
            await msg.ack()
            if (msg.headers or {}).get(HEADER_TYPE) == "huleedu.events.v1.EssayUploadsErased":
                announced = events_pb2.EssayUploadsErased.FromString(msg.data)
        await pull.unsubscribe()
        eraser = UploadEraser(files_js, uploads_kv, admissions)
        uploads = [(u.content_sha256, u.file_upload_id) for u in announced.uploads]
        assert await eraser.forget(announced.batch_id, uploads) == 1  # deleted with erase
        assert await ledger.get(batch_id, sha256) is None
    finally:
        await els.drain()
        await files.drain()


def upload_record(batch_id: str, upload: events_pb2.EssayUploadsErased.Upload) -> UploadRecord:
    return UploadRecord(
        batch_id=batch_id,
        correlation_id=batch_id,
        file_upload_id=upload.file_upload_id,
        event_id=str(uuid.uuid4()),
        file_name="essay.txt",
        content_sha256=upload.content_sha256,
        content_md5="0" * 32,
        file_size_bytes=1,
        raw_storage_id=upload.content_sha256,
        detected_format="txt",
        published=True,
    )
