"""The audit log on a real nats-server with the real services in this process: a batch uploaded
and spell-checked, a text read the way `huleedu text` reads it, then `huleedu audit` shows every
write and read with who did it; a redelivered request adds true records, never contradictory
ones; a record published twice is stored once; no record holds essay text."""

from __future__ import annotations

import argparse
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import KeyNotFoundError

from huleedu.audit.v1 import audit_pb2
from huleedu.batch.v1 import batch_service_pb2
from huleedu.common.v1 import common_pb2
from huleedu.essay.v1 import essay_service_pb2
from huleedu.file.v1 import file_service_pb2
from services.cli import stream_commands
from services.cli.audit_view import AuditEntry, audit_trail
from services.cli.endpoints import Endpoint, Endpoints
from services.cli.mesh_client import MeshClient
from services.cli.retry import RetryHorizon
from services.cli.stream_view import close_quietly, connect
from services.file_service.adapters.batch_registry import BATCHES_BUCKET as FILE_BATCHES_BUCKET
from services.file_service.adapters.kv_keys import batch_key
from services.mesh.audit import READ, WRITTEN, AuditLog, audit_record
from services.mesh.auth import LOCAL_CALLER
from services.mesh.publisher import EventPublisher
from services.mesh.settings import NatsSettings
from services.mesh.streams import AUDIT_STREAM
from services.spell_checker.bootstrap import PROGRAM as SPELL_CHECKER
from tests.integration.test_hostile_grpc_support import Mesh, running_mesh
from tests.integration.test_spell_checker_support import spell_checker_settings, spellcheck_request
from tests.support import wait_until

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "essays"
FILES = ("amira_hassan_phones.txt", "daniel_kim_video_games.html", "elin_svensson_summer_job.md")
CONTENT = "/huleedu.content.v1.ContentService/"
NatsJs = tuple[Client, JetStreamContext]


@dataclass
class Stack:
    mesh: Mesh
    nats_url: str


