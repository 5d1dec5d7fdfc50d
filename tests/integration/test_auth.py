"""Bearer tokens on every public RPC, and tenants (issue 17): BOS, ELS, the Content and the File
Service in this process with AUTH_JWKS_FILE and AUTH_SERVICE_KEY set, called with real JWTs.

Every RPC × {no token, expired, bad signature, wrong audience, another tenant, the right
tenant}: the first four end UNAUTHENTICATED with a reason; another tenant's ids answer NOT_FOUND
exactly as missing ones do (EraseContent, for an admin: the answer a missing id gets, and
school-a's content stays);
the right tenant gets its data, or erases what it owns."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from grpc import StatusCode as Code
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from huleedu.audit.v1 import audit_pb2
from huleedu.batch.v1 import batch_service_pb2 as batch_pb
from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2 as content_pb
from huleedu.essay.v1 import essay_service_pb2 as essay_pb
from huleedu.file.v1 import file_service_pb2 as file_pb
from services.mesh.auth import create_dev_keys, mint_token
from services.mesh.settings import NatsSettings
from services.mesh.streams import AUDIT_STREAM
from tests.integration.test_hostile_grpc_support import Mesh, running_mesh, status_of
from tests.support import authentication_on, wait_until

ESSAY = sorted((Path(__file__).parents[2] / "examples" / "essays").glob("*.txt"))[0].read_bytes()


@dataclass
class Tokens:
    """Tokens for every case, and the keys that made them."""

    keys: Path
    tenant_a: str
    tenant_b: str
    expired: str
    bad_signature: str
    wrong_audience: str


def _tokens(keys: Path) -> Tokens:
    issuer = keys / "issuer.pem"
    stranger = keys / "stranger.pem"
    stranger.write_bytes(
        ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return Tokens(
        keys=keys,
        tenant_a=mint_token(issuer, tenant="school-a", subject="anna"),
        tenant_b=mint_token(issuer, tenant="school-b", subject="bertil"),
        expired=mint_token(issuer, tenant="school-a", subject="anna", ttl_s=-3600),
        # Signed by a key the issuer does not publish, under the issuer's key id.
        bad_signature=mint_token(stranger, tenant="school-a", subject="anna"),
        wrong_audience=mint_token(issuer, tenant="school-a", subject="anna", audience="other"),
    )


@dataclass
class World:
    """The running services, the tokens, and what school-a owns."""

    mesh: Mesh
    tokens: Tokens
    batch_id: str
    essay_id: str
    text_storage_id: str


def _bearer(token: str | None) -> list[tuple[str, str]] | None:
    return None if token is None else [("authorization", f"Bearer {token}")]


async def _register(mesh: Mesh, token: str) -> batch_pb.RegisterBatchResponse:
    reply: batch_pb.RegisterBatchResponse = await mesh.batch_stub.RegisterBatch(
        batch_pb.RegisterBatchRequest(expected_essay_count=1, course_code="ENG5", language="en"),
        metadata=_bearer(token),
    )
    return reply


@pytest.fixture(scope="module")
async def world(
    nats_settings: NatsSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[World]:
    keys = tmp_path_factory.mktemp("auth")
    with authentication_on(keys):
        tokens = _tokens(keys)
        async with running_mesh(nats_settings) as mesh:
            registered = await _register(mesh, tokens.tenant_a)

            async def uploaded() -> bool:
                code, _ = await status_of(
                    mesh.file_stub.UploadFile(
                        file_pb.UploadFileRequest(
                            batch_id=registered.batch_id, file_name="sea.txt", content=ESSAY
                        ),
                        metadata=_bearer(tokens.tenant_a),
                    )
                )
                return code == Code.OK  # NOT_FOUND until the File Service has the registration

            await wait_until(uploaded, timeout_s=30, message="the upload to school-a's batch")
            essay = await wait_until(
                lambda: _essay_text(mesh, tokens, registered),
                timeout_s=30,
                message="the essay's text in ELS",
            )
            yield World(mesh, tokens, registered.batch_id, essay.essay_id, essay.text_storage_id)


async def _essay_text(
    mesh: Mesh, tokens: Tokens, registered: batch_pb.RegisterBatchResponse
) -> essay_pb.Essay | None:
    code, _ = await status_of(
        mesh.essay_stub.ListBatchEssays(
            essay_pb.ListBatchEssaysRequest(batch_id=registered.batch_id),
            metadata=_bearer(tokens.tenant_a),
        )
    )
    if code != Code.OK:
        return None
    reply = await mesh.essay_stub.ListBatchEssays(
        essay_pb.ListBatchEssaysRequest(batch_id=registered.batch_id),
        metadata=_bearer(tokens.tenant_a),
    )
    essay = reply.essays[0]
    return essay if essay.text_storage_id else None


Call = Callable[[World, list[tuple[str, str]] | None], Awaitable[object]]


async def _watch(world: World, metadata: list[tuple[str, str]] | None) -> object:
    call = world.mesh.batch_stub.WatchBatch(
        batch_pb.WatchBatchRequest(batch_id=world.batch_id), metadata=metadata
    )
    async for update in call:
        return update
    return None


async def _upload_files(world: World, metadata: list[tuple[str, str]] | None) -> object:
    async def requests() -> AsyncIterator[file_pb.UploadFilesRequest]:
        yield file_pb.UploadFilesRequest(
            batch_id=world.batch_id, file_name="sea.txt", content=ESSAY
        )

    return await world.mesh.file_stub.UploadFiles(requests(), metadata=metadata)


# Every RPC that reads or writes a batch, an essay or content, on school-a's ids.
READS: dict[str, Call] = {
    "GetBatch": lambda w, m: w.mesh.batch_stub.GetBatch(
        batch_pb.GetBatchRequest(batch_id=w.batch_id), metadata=m
    ),
    "WatchBatch": _watch,
    "UploadFile": lambda w, m: w.mesh.file_stub.UploadFile(
        file_pb.UploadFileRequest(batch_id=w.batch_id, file_name="sea.txt", content=ESSAY),
        metadata=m,
    ),
    "UploadFiles": _upload_files,
    "GetEssay": lambda w, m: w.mesh.essay_stub.GetEssay(
        essay_pb.GetEssayRequest(essay_id=w.essay_id), metadata=m
    ),
    "ListBatchEssays": lambda w, m: w.mesh.essay_stub.ListBatchEssays(
        essay_pb.ListBatchEssaysRequest(batch_id=w.batch_id), metadata=m
    ),
    "GetContent": lambda w, m: w.mesh.content_stub.GetContent(
        content_pb.GetContentRequest(storage_id=w.text_storage_id), metadata=m
    ),
    "BatchGetContent": lambda w, m: w.mesh.content_stub.BatchGetContent(
        content_pb.BatchGetContentRequest(storage_ids=[w.text_storage_id]), metadata=m
    ),
}
# RPCs that address nothing of school-a's: they work within the caller's own tenant.
OWN: dict[str, Call] = {
    "RegisterBatch": lambda w, m: w.mesh.batch_stub.RegisterBatch(
        batch_pb.RegisterBatchRequest(expected_essay_count=1, course_code="ENG5", language="en"),
        metadata=m,
    ),
    "ListBatches": lambda w, m: w.mesh.batch_stub.ListBatches(
        batch_pb.ListBatchesRequest(), metadata=m
    ),
    "PutContent": lambda w, m: w.mesh.content_stub.PutContent(
        content_pb.PutContentRequest(content=ESSAY, kind=common_pb2.CONTENT_KIND_RAW_UPLOAD),
        metadata=m,
    ),
    "BatchPutContent": lambda w, m: w.mesh.content_stub.BatchPutContent(
        content_pb.BatchPutContentRequest(
            requests=[
                content_pb.PutContentRequest(content=ESSAY, kind=common_pb2.CONTENT_KIND_RAW_UPLOAD)
            ]
        ),
        metadata=m,
    ),
}
EVERY_RPC = {**READS, **OWN}
# The erasing RPCs, on school-a's ids: refused without a valid token and in another tenant, so
# they leave the module's world alone; the right tenant erases what it made for the test.
ERASING: dict[str, Call] = {
    "DeleteBatch": lambda w, m: w.mesh.batch_stub.DeleteBatch(
        batch_pb.DeleteBatchRequest(batch_id=w.batch_id), metadata=m
    ),
    "DeleteEssay": lambda w, m: w.mesh.batch_stub.DeleteEssay(
        batch_pb.DeleteEssayRequest(batch_id=w.batch_id, essay_id=w.essay_id), metadata=m
    ),
    "EraseContent": lambda w, m: w.mesh.content_stub.EraseContent(
        content_pb.EraseContentRequest(storage_ids=[w.text_storage_id]), metadata=m
    ),
}
BAD_TOKENS = {
    "no token": (lambda t: None, "needs a bearer token"),
    "expired": (lambda t: t.expired, "expired"),
    "bad signature": (lambda t: t.bad_signature, "signature does not verify"),
    "wrong audience": (lambda t: t.wrong_audience, "not for this service"),
}


@pytest.mark.parametrize("rpc", sorted({**EVERY_RPC, **ERASING}))
@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
async def test_a_call_without_a_valid_token_is_unauthenticated(
    world: World, rpc: str, case: str
) -> None:
    token_of, reason = BAD_TOKENS[case]
    call = {**EVERY_RPC, **ERASING}[rpc]
    code, details = await status_of(call(world, _bearer(token_of(world.tokens))))
    assert code == Code.UNAUTHENTICATED, (rpc, case, code, details)
    assert reason in details


@pytest.mark.parametrize("rpc", sorted(READS))
async def test_another_tenant_finds_nothing_exactly_as_for_a_missing_id(
    world: World, rpc: str
) -> None:
    code, details = await status_of(READS[rpc](world, _bearer(world.tokens.tenant_b)))
    assert code == Code.NOT_FOUND, (rpc, code, details)
    assert "school-a" not in details and "anna" not in details


@pytest.mark.parametrize("rpc", sorted(EVERY_RPC))
async def test_the_right_tenant_gets_its_data(world: World, rpc: str) -> None:
    code, details = await status_of(EVERY_RPC[rpc](world, _bearer(world.tokens.tenant_a)))
    assert code == Code.OK, (rpc, code, details)


def _admin(world: World, tenant: str) -> list[tuple[str, str]] | None:
    issuer = world.tokens.keys / "issuer.pem"
    return _bearer(mint_token(issuer, tenant=tenant, subject="root", role="admin"))


async def test_another_tenant_erases_nothing_exactly_as_for_a_missing_id(world: World) -> None:
    b = _bearer(world.tokens.tenant_b)
    for rpc in ("DeleteBatch", "DeleteEssay"):
        code, details = await status_of(ERASING[rpc](world, b))
        assert code == Code.NOT_FOUND, (rpc, code, details)
        assert "school-a" not in details and "anna" not in details
    stub = world.mesh.content_stub
    admin_b = _admin(world, "school-b")
    foreign = await stub.EraseContent(
        content_pb.EraseContentRequest(storage_ids=[world.text_storage_id]), metadata=admin_b
    )
    absent = uuid.uuid4().hex * 2
    missing = await stub.EraseContent(
        content_pb.EraseContentRequest(storage_ids=[absent]), metadata=admin_b
    )
    # Nothing of either id is left in school-b: both read as erased, neither as kept.
    assert (
        list(foreign.erased_storage_ids) == [world.text_storage_id] and not foreign.kept_storage_ids
    )
    assert list(missing.erased_storage_ids) == [absent] and not missing.kept_storage_ids
    code, _ = await status_of(READS["GetContent"](world, _bearer(world.tokens.tenant_a)))
    assert code == Code.OK  # school-a's text is still there


async def test_the_right_tenant_erases_its_own(world: World) -> None:
    a = _bearer(world.tokens.tenant_a)
    registered = await _register(world.mesh, world.tokens.tenant_a)
    stub = world.mesh.batch_stub
    await stub.DeleteEssay(
        batch_pb.DeleteEssayRequest(batch_id=registered.batch_id, essay_id=registered.essay_ids[0]),
        metadata=a,
    )
    await stub.DeleteBatch(batch_pb.DeleteBatchRequest(batch_id=registered.batch_id), metadata=a)
    code, _ = await status_of(
        stub.GetBatch(batch_pb.GetBatchRequest(batch_id=registered.batch_id), metadata=a)
    )
    assert code == Code.NOT_FOUND
    put = await world.mesh.content_stub.PutContent(
        content_pb.PutContentRequest(
            content=f"Erase me {uuid.uuid4()}".encode(), kind=common_pb2.CONTENT_KIND_RAW_UPLOAD
        ),
        metadata=a,
    )
    erased = await world.mesh.content_stub.EraseContent(
        content_pb.EraseContentRequest(storage_ids=[put.storage_id]),
        metadata=_admin(world, "school-a"),
    )
    assert list(erased.erased_storage_ids) == [put.storage_id]


async def test_another_tenants_missing_and_foreign_ids_read_the_same(world: World) -> None:
    stub = world.mesh.batch_stub
    b = _bearer(world.tokens.tenant_b)
    missing = str(uuid.uuid4())
    _, foreign = await status_of(
        stub.GetBatch(batch_pb.GetBatchRequest(batch_id=world.batch_id), metadata=b)
    )
    _, absent = await status_of(
        stub.GetBatch(batch_pb.GetBatchRequest(batch_id=missing), metadata=b)
    )
    assert foreign.replace(world.batch_id, "ID") == absent.replace(missing, "ID")


async def test_batches_belong_to_their_tenant_and_creator(world: World) -> None:
    a, b = _bearer(world.tokens.tenant_a), _bearer(world.tokens.tenant_b)
    theirs = await _register(world.mesh, world.tokens.tenant_b)
    listed_a = await world.mesh.batch_stub.ListBatches(batch_pb.ListBatchesRequest(), metadata=a)
    listed_b = await world.mesh.batch_stub.ListBatches(batch_pb.ListBatchesRequest(), metadata=b)
    assert world.batch_id in {batch.batch_id for batch in listed_a.batches}
    assert theirs.batch_id not in {batch.batch_id for batch in listed_a.batches}
    assert {batch.batch_id for batch in listed_b.batches} >= {theirs.batch_id}
    assert world.batch_id not in {batch.batch_id for batch in listed_b.batches}
    mine = await world.mesh.batch_stub.GetBatch(
        batch_pb.GetBatchRequest(batch_id=world.batch_id), metadata=a
    )
    assert (mine.batch.tenant_id, mine.batch.created_by) == ("school-a", "anna")


async def test_the_same_bytes_in_two_tenants_are_two_copies(world: World) -> None:
    text = b"Both schools hold these very bytes.\n"
    put = content_pb.PutContentRequest(content=text, kind=common_pb2.CONTENT_KIND_RAW_UPLOAD)
    stub = world.mesh.content_stub
    first = await stub.PutContent(put, metadata=_bearer(world.tokens.tenant_a))
    code, _ = await status_of(
        stub.GetContent(
            content_pb.GetContentRequest(storage_id=first.storage_id),
            metadata=_bearer(world.tokens.tenant_b),
        )
    )
    assert code == Code.NOT_FOUND  # knowing the hash is not enough
    second = await stub.PutContent(put, metadata=_bearer(world.tokens.tenant_b))
    assert (second.storage_id, second.already_stored) == (first.storage_id, False)


async def test_health_and_reflection_need_no_token(world: World) -> None:
    health = health_pb2_grpc.HealthStub(world.mesh.channel(world.mesh.bos.port))
    reply = await health.Check(health_pb2.HealthCheckRequest())
    assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_a_token_for_another_role_is_refused_at_mint(tmp_path: Path) -> None:
    create_dev_keys(tmp_path)
    with pytest.raises(ValueError, match="role"):
        mint_token(tmp_path / "issuer.pem", tenant="school-a", subject="x", role="service")
    with pytest.raises(ValueError, match="tenant"):
        mint_token(tmp_path / "issuer.pem", tenant="a.b", subject="x")


async def test_a_channel_with_no_token_cannot_register(world: World) -> None:
    code, details = await status_of(
        world.mesh.batch_stub.RegisterBatch(
            batch_pb.RegisterBatchRequest(expected_essay_count=1, course_code="ENG5", language="en")
        )
    )
    assert code == Code.UNAUTHENTICATED
    assert "authorization: Bearer" in details


async def test_the_audit_log_names_the_teacher_and_the_service_in_their_tenant(
    world: World, nats_js: tuple[Client, JetStreamContext]
) -> None:
    await world.mesh.content_stub.GetContent(
        content_pb.GetContentRequest(storage_id=world.text_storage_id),
        metadata=_bearer(world.tokens.tenant_a),
    )
    js = nats_js[1]
    records = []
    info = await js.stream_info(AUDIT_STREAM)
    for sequence in range(info.state.first_seq, info.state.last_seq + 1):
        with contextlib.suppress(NotFoundError):
            message = await js.get_msg(AUDIT_STREAM, seq=sequence)
            records.append((message.subject, audit_pb2.AuditRecord.FromString(message.data)))
    who = {
        (record.tenant, record.subject, record.role, subject.split(".")[-1])
        for subject, record in records
    }
    # The File Service stored school-a's upload as a service acting for school-a; anna read it.
    assert ("school-a", "file_service", "service", "written") in who
    assert ("school-a", "anna", "teacher", "read") in who
    assert all(
        subject.startswith(f"audit.huleedu.v1.{record.tenant}.") for subject, record in records
    )
