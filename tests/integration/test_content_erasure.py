"""EraseContent on a real nats-server (issue 17, point 3): holders keep shared bytes, the last
release erases them, and the erased bytes are nowhere in the server's store files. The Content
Service runs with bearer tokens; the other services' client (ContentClient) calls it as a
service acting for a tenant."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.nats_server import NatsServer
from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2 as content_pb
from services.content_service.adapters.object_store import (
    CONTENT_BUCKET,
    ObjectStoreRepository,
)
from services.content_service.domain.content import ContentKind, StoredContent, object_key
from services.mesh.auth import mint_token
from services.mesh.content_client import ContentClient, ContentNotFoundError
from services.mesh.settings import NatsSettings
from tests.integration.test_file_service_support import content_stub, running_content_service
from tests.support import authentication_on, store_files_holding

STREAM = f"OBJ_{CONTENT_BUCKET}"
TEXT = common_pb2.CONTENT_KIND_EXTRACTED_TEXT


@dataclass
class Erasing:
    """The Content Service with tokens on, a service's client of it, and a teacher's token."""

    client: ContentClient
    port: int
    teacher_token: str


@pytest.fixture(scope="module")
async def erasing(
    nats_settings: NatsSettings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Erasing]:
    keys = tmp_path_factory.mktemp("auth")
    with authentication_on(keys):
        async with running_content_service(nats_settings) as service:
            client = ContentClient(f"127.0.0.1:{service.port}", service="file_service")
            teacher = mint_token(keys / "issuer.pem", tenant="school-a", subject="anna")
            yield Erasing(client, service.port, teacher)
            await client.close()


def _canary() -> bytes:
    return f"The canary {uuid.uuid4()} sings in the essay nobody may keep.".encode()


async def _messages_on(js: JetStreamContext, subject: str) -> int:
    info = await js.stream_info(STREAM, subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


async def test_the_last_holder_erases_and_another_tenant_keeps_its_copy(
    erasing: Erasing, nats_server: NatsServer
) -> None:
    client = erasing.client
    canary = _canary()
    essay = b"An essay. " + canary
    storage_id = await client.put(essay, TEXT, "text/plain", tenant="school-a", holder="batch-1")
    await client.put(essay, TEXT, "text/plain", tenant="school-a", holder="batch-2")
    await client.put(essay, TEXT, "text/plain", tenant="school-b", holder="batch-3")
    assert store_files_holding([nats_server.store_dir], canary)  # stored: the scan does find it

    first = await client.erase([storage_id], tenant="school-a", holder="batch-1")
    readable = await client.get(storage_id, tenant="school-a")
    second = await client.erase([storage_id], tenant="school-a", holder="batch-2")

    assert first == ([], [storage_id])
    assert readable == essay
    assert second == ([storage_id], [])
    with pytest.raises(ContentNotFoundError):
        await client.get(storage_id, tenant="school-a")
    assert await client.get(storage_id, tenant="school-b") == essay  # another key, untouched

    await client.erase([storage_id], tenant="school-b", holder="batch-3")
    assert store_files_holding([nats_server.store_dir], canary) == []


async def test_erasing_twice_answers_the_same(erasing: Erasing) -> None:
    client = erasing.client
    storage_id = await client.put(_canary(), TEXT, "text/plain", tenant="t1", holder="b1")
    never_stored = hashlib.sha256(_canary()).hexdigest()

    first = await client.erase([storage_id, never_stored], tenant="t1", holder="b1")
    again = await client.erase([storage_id, never_stored], tenant="t1", holder="b1")

    assert first == again == ([storage_id, never_stored], [])


async def test_a_multi_chunk_object_is_erased_whole(
    erasing: Erasing, nats_server: NatsServer, nats_js: tuple[Client, JetStreamContext]
) -> None:
    _, js = nats_js
    canary = _canary()
    essay = canary * (300 * 1024 // len(canary) + 1)  # three chunks, the canary in each
    storage_id = await erasing.client.put(essay, TEXT, "text/plain", tenant="t2", holder="b")
    chunks = f"$O.{CONTENT_BUCKET}.C.{object_key('t2', storage_id)}"
    assert await _messages_on(js, chunks) == 3

    assert await erasing.client.erase([storage_id], tenant="t2", holder="") == ([storage_id], [])

    assert await _messages_on(js, chunks) == 0
    assert store_files_holding([nats_server.store_dir], canary) == []


async def test_a_listed_holder_putting_again_writes_nothing(
    erasing: Erasing, nats_js: tuple[Client, JetStreamContext]
) -> None:
    _, js = nats_js
    essay = _canary()
    await erasing.client.put(essay, TEXT, "text/plain", tenant="t3", holder="b")
    before = (await js.stream_info(STREAM)).state.last_seq
    await erasing.client.put(essay, TEXT, "text/plain", tenant="t3", holder="b")
    await erasing.client.put_many([(essay, TEXT, "text/plain")], tenant="t3", holder="b")

    assert (await js.stream_info(STREAM)).state.last_seq == before


async def test_a_batch_put_adds_its_holder(erasing: Erasing) -> None:
    client = erasing.client
    essays = [_canary() for _ in range(3)]
    ids = await client.put_many([(e, TEXT, "text/plain") for e in essays], tenant="t4", holder="a")
    await client.put_many([(e, TEXT, "text/plain") for e in essays], tenant="t4", holder="b")

    assert await client.erase(ids, tenant="t4", holder="a") == ([], ids)
    assert await client.erase(ids, tenant="t4", holder="b") == (ids, [])


async def test_a_teacher_may_not_erase(erasing: Erasing) -> None:
    storage_id = await erasing.client.put(_canary(), TEXT, "text/plain", tenant="school-a")
    async with content_stub(erasing.port) as stub:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await stub.EraseContent(
                content_pb.EraseContentRequest(storage_ids=[storage_id]),
                metadata=[("authorization", f"Bearer {erasing.teacher_token}")],
            )

    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "only services and admins" in (refused.value.details() or "")
    assert await erasing.client.get(storage_id, tenant="school-a")


async def test_a_put_racing_an_erasure_ends_stored_or_erased_never_half(
    erasing: Erasing, nats_js: tuple[Client, JetStreamContext], nats_server: NatsServer
) -> None:
    """Two instances: one puts the bytes (a new holder), the other erases every holder of them,
    at once, many times over. Each ends with the object whole and readable, or with nothing of
    it left in the store."""
    _, js = nats_js  # the bucket is the Content Service's (`erasing`)
    putter, eraser = ObjectStoreRepository(js), ObjectStoreRepository(js)
    for round_ in range(24):
        canary = _canary()
        data = canary * (200 * 1024 // len(canary) + 1)  # two chunks
        key = object_key("race", hashlib.sha256(data).hexdigest())
        stored = StoredContent(data, ContentKind.EXTRACTED_TEXT, "text/plain")
        await putter.put(key, stored, "first")

        # The erasure starts 0 to 11 turns of the event loop after the put: the two meet at
        # every step of each other's writes, and each wins some rounds.
        await asyncio.gather(putter.put(key, stored, "second"), _later(round_, eraser, key))

        got = await eraser.get(key)
        if got is not None:
            assert got.content == data, f"round {round_}"
        else:
            chunks = f"$O.{CONTENT_BUCKET}.C.{key}"
            assert await _messages_on(js, chunks) == 0, f"round {round_}"
            assert store_files_holding([nats_server.store_dir], canary) == [], f"round {round_}"


async def _later(turns: int, repository: ObjectStoreRepository, key: str) -> bool:
    for _ in range(turns % 12):
        await asyncio.sleep(0)  # one turn of the event loop: an offset, not a wait
    return await repository.release(key, "")
