"""The Content Service over real gRPC on a real nats-server: storage by SHA-256, idempotency,
limits, errors, and data that outlives the process and is shared by every instance."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import grpc
import pytest
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from services.content_service.adapters.object_store import (
    CONTENT_BUCKET,
    READ_TIMEOUT_S,
    ObjectStoreRepository,
)
from services.content_service.bootstrap import ContentService
from services.content_service.domain.content import ContentKind, StoredContent
from services.mesh.settings import NatsSettings
from tests.integration.test_file_service_support import GRPC_OPTIONS, running_content_service

LIMIT = 256 * 1024


@pytest.fixture(scope="module")
async def content(nats_settings: NatsSettings) -> AsyncIterator[ContentService]:
    async with running_content_service(nats_settings, max_object_bytes=LIMIT) as service:
        yield service


async def _stub(port: int) -> tuple[grpc.aio.Channel, content_service_pb2_grpc.ContentServiceStub]:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}", options=GRPC_OPTIONS)
    return channel, content_service_pb2_grpc.ContentServiceStub(channel)


@pytest.fixture
async def stub(
    content: ContentService,
) -> AsyncIterator[content_service_pb2_grpc.ContentServiceStub]:
    channel, client = await _stub(content.port)
    yield client
    await channel.close(None)


def _put(data: bytes, kind: int = common_pb2.CONTENT_KIND_RAW_UPLOAD) -> object:
    return content_service_pb2.PutContentRequest(
        content=data, kind=kind, media_type="application/pdf"
    )


async def test_put_then_get_round_trip(stub: content_service_pb2_grpc.ContentServiceStub) -> None:
    data = b"%PDF-1.7 " + hashlib.sha256(b"round trip").digest() * 5000  # several chunks

    put = await stub.PutContent(_put(data))
    got = await stub.GetContent(content_service_pb2.GetContentRequest(storage_id=put.storage_id))

    assert put.storage_id == hashlib.sha256(data).hexdigest()
    assert put.size_bytes == len(data)
    assert got.content == data
    assert got.kind == common_pb2.CONTENT_KIND_RAW_UPLOAD
    assert got.media_type == "application/pdf"
    assert got.storage_id == put.storage_id


async def test_same_bytes_are_stored_once(
    stub: content_service_pb2_grpc.ContentServiceStub,
) -> None:
    data = b"idempotent " + hashlib.sha256(b"x").digest()
    first = await stub.PutContent(_put(data))
    second = await stub.PutContent(_put(data, common_pb2.CONTENT_KIND_EXTRACTED_TEXT))

    assert first.storage_id == second.storage_id
    assert (first.already_stored, second.already_stored) == (False, True)
    got = await stub.GetContent(content_service_pb2.GetContentRequest(storage_id=first.storage_id))
    assert got.kind == common_pb2.CONTENT_KIND_RAW_UPLOAD  # as first stored


async def test_empty_content_round_trips(stub: content_service_pb2_grpc.ContentServiceStub) -> None:
    put = await stub.PutContent(_put(b""))
    got = await stub.GetContent(content_service_pb2.GetContentRequest(storage_id=put.storage_id))
    assert got.content == b""


async def test_size_limit(stub: content_service_pb2_grpc.ContentServiceStub) -> None:
    at_limit = hashlib.sha256(b"limit").digest() * (LIMIT // 32)
    assert len(at_limit) == LIMIT
    assert (await stub.PutContent(_put(at_limit))).size_bytes == LIMIT

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.PutContent(_put(at_limit + b"!"))
    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "CONTENT_MAX_OBJECT_BYTES" in (raised.value.details() or "")


async def test_unknown_and_malformed_ids(stub: content_service_pb2_grpc.ContentServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetContent(content_service_pb2.GetContentRequest(storage_id="f" * 64))
    assert raised.value.code() == grpc.StatusCode.NOT_FOUND

    for bad in ("", "xyz", "F" * 64, "../" * 21 + "a"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.GetContent(content_service_pb2.GetContentRequest(storage_id=bad))
        assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_kind_is_required(stub: content_service_pb2_grpc.ContentServiceStub) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.PutContent(_put(b"no kind", common_pb2.CONTENT_KIND_UNSPECIFIED))
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_content_outlives_the_instance_and_is_shared(
    nats_settings: NatsSettings, stub: content_service_pb2_grpc.ContentServiceStub
) -> None:
    data = b"durable " + hashlib.sha256(b"durable").digest()
    async with running_content_service(nats_settings) as first:
        channel, first_stub = await _stub(first.port)
        put = await first_stub.PutContent(_put(data))
        await channel.close(None)

    # another instance (the module's one) serves it, and so does a fresh one
    got = await stub.GetContent(content_service_pb2.GetContentRequest(storage_id=put.storage_id))
    assert got.content == data
    async with running_content_service(nats_settings) as fresh:
        channel, fresh_stub = await _stub(fresh.port)
        request = content_service_pb2.GetContentRequest(storage_id=put.storage_id)
        assert (await fresh_stub.GetContent(request)).content == data
        await channel.close(None)


async def test_health_and_reflection(content: ContentService) -> None:
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{content.port}")
    stub = reflection_pb2_grpc.ServerReflectionStub(channel)
    responses = stub.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {
        service.name
        async for response in responses
        for service in response.list_services_response.service
    }
    await channel.close(None)
    assert {"huleedu.content.v1.ContentService", "grpc.health.v1.Health"} <= names


async def test_an_object_whose_chunks_were_lost_is_answered_unavailable_then_repaired(
    stub: content_service_pb2_grpc.ContentServiceStub,
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    """nats-py's ObjectStore.put purges the chunks when the meta message's ack is lost although
    the meta may be stored: an object left so must not hang reads, nor count as stored."""
    _, js = nats_js
    data = b"lost chunks " + hashlib.sha256(b"lost").digest() * 100
    storage_id = hashlib.sha256(data).hexdigest()
    store = await js.object_store(CONTENT_BUCKET)
    info = await store.put(storage_id, data)
    await js.purge_stream(f"OBJ_{CONTENT_BUCKET}", subject=f"$O.{CONTENT_BUCKET}.C.{info.nuid}")
    read = content_service_pb2.GetContentRequest(storage_id=storage_id)

    with pytest.raises(grpc.aio.AioRpcError) as broken:
        await stub.GetContent(read, timeout=READ_TIMEOUT_S + 10)
    put = await stub.PutContent(_put(data))
    got = await stub.GetContent(read)

    assert broken.value.code() == grpc.StatusCode.UNAVAILABLE
    assert put.already_stored is False
    assert got.content == data


async def test_a_put_cut_off_after_its_chunks_is_completed_by_the_next(
    stub: content_service_pb2_grpc.ContentServiceStub,
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    """A put whose meta message never got stored leaves chunks on the object's subject; the next
    put of the same bytes replaces them instead of adding to them."""
    _, js = nats_js
    data = b"cut off " + hashlib.sha256(b"cut").digest() * 5000  # two chunks
    storage_id = hashlib.sha256(data).hexdigest()
    chunk_subject = f"$O.{CONTENT_BUCKET}.C.{storage_id}"
    await js.publish(chunk_subject, data[:1000])

    put = await stub.PutContent(_put(data))
    got = await stub.GetContent(content_service_pb2.GetContentRequest(storage_id=storage_id))
    stream = await js.stream_info(f"OBJ_{CONTENT_BUCKET}", subjects_filter=chunk_subject)

    assert put.already_stored is False
    assert got.content == data
    assert (stream.state.subjects or {})[chunk_subject] == 2


async def test_a_second_writer_of_stored_bytes_leaves_them_as_they_are(
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    """Two instances storing the same bytes: the later one finds the object complete and writes
    nothing."""
    _, js = nats_js
    repository = ObjectStoreRepository(js)
    data = b"written twice " + hashlib.sha256(b"twice").digest() * 5000  # two chunks
    storage_id = hashlib.sha256(data).hexdigest()
    stored = StoredContent(data, ContentKind.RAW_UPLOAD, "text/plain")
    chunk_subject = f"$O.{CONTENT_BUCKET}.C.{storage_id}"

    assert await repository.put(storage_id, stored) is True
    first = await js.stream_info(f"OBJ_{CONTENT_BUCKET}", subjects_filter=chunk_subject)
    assert await repository.put(storage_id, stored) is False
    second = await js.stream_info(f"OBJ_{CONTENT_BUCKET}", subjects_filter=chunk_subject)
    got = await repository.get(storage_id)

    assert (first.state.subjects or {})[chunk_subject] == 2
    assert second.state.last_seq == first.state.last_seq  # nothing written, nothing purged
    assert got is not None and got.content == data


async def test_chunks_that_fail_the_digest_are_answered_data_loss(
    stub: content_service_pb2_grpc.ContentServiceStub,
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    _, js = nats_js
    data = b"bit rot " + hashlib.sha256(b"rot").digest() * 50
    put = await stub.PutContent(_put(data))
    chunk_subject = f"$O.{CONTENT_BUCKET}.C.{put.storage_id}"
    await js.purge_stream(f"OBJ_{CONTENT_BUCKET}", subject=chunk_subject)
    await js.publish(chunk_subject, bytes(len(data)))  # the same size, other bytes

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stub.GetContent(content_service_pb2.GetContentRequest(storage_id=put.storage_id))

    assert raised.value.code() == grpc.StatusCode.DATA_LOSS
