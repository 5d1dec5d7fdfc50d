"""BatchGetContent and BatchPutContent on a real nats-server over real gRPC, directly and through
the mesh ContentClient: order, all or nothing, limits and idempotency."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

import grpc
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext

from huleedu.common.v1 import common_pb2
from huleedu.content.v1 import content_service_pb2, content_service_pb2_grpc
from services.content_service.adapters.object_store import CONTENT_BUCKET
from services.content_service.bootstrap import ContentService
from services.mesh.consumer import PermanentError
from services.mesh.content_client import ContentClient, ContentNotFoundError
from services.mesh.settings import NatsSettings
from tests.integration.test_file_service_support import (
    content_stub,
    running_content_service,
)
from tests.support import unique

LIMIT = 256 * 1024
TEXT = common_pb2.CONTENT_KIND_EXTRACTED_TEXT


@pytest.fixture(scope="module")
async def content(nats_settings: NatsSettings) -> AsyncIterator[ContentService]:
    async with running_content_service(nats_settings, max_object_bytes=LIMIT) as service:
        yield service


@pytest.fixture
async def stub(
    content: ContentService,
) -> AsyncIterator[content_service_pb2_grpc.ContentServiceStub]:
    async with content_stub(content.port) as stub:
        yield stub


@pytest.fixture
async def client(content: ContentService) -> AsyncIterator[ContentClient]:
    client = ContentClient(f"127.0.0.1:{content.port}", max_in_flight=2)
    yield client
    await client.close()


def _texts(count: int, size: int = 3000) -> list[bytes]:
    seed = unique("batch")
    return [(f"{seed} essay {index} " * (size // 20 + 1)).encode()[:size] for index in range(count)]


def _put_request(data: bytes, kind: int = TEXT) -> content_service_pb2.PutContentRequest:
    return content_service_pb2.PutContentRequest(content=data, kind=kind, media_type="text/plain")


async def _batch_put(
    stub: content_service_pb2_grpc.ContentServiceStub, texts: list[bytes]
) -> content_service_pb2.BatchPutContentResponse:
    return await stub.BatchPutContent(
        content_service_pb2.BatchPutContentRequest(requests=[_put_request(t) for t in texts])
    )


async def _batch_get(
    stub: content_service_pb2_grpc.ContentServiceStub, storage_ids: list[str]
) -> content_service_pb2.BatchGetContentResponse:
    return await stub.BatchGetContent(
        content_service_pb2.BatchGetContentRequest(storage_ids=storage_ids)
    )


async def test_batch_put_then_batch_get_keep_the_request_order(
    stub: content_service_pb2_grpc.ContentServiceStub,
) -> None:
    two_chunks = unique("two chunks").encode() + b"x" * (200 * 1024)
    texts = [*_texts(99), two_chunks]  # 100 items: the limit

    put = await _batch_put(stub, texts)
    wanted = [put.responses[i].storage_id for i in (99, 0, 42, 0)]  # any order, repeats too
    got = await _batch_get(stub, wanted)

    assert [r.storage_id for r in put.responses] == [hashlib.sha256(t).hexdigest() for t in texts]
    assert [r.size_bytes for r in put.responses] == [len(t) for t in texts]
    assert not any(r.already_stored for r in put.responses)
    assert [r.storage_id for r in got.responses] == wanted
    assert [r.content for r in got.responses] == [texts[i] for i in (99, 0, 42, 0)]
    assert {r.kind for r in got.responses} == {TEXT}
    assert {r.media_type for r in got.responses} == {"text/plain"}


async def test_a_repeated_batch_put_finds_everything_stored(
    stub: content_service_pb2_grpc.ContentServiceStub,
) -> None:
    texts = _texts(5)
    texts.append(texts[0])  # the same bytes twice in one batch are stored once

    first = await _batch_put(stub, texts)
    second = await _batch_put(stub, texts)

    assert sorted(r.already_stored for r in first.responses) == [False] * 5 + [True]
    assert first.responses[0].storage_id == first.responses[5].storage_id
    assert all(r.already_stored for r in second.responses)
    assert [r.storage_id for r in second.responses] == [r.storage_id for r in first.responses]


async def test_a_batch_put_tells_stored_from_new_objects(
    stub: content_service_pb2_grpc.ContentServiceStub,
) -> None:
    """Which objects are stored is read for the whole batch at once (one batched direct get of
    the meta messages and chunks); only the new ones are written."""
    texts = _texts(6)
    await _batch_put(stub, texts[:3])

    put = await _batch_put(stub, [texts[4], texts[0], b"", texts[5], texts[2], texts[3]])
    again = await _batch_put(stub, [b""])

    assert [r.already_stored for r in put.responses] == [False, True, False, False, True, False]
    assert again.responses[0].already_stored is True


async def test_a_batch_get_reads_empty_one_chunk_and_several_chunk_objects(
    stub: content_service_pb2_grpc.ContentServiceStub,
) -> None:
    texts = [b"", *_texts(2), unique("two").encode() + b"y" * (128 * 1024 + 5)]
    put = await _batch_put(stub, texts)

    got = await _batch_get(stub, [r.storage_id for r in reversed(put.responses)])

    assert [r.content for r in got.responses] == list(reversed(texts))


async def test_a_chunk_changed_under_a_batch_get_is_data_loss_naming_it(
    stub: content_service_pb2_grpc.ContentServiceStub,
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    """The batched read checks each object against its digest; one that fails it is asked again
    of the stream leader, and the leader's copy fails too."""
    _, js = nats_js
    texts = _texts(3)
    put = await _batch_put(stub, texts)
    changed = put.responses[1].storage_id
    chunk_subject = f"$O.{CONTENT_BUCKET}.C.{changed}"
    await js.purge_stream(f"OBJ_{CONTENT_BUCKET}", subject=chunk_subject)
    await js.publish(chunk_subject, bytes(len(texts[1])))

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _batch_get(stub, [r.storage_id for r in put.responses])

    assert raised.value.code() == grpc.StatusCode.DATA_LOSS
    assert changed in (raised.value.details() or "")


