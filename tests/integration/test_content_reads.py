"""How the Content Service reads objects, on a real nats-server over real gRPC: direct gets of the
meta message and the chunks (no consumer per read), the chunk count and digest checked, and
missing chunks waited for, then answered UNAVAILABLE."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import AsyncIterator

import grpc
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from services.content_service.adapters import object_store
from services.content_service.adapters.object_store import CHUNK_BYTES, CONTENT_BUCKET
from services.content_service.bootstrap import ContentService
from tests.integration.test_file_service_support import (
    content_stub,
)
from tests.support import unique

STREAM = f"OBJ_{CONTENT_BUCKET}"
SHORT_READ_TIMEOUT_S = 1.0


@pytest.fixture
async def stub(
    content: ContentService,
) -> AsyncIterator[content_service_pb2_grpc.ContentServiceStub]:
    async with content_stub(content.port) as stub:
        yield stub


@pytest.fixture
def short_read_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reads of objects with missing chunks give up after 1 s instead of 5 (same process)."""
    monkeypatch.setattr(object_store, "READ_TIMEOUT_S", SHORT_READ_TIMEOUT_S)


def _text(size: int) -> bytes:
    seed = unique("text").encode()
    return (seed + b" " + hashlib.sha256(seed).hexdigest().encode() * (size // 64 + 1))[:size]


async def _put(stub: content_service_pb2_grpc.ContentServiceStub, data: bytes) -> str:
    request = content_service_pb2.PutContentRequest(
        content=data, kind=common_pb2.CONTENT_KIND_EXTRACTED_TEXT, media_type="text/plain"
    )
    return (await stub.PutContent(request)).storage_id


async def _get(
    stub: content_service_pb2_grpc.ContentServiceStub, storage_id: str
) -> content_service_pb2.GetContentResponse:
    return await stub.GetContent(
        content_service_pb2.GetContentRequest(storage_id=storage_id), timeout=30
    )


async def _chunks_on_stream(js: JetStreamContext, storage_id: str) -> int:
    subject = f"$O.{CONTENT_BUCKET}.C.{storage_id}"
    stream = await js.stream_info(STREAM, subjects_filter=subject)
    return (stream.state.subjects or {}).get(subject, 0)


@pytest.mark.parametrize("size", [3000, CHUNK_BYTES, CHUNK_BYTES + 1, 3 * CHUNK_BYTES + 17])
async def test_objects_of_one_and_several_chunks_read_back(
    stub: content_service_pb2_grpc.ContentServiceStub,
    nats_js: tuple[Client, JetStreamContext],
    size: int,
) -> None:
    _, js = nats_js
    data = _text(size)
    storage_id = await _put(stub, data)

    got = await _get(stub, storage_id)

    assert got.content == data
    assert got.kind == common_pb2.CONTENT_KIND_EXTRACTED_TEXT
    assert got.media_type == "text/plain"
    assert await _chunks_on_stream(js, storage_id) == -(-size // CHUNK_BYTES)


async def test_reads_create_no_consumer_on_the_object_stream(
    stub: content_service_pb2_grpc.ContentServiceStub,
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    _, js = nats_js
    ids = [await _put(stub, _text(size)) for size in (100, 3 * CHUNK_BYTES)]

    for storage_id in ids * 5:
        await _get(stub, storage_id)
    await stub.BatchGetContent(content_service_pb2.BatchGetContentRequest(storage_ids=ids))

    assert (await js.stream_info(STREAM)).state.consumer_count == 0


async def test_chunks_that_fail_the_digest_are_answered_data_loss(
    stub: content_service_pb2_grpc.ContentServiceStub,
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    """Two chunks of the right count and sizes, the second one's bytes changed."""
    _, js = nats_js
    data = _text(CHUNK_BYTES + 500)
    storage_id = await _put(stub, data)
    subject = f"$O.{CONTENT_BUCKET}.C.{storage_id}"
    await js.purge_stream(STREAM, subject=subject)
    await js.publish(subject, data[:CHUNK_BYTES])
    await js.publish(subject, bytes(500))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _get(stub, storage_id)

    assert raised.value.code() == grpc.StatusCode.DATA_LOSS
    assert storage_id in (raised.value.details() or "")


@pytest.mark.usefixtures("short_read_timeout")
async def test_an_object_missing_some_chunks_is_answered_unavailable_then_repaired(
    stub: content_service_pb2_grpc.ContentServiceStub,
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    """The meta message counts three chunks, the stream holds one: the read waits for the rest,
    gives up with UNAVAILABLE, and the next put of the same bytes completes the object."""
    _, js = nats_js
    data = _text(2 * CHUNK_BYTES + 9)
    storage_id = await _put(stub, data)
    subject = f"$O.{CONTENT_BUCKET}.C.{storage_id}"
    await js.purge_stream(STREAM, subject=subject)
    await js.publish(subject, data[:CHUNK_BYTES])

    started = asyncio.get_running_loop().time()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _get(stub, storage_id)
    waited = asyncio.get_running_loop().time() - started
    put = await stub.PutContent(
        content_service_pb2.PutContentRequest(
            content=data, kind=common_pb2.CONTENT_KIND_EXTRACTED_TEXT, media_type="text/plain"
        )
    )

    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "content storage unavailable, retry" in (raised.value.details() or "")
    assert SHORT_READ_TIMEOUT_S <= waited < SHORT_READ_TIMEOUT_S + 2
    assert put.already_stored is False
    assert (await _get(stub, storage_id)).content == data
    assert await _chunks_on_stream(js, storage_id) == 3


async def test_a_read_waiting_for_chunks_gets_them_when_a_put_completes_the_object(
    stub: content_service_pb2_grpc.ContentServiceStub,
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    """A read of an object whose chunks are gone waits (READ_TIMEOUT_S); a put of the same bytes
    meanwhile writes them again, and the read answers with the content."""
    _, js = nats_js
    data = _text(5000)
    storage_id = await _put(stub, data)
    await js.purge_stream(STREAM, subject=f"$O.{CONTENT_BUCKET}.C.{storage_id}")

    read = asyncio.create_task(_get(stub, storage_id))
    await asyncio.sleep(0.3)
    assert not read.done()
    await _put(stub, data)

    assert (await asyncio.wait_for(read, object_store.READ_TIMEOUT_S)).content == data


async def test_an_unreadable_meta_message_is_data_loss_until_a_put_writes_it_again(
    stub: content_service_pb2_grpc.ContentServiceStub,
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    _, js = nats_js
    data = _text(4000)
    storage_id = hashlib.sha256(data).hexdigest()
    meta_subject = f"$O.{CONTENT_BUCKET}.M.{base64.urlsafe_b64encode(storage_id.encode()).decode()}"
    await js.publish(meta_subject, b"{not json")

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _get(stub, storage_id)
    put = await stub.PutContent(
        content_service_pb2.PutContentRequest(
            content=data, kind=common_pb2.CONTENT_KIND_EXTRACTED_TEXT, media_type="text/plain"
        )
    )

    assert raised.value.code() == grpc.StatusCode.DATA_LOSS
    assert put.already_stored is False
    assert (await _get(stub, storage_id)).content == data
