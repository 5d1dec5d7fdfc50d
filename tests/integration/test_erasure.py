"""Erasure, end to end (issue 17): the five services in this process with authentication on, a
batch whose essay holds a unique canary sentence spell-checked, then erased. The proof: before
the erasure the canary is in the nats-server's store files; after DeleteBatch, every file under
the store directory is scanned and none holds it (JetStream's message delete overwrites the
bytes). Also: who may erase, DeleteEssay (and the File Service's record of the erased essay's
upload, erased from its KV streams too, so the same file is taken again), what an erased batch
answers, and retention."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

import pytest
from grpc import StatusCode as Code
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import KeyDeletedError, KeyNotFoundError

from devstack.nats_server import NatsServer
from huleedu.batch.v1 import batch_service_pb2 as batch_pb
from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2 as content_pb
from huleedu.essay.v1 import essay_service_pb2 as essay_pb
from huleedu.events.v1 import events_pb2
from huleedu.file.v1 import file_service_pb2 as file_pb
from huleedu.internal.els.v1 import essay_state_pb2
from services.batch_orchestrator.bootstrap import PROGRAM as BOS
from services.batch_orchestrator.domain.registration import RegistrationPolicy
from services.batch_orchestrator.settings import BosSettings
from services.essay_lifecycle.adapters.kv_store import BATCHES_BUCKET
from services.file_service.adapters.upload_ledger import UPLOADS_BUCKET, decode_record, record_key
from services.file_service.bootstrap import DURABLE as FILE_SERVICE_DURABLE
from services.mesh import subjects
from services.mesh.auth import mint_token
from services.mesh.publisher import HEADER_MSG_ID, event_headers
from services.mesh.settings import NatsSettings
from services.mesh.streams import EVENTS_STREAM
from services.spell_checker.bootstrap import PROGRAM as SPELL_CHECKER
from tests.integration.test_hostile_grpc_support import Mesh, running_mesh, status_of
from tests.integration.test_spell_checker_support import spell_checker_settings
from tests.support import authentication_on, store_files_holding, wait_until

NatsJs = tuple[Client, JetStreamContext]
S = common_pb2.EssayStatus
ESSAY = (
    "My favourite season is autumn because the forest turns red and gold. Every weekend my "
    "family walks along the river and we collect chestnuts. {canary} Later we cook soup "
    "together and talk about the week, and I recieve a cup of hot chocolate."
)
OTHER = (
    "Football is the sport I like most, and I play it with my friends every Tuesday after "
    "school. Our coach says that practice is more important than talent, and I beleive him."
)


def canary() -> tuple[str, bytes]:
    """A sentence no other test writes, with a misspelling and a word no dictionary knows, so
    that the corrected text and the spell-check details hold parts of it too."""
    tag = uuid.uuid4().hex[:10]
    sentence = f"Canary {tag} flew over Zyxwqorth mountain whith seven silver kites."
    return sentence, f"Canary {tag}".encode()


@dataclass
class World:
    mesh: Mesh
    keys: Path
    nats: NatsSettings

    def token(self, tenant: str, subject: str, role: str = "teacher") -> list[tuple[str, str]]:
        minted = mint_token(self.keys / "issuer.pem", tenant=tenant, subject=subject, role=role)
        return [("authorization", f"Bearer {minted}")]


@pytest.fixture(scope="module")
async def world(
    nats_settings: NatsSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    keys = tmp_path_factory.mktemp("auth")
    with authentication_on(keys):
        async with running_mesh(nats_settings) as mesh:
            checker = await SPELL_CHECKER.start(
                spell_checker_settings(
                    nats_settings, mesh.content.port, tmp_path_factory.mktemp("spell-index")
                )
            )
            try:
                yield World(mesh, keys, nats_settings)
            finally:
                await checker.stop()


async def checked_batch(
    world: World,
    texts: list[str],
    *,
    tenant: str = "school-a",
    subject: str = "anna",
    names: list[str] | None = None,
) -> tuple[str, list[essay_pb.Essay]]:
    """A batch of `texts` (uploaded as `names`, default essay-<n>.txt) registered and uploaded
    by the teacher, spell-checked to the end."""
    file_names = names or [f"essay-{n}.txt" for n in range(len(texts))]
    teacher = world.token(tenant, subject)
    registered = await world.mesh.batch_stub.RegisterBatch(
        batch_pb.RegisterBatchRequest(
            expected_essay_count=len(texts), course_code="ENG5", language="en"
        ),
        metadata=teacher,
    )
    batch_id = registered.batch_id

    async def uploaded() -> bool:
        for n, text in enumerate(texts):
            code, _ = await status_of(
                world.mesh.file_stub.UploadFile(
                    file_pb.UploadFileRequest(
                        batch_id=batch_id, file_name=file_names[n], content=text.encode()
                    ),
                    metadata=teacher,
                )
            )
            if code != Code.OK:
                return False  # NOT_FOUND until the File Service has the registration
        return True

    await wait_until(uploaded, timeout_s=30, message="the uploads")

    async def done() -> list[essay_pb.Essay] | None:
        batch = await world.mesh.batch_stub.GetBatch(
            batch_pb.GetBatchRequest(batch_id=batch_id), metadata=teacher
        )
        if batch.batch.status != common_pb2.BATCH_STATUS_COMPLETED:
            return None
        listed = await world.mesh.essay_stub.ListBatchEssays(
            essay_pb.ListBatchEssaysRequest(batch_id=batch_id), metadata=teacher
        )
        return list(listed.essays)

    return batch_id, await wait_until(done, timeout_s=60, message="the batch spell-checked")


async def erased_in_els(js: JetStreamContext, batch_id: str) -> bool:
    """True once ELS holds only the batch's tombstone, nothing pending."""
    kv = await js.key_value(BATCHES_BUCKET)
    entry = await kv.get(batch_id)
    tracker = essay_state_pb2.BatchTracker.FromString(entry.value or b"")
    return tracker.erased and not tracker.pending_erasure