async def test_a_batch_put_meeting_a_half_stored_object_completes_it(
    stub: content_service_pb2_grpc.ContentServiceStub,
    nats_js: tuple[Client, JetStreamContext],
) -> None:
    """One-chunk objects are written by one atomic batch; a chunk left by a put cut off before
    its meta message makes the stream refuse the whole batch, and every object is then put on
    its own: the cut-off one completed, the others stored, nothing twice."""
    _, js = nats_js
    texts = _texts(10)
    cut_off = hashlib.sha256(texts[3]).hexdigest()
    chunk_subject = f"$O.{CONTENT_BUCKET}.C.{cut_off}"
    await js.publish(chunk_subject, texts[3])

    put = await _batch_put(stub, texts)
    got = await _batch_get(stub, [r.storage_id for r in put.responses])
    chunks = await js.stream_info(f"OBJ_{CONTENT_BUCKET}", subjects_filter=chunk_subject)

    assert not any(r.already_stored for r in put.responses)
    assert [r.content for r in got.responses] == texts
    assert (chunks.state.subjects or {})[chunk_subject] == 1


async def test_one_unknown_id_fails_the_whole_batch_get_naming_it(
    stub: content_service_pb2_grpc.ContentServiceStub,
) -> None:
    put = await _batch_put(stub, _texts(2))
    unknown = hashlib.sha256(unique("never stored").encode()).hexdigest()
    ids = [put.responses[0].storage_id, unknown, put.responses[1].storage_id]

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _batch_get(stub, ids)

    assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    assert unknown in (raised.value.details() or "")
    assert put.responses[0].storage_id not in (raised.value.details() or "")


async def test_a_malformed_id_is_invalid_argument_naming_its_index(
    stub: content_service_pb2_grpc.ContentServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _batch_get(stub, ["0" * 64, "not-an-id"])

    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "storage_ids[1]" in (raised.value.details() or "")


async def test_one_refused_item_stores_nothing(
    stub: content_service_pb2_grpc.ContentServiceStub,
) -> None:
    texts = _texts(3)
    requests = [_put_request(texts[0]), _put_request(texts[1]), _put_request(texts[2], kind=0)]

    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stub.BatchPutContent(content_service_pb2.BatchPutContentRequest(requests=requests))
    with pytest.raises(grpc.aio.AioRpcError) as too_large:
        await _batch_put(stub, [texts[0], b"x" * (LIMIT + 1)])
    with pytest.raises(grpc.aio.AioRpcError) as not_stored:
        await _batch_get(stub, [hashlib.sha256(texts[0]).hexdigest()])

    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "requests[2]" in (refused.value.details() or "")
    assert too_large.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "requests[1]" in (too_large.value.details() or "")
    assert not_stored.value.code() == grpc.StatusCode.NOT_FOUND


async def test_batches_hold_at_most_100_items(
    stub: content_service_pb2_grpc.ContentServiceStub,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as gets:
        await _batch_get(stub, ["0" * 64] * 101)
    with pytest.raises(grpc.aio.AioRpcError) as puts:
        await _batch_put(stub, _texts(101, size=10))

    assert gets.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert puts.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "at most 100" in (gets.value.details() or "")
    assert "at most 100" in (puts.value.details() or "")


async def test_a_batch_answer_over_the_message_limit_is_refused(
    stub: content_service_pb2_grpc.ContentServiceStub,
) -> None:
    """Three objects at the object limit are more than one answer may carry (twice it)."""
    texts = [unique("big").encode() + b"y" * (LIMIT - 40) for _ in range(3)]
    put = await _batch_put(stub, texts)

    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await _batch_get(stub, [r.storage_id for r in put.responses])

    assert raised.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "ask for fewer" in (raised.value.details() or "")


async def test_empty_batches_answer_empty(
    stub: content_service_pb2_grpc.ContentServiceStub,
) -> None:
    assert list((await _batch_get(stub, [])).responses) == []
    assert list((await _batch_put(stub, [])).responses) == []


async def test_the_content_client_puts_and_gets_many_in_order(client: ContentClient) -> None:
    """150 items: two calls of at most 100 each, one in-flight slot at a time."""
    texts = _texts(150, size=500)
    items = [(text, TEXT, "text/plain") for text in texts]

    storage_ids = await client.put_many(items, tenant="")
    again = await client.put_many(items, tenant="")
    contents = await client.get_many(list(reversed(storage_ids)), tenant="")

    assert storage_ids == [hashlib.sha256(t).hexdigest() for t in texts]
    assert again == storage_ids
    assert contents == list(reversed(texts))
    assert client.peak_in_flight == 1
    assert await client.get_many([], tenant="") == []
    assert await client.put_many([], tenant="") == []


async def test_the_content_client_translates_batch_errors(client: ContentClient) -> None:
    unknown = hashlib.sha256(unique("unknown").encode()).hexdigest()

    with pytest.raises(ContentNotFoundError, match=unknown):
        await client.get_many([unknown], tenant="")
    with pytest.raises(PermanentError, match="requests\\[0\\]"):
        await client.put_many(
            [(b"no kind", common_pb2.CONTENT_KIND_UNSPECIFIED, "text/plain")], tenant=""
        )
