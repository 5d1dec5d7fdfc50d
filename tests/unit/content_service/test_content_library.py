"""The Content Service's rules, with an in-memory repository."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

from services.content_service.domain.content import (
    ContentCorruptedError,
    ContentKind,
    ContentLibrary,
    ContentNotFoundError,
    ContentTooLargeError,
    InvalidContentRequestError,
    StoredContent,
    check_storage_id,
)
from services.content_service.settings import ContentServiceSettings


class MemoryRepository:
    def __init__(self) -> None:
        self.objects: dict[str, StoredContent] = {}
        self.holders: dict[str, set[str]] = {}
        self.puts = 0

    async def put(self, storage_id: str, stored: StoredContent, holder: str) -> bool:
        await asyncio.sleep(0)
        holders = self.holders.setdefault(storage_id, set())
        holders.update({holder} - {""})
        if storage_id in self.objects:
            return False
        self.puts += 1
        self.objects[storage_id] = stored
        return True

    async def put_many(self, objects: list[tuple[str, StoredContent]], holder: str) -> list[bool]:
        return [await self.put(storage_id, stored, holder) for storage_id, stored in objects]

    async def release(self, storage_id: str, holder: str) -> bool:
        holders = self.holders.get(storage_id, set())
        holders.difference_update({holder} if holder else set(holders))
        if holders:
            return True
        self.objects.pop(storage_id, None)
        self.holders.pop(storage_id, None)
        return False

    async def get(self, storage_id: str) -> StoredContent | None:
        return self.objects.get(storage_id)

    async def get_many(self, storage_ids: list[str]) -> list[StoredContent | None]:
        return [self.objects.get(storage_id) for storage_id in storage_ids]


@pytest.fixture
def repository() -> MemoryRepository:
    return MemoryRepository()


@pytest.fixture
def library(repository: MemoryRepository) -> ContentLibrary:
    return ContentLibrary(repository, max_object_bytes=1000)


async def test_put_returns_the_sha256_and_is_idempotent(
    library: ContentLibrary, repository: MemoryRepository
) -> None:
    first = await library.put(b"hello", ContentKind.RAW_UPLOAD, "text/plain")
    again = await library.put(b"hello", ContentKind.EXTRACTED_TEXT, "text/other")

    assert first.storage_id == hashlib.sha256(b"hello").hexdigest()
    assert (first.already_stored, again.already_stored) == (False, True)
    assert again.storage_id == first.storage_id
    stored = await library.get(first.storage_id)
    assert (stored.content, stored.kind, stored.media_type) == (
        b"hello",
        ContentKind.RAW_UPLOAD,
        "text/plain",
    )
    assert repository.puts == 1


async def test_concurrent_puts_of_the_same_bytes_write_once(
    library: ContentLibrary, repository: MemoryRepository
) -> None:
    results = await asyncio.gather(
        *(library.put(b"same", ContentKind.RAW_UPLOAD, "x/y") for _ in range(10))
    )
    assert sum(not result.already_stored for result in results) == 1
    assert repository.puts == 1


async def test_size_limit_is_inclusive(library: ContentLibrary) -> None:
    await library.put(b"x" * 1000, ContentKind.RAW_UPLOAD, "a/b")
    with pytest.raises(ContentTooLargeError, match="CONTENT_MAX_OBJECT_BYTES"):
        await library.put(b"x" * 1001, ContentKind.RAW_UPLOAD, "a/b")


async def test_empty_content_is_content_too(library: ContentLibrary) -> None:
    result = await library.put(b"", ContentKind.RAW_UPLOAD, "")
    assert (await library.get(result.storage_id)).media_type == "application/octet-stream"


@pytest.mark.parametrize("media_type", ["text/\nplain", "é/x", "x" * 256])
async def test_bad_media_types_are_refused(library: ContentLibrary, media_type: str) -> None:
    with pytest.raises(InvalidContentRequestError):
        await library.put(b"x", ContentKind.RAW_UPLOAD, media_type)


async def test_kind_is_required(library: ContentLibrary) -> None:
    with pytest.raises(InvalidContentRequestError, match="kind"):
        await library.put(b"x", None, "a/b")


@pytest.mark.parametrize("storage_id", ["", "abc", "G" * 64, "AB" * 32, "../" + "a" * 61])
def test_malformed_storage_ids(storage_id: str) -> None:
    with pytest.raises(InvalidContentRequestError):
        check_storage_id(storage_id)


async def test_unknown_id_is_not_found(library: ContentLibrary) -> None:
    with pytest.raises(ContentNotFoundError):
        await library.get("0" * 64)


async def test_bytes_that_no_longer_match_their_id_are_reported(
    library: ContentLibrary, repository: MemoryRepository
) -> None:
    result = await library.put(b"original", ContentKind.RAW_UPLOAD, "a/b")
    repository.objects[result.storage_id] = StoredContent(
        b"tampered", ContentKind.RAW_UPLOAD, "a/b"
    )
    with pytest.raises(ContentCorruptedError):
        await library.get(result.storage_id)


async def test_put_many_answers_in_order_and_stores_each_bytes_once(
    library: ContentLibrary, repository: MemoryRepository
) -> None:
    items = [(data, ContentKind.RAW_UPLOAD, "a/b") for data in (b"one", b"two", b"one")]

    results = await library.put_many(items)

    assert [r.storage_id for r in results] == [hashlib.sha256(d).hexdigest() for d, _, _ in items]
    assert [r.already_stored for r in results].count(False) == 2
    assert repository.puts == 2


async def test_put_many_refuses_the_whole_batch_naming_the_item(
    library: ContentLibrary, repository: MemoryRepository
) -> None:
    with pytest.raises(InvalidContentRequestError, match=r"requests\[1\]: kind"):
        await library.put_many([(b"ok", ContentKind.RAW_UPLOAD, "a/b"), (b"no kind", None, "a/b")])
    with pytest.raises(ContentTooLargeError, match=r"requests\[0\]"):
        await library.put_many([(b"x" * 1001, ContentKind.RAW_UPLOAD, "a/b")])
    with pytest.raises(InvalidContentRequestError, match="at most 100"):
        await library.put_many([(b"x", ContentKind.RAW_UPLOAD, "a/b")] * 101)
    assert repository.puts == 0


async def test_get_many_is_in_order_and_all_or_nothing(library: ContentLibrary) -> None:
    first = await library.put(b"first", ContentKind.RAW_UPLOAD, "a/b")
    second = await library.put(b"second", ContentKind.RAW_UPLOAD, "a/b")
    ids = [second.storage_id, first.storage_id, second.storage_id]

    found = await library.get_many(ids)

    assert [stored.content for stored in found] == [b"second", b"first", b"second"]
    with pytest.raises(ContentNotFoundError, match="0" * 64):
        await library.get_many([first.storage_id, "0" * 64])
    with pytest.raises(InvalidContentRequestError, match=r"storage_ids\[1\]"):
        await library.get_many([first.storage_id, "bad"])
    with pytest.raises(InvalidContentRequestError, match="at most 100"):
        await library.get_many([first.storage_id] * 101)


async def test_get_many_answers_at_most_twice_the_object_limit(library: ContentLibrary) -> None:
    results = await library.put_many(
        [(bytes([n]) * 1000, ContentKind.RAW_UPLOAD, "a/b") for n in range(3)]
    )
    ids = [r.storage_id for r in results]

    assert len(await library.get_many(ids[:2])) == 2
    with pytest.raises(ContentTooLargeError, match="ask for fewer"):
        await library.get_many(ids)


def test_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONTENT_MAX_OBJECT_BYTES", raising=False)
    assert ContentServiceSettings.from_env().max_object_bytes == 10 * 1024 * 1024
    monkeypatch.setenv("CONTENT_MAX_OBJECT_BYTES", "2048")
    settings = ContentServiceSettings.from_env()
    assert settings.max_object_bytes == 2048
    assert settings.grpc_max_message_bytes > 2 * 2048


async def test_erasure_keeps_what_another_holder_holds(library: ContentLibrary) -> None:
    shared = await library.put(b"shared", ContentKind.RAW_UPLOAD, "text/plain", holder="a")
    await library.put(b"shared", ContentKind.RAW_UPLOAD, "text/plain", holder="b")
    only_a = await library.put(b"only a", ContentKind.RAW_UPLOAD, "text/plain", holder="a")

    first = await library.erase([shared.storage_id, only_a.storage_id], tenant="", holder="a")
    again = await library.erase([shared.storage_id, only_a.storage_id], tenant="", holder="a")

    assert (first.erased, first.kept) == ([only_a.storage_id], [shared.storage_id])
    assert (again.erased, again.kept) == (first.erased, first.kept)
    assert (await library.get(shared.storage_id)).content == b"shared"
    with pytest.raises(ContentNotFoundError):
        await library.get(only_a.storage_id)


async def test_erasure_checks_its_ids(library: ContentLibrary) -> None:
    with pytest.raises(InvalidContentRequestError) as bad:
        await library.erase(["0" * 64, "nope"], tenant="t", holder="a")
    with pytest.raises(InvalidContentRequestError):
        await library.erase(["0" * 64] * 101, tenant="t", holder="a")

    assert bad.value.field == "storage_ids[1]"