def file_service_kv_streams(store_dir: Path) -> list[Path]:
    """The store directories of the File Service's KV buckets' streams. Only these are scanned
    for a file name: events carry file names until their retention ends."""
    return [path for path in store_dir.rglob("KV_file_service_*") if path.is_dir()]


async def test_a_deleted_batch_leaves_no_byte_of_its_essays_in_any_store_file(
    world: World, nats_server: NatsServer, nats_js: NatsJs
) -> None:
    sentence, needle = canary()
    file_name = f"canary-{uuid.uuid4().hex}.txt"
    batch_id, essays = await checked_batch(
        world, [ESSAY.format(canary=sentence), OTHER], names=[file_name, "other.txt"]
    )
    assert all(essay.corrected_text_storage_id for essay in essays)
    assert store_files_holding([nats_server.store_dir], needle)  # stored: the scan does find it
    assert store_files_holding([nats_server.store_dir], sentence.encode())
    file_service = file_service_kv_streams(nats_server.store_dir)
    assert store_files_holding(file_service, file_name.encode())

    reply = await world.mesh.batch_stub.DeleteBatch(
        batch_pb.DeleteBatchRequest(batch_id=batch_id), metadata=world.token("school-a", "anna")
    )
    assert (reply.batch_id, reply.essay_count) == (batch_id, 2)
    await wait_until(
        lambda: erased_in_els(nats_js[1], batch_id), timeout_s=30, message="ELS erased the batch"
    )

    assert store_files_holding([nats_server.store_dir], needle) == []
    assert store_files_holding([nats_server.store_dir], sentence.encode()) == []
    assert store_files_holding([nats_server.store_dir], b"whith seven silver kites") == []
    await wait_until(
        lambda: not store_files_holding(file_service, file_name.encode()),
        timeout_s=30,
        message="the File Service's records erased",
    )
    for text in (ESSAY.format(canary=sentence), OTHER):
        assert await record_of(nats_js[1], batch_id, text) is None