@pytest.fixture(scope="module")
async def stack(
    nats_settings: NatsSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    async with running_mesh(nats_settings) as mesh:
        checker = await SPELL_CHECKER.start(
            spell_checker_settings(
                nats_settings, mesh.content.port, tmp_path_factory.mktemp("spell-index")
            )
        )
        try:
            yield Stack(mesh, nats_settings.url)
        finally:
            await checker.stop()


def _client(stack: Stack) -> MeshClient:
    def endpoint(title: str, port: int) -> Endpoint:
        return Endpoint(title, f"{title.upper()}_ADDR", f"127.0.0.1:{port}")

    mesh = stack.mesh
    endpoints = Endpoints(
        content=endpoint("content", mesh.content.port),
        file=endpoint("file", mesh.files.port),
        batch=endpoint("batch", mesh.bos.port),
        essay=endpoint("essay", mesh.els.port),
        nats_url=stack.nats_url,
    )
    return MeshClient(endpoints, retries=RetryHorizon(10.0, lambda _text: None))


async def _spellchecked_batch(stack: Stack) -> tuple[str, list[essay_service_pb2.Essay]]:
    """A batch of three example essays, uploaded in one UploadFiles call and spell-checked."""
    registered = await stack.mesh.batch_stub.RegisterBatch(
        batch_service_pb2.RegisterBatchRequest(
            expected_essay_count=len(FILES),
            course_code="ENG5",
            language="en",
            readiness=common_pb2.ReadinessConfig(timeout_seconds=600, partial_batch_threshold=1.0),
        )
    )
    batch_id = registered.batch_id

    async def files() -> AsyncIterator[file_service_pb2.UploadFilesRequest]:
        for name in FILES:
            content = (EXAMPLES / name).read_bytes()
            yield file_service_pb2.UploadFilesRequest(
                batch_id=batch_id, file_name=name, content=content
            )

    # The File Service's wait for a registration is short here: upload once it has this one, so
    # that the one upload call is the one record of it.
    nc = await nats.connect(stack.nats_url)
    try:
        registrations = await nc.jetstream().key_value(FILE_BATCHES_BUCKET)

        async def registered_with_the_file_service() -> bool:
            try:
                return bool(await registrations.get(batch_key(batch_id)))
            except KeyNotFoundError:
                return False

        await wait_until(registered_with_the_file_service, timeout_s=30, message="registration")
    finally:
        await nc.close()
    await stack.mesh.file_stub.UploadFiles(files())
    async with _client(stack) as client:

        async def checked() -> list[essay_service_pb2.Essay] | None:
            essays = await client.list_batch_essays(batch_id)
            done = all(e.status == common_pb2.ESSAY_STATUS_SPELLCHECKED_SUCCESS for e in essays)
            return essays if done else None

        essays = await wait_until(checked, timeout_s=60, message="the batch spell-checked")
    return batch_id, essays


async def _trail(
    stack: Stack, batch_id: str, essays: list[essay_service_pb2.Essay], tenant: str = ""
) -> list[AuditEntry]:
    client, reads = await connect(stack.nats_url, RetryHorizon(10.0, lambda _text: None))
    try:
        entries, _ = await audit_trail(reads, tenant, batch_id, essays)
    finally:
        await close_quietly(client)
    return entries


def _ids(entries: list[AuditEntry], action: int, method: str = CONTENT) -> set[str]:
    """The storage ids the batch's records of `action` by methods starting `method` name."""
    return {
        storage_id
        for e in entries
        if e.record.action == action and e.record.method.startswith(method)
        for storage_id in e.named
    }


async def test_audit_shows_every_write_and_read_of_the_batch_with_who_did_it(
    stack: Stack, capsys: pytest.CaptureFixture[str]
) -> None:
    batch_id, essays = await _spellchecked_batch(stack)
    corrected_essay = next(e for e in essays if e.corrected_text_storage_id != e.text_storage_id)
    read_by_cli = corrected_essay.corrected_text_storage_id
    async with _client(stack) as client:  # `huleedu text` reads this way
        await client.get_content(read_by_cli)

    entries = await _trail(stack, batch_id, essays)

    times = [e.record.time.ToNanoseconds() for e in entries]
    assert times == sorted(times)
    assert all(e.record.outcome == "OK" for e in entries)
    # Without authentication every caller is the local one: one tenant, subject "local".
    assert {(e.record.subject, e.record.role, e.record.tenant) for e in entries} == {
        ("local", "admin", "")
    }
    (upload,) = [e for e in entries if e.record.service == "file_service"]
    assert upload.record.method == "/huleedu.file.v1.FileService/UploadFiles"
    assert upload.record.action == WRITTEN and upload.record.batch_id == batch_id
    assert set(upload.record.file_upload_ids) == {e.file_upload_id for e in essays}
    raw = {e.raw_storage_id for e in essays}
    text = {e.text_storage_id for e in essays}
    corrected = {e.corrected_text_storage_id for e in essays}
    details = {e.spellcheck_details_storage_id for e in essays} - {""}
    assert set(upload.record.storage_ids) == raw | text
    # The Content Service's own records: the File Service's write, the Spell Checker's read and
    # write (grouped or one by one), the CLI's read.
    assert raw | text <= _ids(entries, WRITTEN, f"{CONTENT}BatchPutContent")
    assert corrected <= _ids(entries, WRITTEN)
    assert details and details <= _ids(entries, WRITTEN)  # the corrections and unknown words
    assert text <= _ids(entries, READ)
    assert read_by_cli in _ids(entries, READ, f"{CONTENT}GetContent")

    args = argparse.Namespace(
        batch_id=batch_id,
        tenant=None,  # as argparse leaves it: the token's tenant, else the local one
        json=True,
        content_service_addr=f"127.0.0.1:{stack.mesh.content.port}",
        file_service_addr=f"127.0.0.1:{stack.mesh.files.port}",
        batch_orchestrator_addr=f"127.0.0.1:{stack.mesh.bos.port}",
        essay_lifecycle_addr=f"127.0.0.1:{stack.mesh.els.port}",
        nats_url=stack.nats_url,
        retry_horizon=10.0,
    )
    assert await stream_commands.COMMANDS["audit"](args) == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [row["record_id"] for row in printed] == [e.record.record_id for e in entries]
    assert printed[-1]["method"] == f"{CONTENT}GetContent"
    assert printed[-1]["content"] == [
        {"storage_id": read_by_cli, "essay_id": corrected_essay.essay_id, "form": "corrected"}
    ]

    # Another tenant sees none of it.
    assert await _trail(stack, batch_id, essays, tenant="another-school") == []


async def test_a_redelivered_request_adds_true_records_only(stack: Stack, nats_js: NatsJs) -> None:
    batch_id, essays = await _spellchecked_batch(stack)
    before = await _trail(stack, batch_id, essays)
    essay = essays[0]
    # As ELS sends it again when its first delivery's answer was lost.
    publisher = EventPublisher(nats_js[1], "essay_lifecycle")
    await publisher.publish(
        spellcheck_request(batch_id, essay.text_storage_id, essay_id=essay.essay_id)
    )

    async def read_again() -> list[AuditEntry] | None:
        entries = await _trail(stack, batch_id, essays)
        reads = [e for e in entries if e.record.action == READ and essay.text_storage_id in e.named]
        return entries if len(reads) > 1 else None

    after = await wait_until(read_again, timeout_s=30, message="the essay read again")
    assert {e.record.record_id for e in before} <= {e.record.record_id for e in after}
    new = [e for e in after if e.record.record_id not in {b.record.record_id for b in before}]
    # The same read and the same writes again (content is addressed by its bytes), all true.
    assert all(e.record.outcome == "OK" for e in new)
    written = {sid for e in new if e.record.action == WRITTEN for sid in e.named}
    assert written <= {essay.corrected_text_storage_id, essay.spellcheck_details_storage_id}


async def test_a_record_published_twice_is_stored_once(nats_js: NatsJs, stack: Stack) -> None:
    js = nats_js[1]
    log = AuditLog(js, "test")
    record = audit_record(LOCAL_CALLER, READ, service="test", method="/t", storage_ids=["x"])
    before = (await js.stream_info(AUDIT_STREAM)).state.last_seq
    await log.publish(record)
    await log.publish(record)
    assert (await js.stream_info(AUDIT_STREAM)).state.last_seq == before + 1


async def test_no_record_holds_essay_text(stack: Stack, nats_js: NatsJs) -> None:
    await _spellchecked_batch(stack)
    js = nats_js[1]
    texts = [(EXAMPLES / name).read_bytes() for name in FILES]
    windows = {text[i : i + 24] for text in texts for i in range(0, len(text) - 24, 12)}
    info = await js.stream_info(AUDIT_STREAM)
    payloads = [
        (await js.get_msg(AUDIT_STREAM, seq=seq)).data or b""
        for seq in range(info.state.first_seq, info.state.last_seq + 1)
    ]
    assert payloads
    for payload in payloads:
        audit_pb2.AuditRecord.FromString(payload)
        assert not any(window in payload for window in windows)
