"""Erasure, end to end (issue 17): the five services in this process with authentication on, a
batch whose essay holds a unique canary sentence spell-checked, then erased. The proof: before
the erasure the canary is in the nats-server's store files; after DeleteBatch, every file under
the store directory is scanned and none holds it (JetStream's message delete overwrites the
bytes). Also: who may erase, DeleteEssay, what an erased batch answers, and retention."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from grpc import StatusCode as Code
from nats.aio.client import Client
from nats.js import JetStreamContext

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
from services.mesh.auth import mint_token
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
    world: World, texts: list[str], *, tenant: str = "school-a", subject: str = "anna"
) -> tuple[str, list[essay_pb.Essay]]:
    """A batch of `texts` registered and uploaded by the teacher, spell-checked to the end."""
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
                        batch_id=batch_id, file_name=f"essay-{n}.txt", content=text.encode()
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


async def test_a_deleted_batch_leaves_no_byte_of_its_essays_in_any_store_file(
    world: World, nats_server: NatsServer, nats_js: NatsJs
) -> None:
    sentence, needle = canary()
    batch_id, essays = await checked_batch(world, [ESSAY.format(canary=sentence), OTHER])
    assert all(essay.corrected_text_storage_id for essay in essays)
    assert store_files_holding([nats_server.store_dir], needle)  # stored: the scan does find it
    assert store_files_holding([nats_server.store_dir], sentence.encode())

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


async def test_the_erasure_event_carries_ids_only(world: World, nats_js: NatsJs) -> None:
    js = nats_js[1]
    info = await js.stream_info(EVENTS_STREAM)
    erasures = []
    for seq in range(info.state.first_seq, info.state.last_seq + 1):
        message = await js.get_msg(EVENTS_STREAM, seq=seq)
        if message.subject == "huleedu.bos.batch_erasure_requested.v1":
            erasures.append(events_pb2.BatchErasureRequested.FromString(message.data or b""))
    assert erasures
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