async def test_an_erased_batch_answers_as_missing_and_its_contents_are_gone(
    world: World, nats_js: NatsJs
) -> None:
    batch_id, essays = await checked_batch(world, [OTHER])
    anna = world.token("school-a", "anna")
    await world.mesh.batch_stub.DeleteBatch(
        batch_pb.DeleteBatchRequest(batch_id=batch_id), metadata=anna
    )
    await wait_until(lambda: erased_in_els(nats_js[1], batch_id), timeout_s=30, message="erased")
    for call in (
        world.mesh.batch_stub.GetBatch(batch_pb.GetBatchRequest(batch_id=batch_id), metadata=anna),
        world.mesh.batch_stub.DeleteBatch(
            batch_pb.DeleteBatchRequest(batch_id=batch_id), metadata=anna
        ),
        world.mesh.essay_stub.ListBatchEssays(
            essay_pb.ListBatchEssaysRequest(batch_id=batch_id), metadata=anna
        ),
        world.mesh.content_stub.GetContent(
            content_pb.GetContentRequest(storage_id=essays[0].text_storage_id), metadata=anna
        ),
        world.mesh.content_stub.GetContent(
            content_pb.GetContentRequest(storage_id=essays[0].corrected_text_storage_id),
            metadata=anna,
        ),
    ):
        code, details = await status_of(call)
        assert code == Code.NOT_FOUND, details
    listed = await world.mesh.batch_stub.ListBatches(batch_pb.ListBatchesRequest(), metadata=anna)
    assert batch_id not in {batch.batch_id for batch in listed.batches}
    code, _ = await status_of(
        world.mesh.file_stub.UploadFile(
            file_pb.UploadFileRequest(batch_id=batch_id, file_name="x.txt", content=b"late"),
            metadata=anna,
        )
    )
    assert code == Code.NOT_FOUND


async def test_only_the_creator_or_an_admin_of_the_tenant_may_erase(world: World) -> None:
    batch_id, _ = await checked_batch(world, [OTHER])
    request = batch_pb.DeleteBatchRequest(batch_id=batch_id)
    code, details = await status_of(
        world.mesh.batch_stub.DeleteBatch(request, metadata=world.token("school-a", "bertil"))
    )
    assert code == Code.PERMISSION_DENIED and "anna" in details
    code, _ = await status_of(
        world.mesh.batch_stub.DeleteBatch(request, metadata=world.token("school-b", "anna"))
    )
    assert code == Code.NOT_FOUND  # another school: as if it did not exist
    admin = world.token("school-a", "carin", role="admin")
    reply = await world.mesh.batch_stub.DeleteBatch(request, metadata=admin)
    assert reply.batch_id == batch_id


async def test_a_deleted_essay_is_erased_and_its_neighbour_kept(
    world: World, nats_server: NatsServer
) -> None:
    sentence, needle = canary()
    batch_id, essays = await checked_batch(world, [ESSAY.format(canary=sentence), OTHER])
    anna = world.token("school-a", "anna")
    doomed = next(e for e in essays if e.original_file_name == "essay-0.txt")
    kept = next(e for e in essays if e.original_file_name == "essay-1.txt")

    await world.mesh.batch_stub.DeleteEssay(
        batch_pb.DeleteEssayRequest(batch_id=batch_id, essay_id=doomed.essay_id), metadata=anna
    )

    async def erased() -> essay_pb.Essay | None:
        reply = await world.mesh.essay_stub.GetEssay(
            essay_pb.GetEssayRequest(essay_id=doomed.essay_id), metadata=anna
        )
        return reply.essay if reply.essay.status == S.ESSAY_STATUS_ERASED else None

    blank = await wait_until(erased, timeout_s=30, message="the essay erased")
    assert not (blank.text_storage_id or blank.original_file_name or blank.corrections)
    batch = (
        await world.mesh.batch_stub.GetBatch(
            batch_pb.GetBatchRequest(batch_id=batch_id), metadata=anna
        )
    ).batch
    assert list(batch.erased_essay_ids) == [doomed.essay_id]
    named = {r.essay_id: r.original_file_name for r in batch.ready_essays}
    assert named == {doomed.essay_id: "", kept.essay_id: "essay-1.txt"}
    await wait_until(
        lambda: not store_files_holding([nats_server.store_dir], needle),
        timeout_s=30,
        message="bytes erased",
    )
    assert store_files_holding([nats_server.store_dir], sentence.encode()) == []
    survivor = await world.mesh.content_stub.GetContent(
        content_pb.GetContentRequest(storage_id=kept.corrected_text_storage_id), metadata=anna
    )
    assert b"Football" in survivor.content
    code, _ = await status_of(
        world.mesh.batch_stub.DeleteEssay(
            batch_pb.DeleteEssayRequest(batch_id=batch_id, essay_id=str(uuid.uuid4())),
            metadata=anna,
        )
    )
    assert code == Code.NOT_FOUND


async def record_of(js: JetStreamContext, batch_id: str, text: str) -> tuple[int, bytes] | None:
    """The revision and value of the File Service's upload record of `text` in the batch."""
    records = await js.key_value(UPLOADS_BUCKET)
    key = record_key(batch_id, hashlib.sha256(text.encode()).hexdigest())
    try:
        entry = await records.get(key)
    except (KeyNotFoundError, KeyDeletedError):
        return None
    return (entry.revision or 0, entry.value or b"") if entry.value else None


async def handled_by_file_service(js: JetStreamContext, stream_seq: int) -> bool:
    """True once the File Service's durable has acknowledged everything up to `stream_seq`."""
    info = await js.consumer_info(EVENTS_STREAM, FILE_SERVICE_DURABLE)
    return info.ack_floor.stream_seq >= stream_seq


async def test_a_deleted_essays_upload_is_erased_and_its_file_taken_again(
    world: World, nats_server: NatsServer, nats_js: NatsJs
) -> None:
    js = nats_js[1]
    tag = uuid.uuid4().hex
    doomed_name, kept_name = f"canary-{tag}-doomed.txt", f"canary-{tag}-kept.txt"
    doomed_text, kept_text = ESSAY.format(canary=canary()[0]), OTHER
    batch_id, essays = await checked_batch(
        world, [doomed_text, kept_text], names=[doomed_name, kept_name]
    )
    anna = world.token("school-a", "anna")
    doomed = next(e for e in essays if e.original_file_name == doomed_name)
    stored = await record_of(js, batch_id, doomed_text)
    assert stored is not None
    original = decode_record(stored[1])
    file_service = file_service_kv_streams(nats_server.store_dir)
    assert store_files_holding(file_service, doomed_name.encode())  # the scan finds it before

    await world.mesh.batch_stub.DeleteEssay(
        batch_pb.DeleteEssayRequest(batch_id=batch_id, essay_id=doomed.essay_id), metadata=anna
    )
    await wait_until(
        lambda: _is_none(record_of(js, batch_id, doomed_text)),
        timeout_s=30,
        message="the upload record erased",
    )
    # (a) neither the name nor the record is left in the File Service's KV store files ...
    assert store_files_holding(file_service, doomed_name.encode()) == []
    assert store_files_holding(file_service, original.file_upload_id.encode()) == []
    assert store_files_holding(file_service, original.event_id.encode()) == []
    # ... and the neighbour's record stays
    neighbour = await record_of(js, batch_id, kept_text)
    assert neighbour is not None and decode_record(neighbour[1]).file_name == kept_name
    assert store_files_holding(file_service, kept_name.encode())

    # (b) the same file is taken again: a new upload, with new ids
    again = await world.mesh.file_stub.UploadFile(
        file_pb.UploadFileRequest(
            batch_id=batch_id, file_name=doomed_name, content=doomed_text.encode()
        ),
        metadata=anna,
    )
    assert again.receipt.status == file_pb.UPLOAD_STATUS_ACCEPTED, again.receipt.detail
    assert again.receipt.file_upload_id != original.file_upload_id

    # (c) the announcement delivered again (stored anew, past JetStream's duplicate check)
    # erases nothing more: the file's new upload and the neighbour stay
    announced = await js.get_msg(
        EVENTS_STREAM, subject=subjects.ESSAY_UPLOADS_ERASED, seq=1, next=True
    )
    while events_pb2.EssayUploadsErased.FromString(announced.data or b"").batch_id != batch_id:
        announced = await js.get_msg(
            EVENTS_STREAM,
            subject=subjects.ESSAY_UPLOADS_ERASED,
            seq=(announced.seq or 0) + 1,
            next=True,
        )
    event = events_pb2.EssayUploadsErased.FromString(announced.data or b"")
    assert [(u.content_sha256, u.file_upload_id) for u in event.uploads] == [
        (original.content_sha256, original.file_upload_id)
    ]
    headers = {**event_headers(event), HEADER_MSG_ID: str(uuid.uuid4())}
    ack = await js.publish(subjects.ESSAY_UPLOADS_ERASED, announced.data or b"", headers=headers)
    await wait_until(
        lambda: handled_by_file_service(js, ack.seq), timeout_s=30, message="redelivery handled"
    )
    taken_again = await record_of(js, batch_id, doomed_text)
    assert taken_again is not None
    assert decode_record(taken_again[1]).file_upload_id == again.receipt.file_upload_id
    assert await record_of(js, batch_id, kept_text) == neighbour


async def _is_none(value: Awaitable[object]) -> bool:
    return await value is None


async def test_the_erasure_event_carries_ids_only(world: World, nats_js: NatsJs) -> None:
    js = nats_js[1]
    info = await js.stream_info(EVENTS_STREAM)
    erasures = []
    announcements = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(EVENTS_STREAM, seq=seq)
        if message.subject == "huleedu.bos.batch_erasure_requested.v1":
            erasures.append(events_pb2.BatchErasureRequested.FromString(message.data or b""))
        if message.subject == subjects.ESSAY_UPLOADS_ERASED:
            announcements.append(events_pb2.EssayUploadsErased.FromString(message.data or b""))
    assert erasures and announcements
    for announcement in announcements:
        assert set(announcement.DESCRIPTOR.fields_by_name) == {"metadata", "batch_id", "uploads"}
        for upload in announcement.uploads:
            assert set(upload.DESCRIPTOR.fields_by_name) == {"content_sha256", "file_upload_id"}
    for event in erasures:
        assert set(event.DESCRIPTOR.fields_by_name) == {
            "metadata",
            "batch_id",
            "tenant_id",
            "essay_ids",
        }
        assert event.tenant_id == "school-a"


async def test_batches_past_their_retention_are_erased_by_bos(
    world: World, nats_js: NatsJs
) -> None:
    batch_id, _ = await checked_batch(world, [OTHER])
    settings = BosSettings(
        addr="127.0.0.1:0",
        nats=world.nats,
        policy=RegistrationPolicy(),
        retention_days=1 / 86400,  # one second
        retention_check_s=0.2,
    )
    keeper = await BOS.start(settings)
    try:
        await wait_until(
            lambda: erased_in_els(nats_js[1], batch_id), timeout_s=30, message="retention"
        )
    finally:
        await keeper.stop()
    code, _ = await status_of(
        world.mesh.batch_stub.GetBatch(
            batch_pb.GetBatchRequest(batch_id=batch_id), metadata=world.token("school-a", "anna")
        )
    )
    assert code == Code.NOT_FOUND
