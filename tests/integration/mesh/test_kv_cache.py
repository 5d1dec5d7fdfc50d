"""update_document with a revision cache, against a real nats-server: a cached revision saves
the read, and anything another writer did since is still seen."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from nats.js.kv import KeyValue

from services.mesh.kv import DocumentCache, read_document, update_document
from services.mesh.settings import NatsSettings
from tests.integration.mesh.counting_bucket import (
    CountingBucket,
    Doc,
    appending,
    one_bucket_twice,
    values,
)


@pytest.fixture
async def buckets(nats_settings: NatsSettings) -> AsyncIterator[tuple[CountingBucket, KeyValue]]:
    """One bucket through two connections: ours (counted) and another writer's."""
    async with one_bucket_twice(nats_settings, "cache") as pair:
        yield pair


async def test_a_cached_revision_saves_the_read(
    buckets: tuple[CountingBucket, KeyValue],
) -> None:
    ours, _ = buckets
    cache = DocumentCache()
    await update_document(ours, "doc", Doc, appending("first"), cache)
    assert ours.reads == 1  # nothing cached yet: read, then create
    for n in range(10):
        result = await update_document(ours, "doc", Doc, appending(f"v{n}"), cache)
        assert result.changed
    assert ours.reads == 1
    for n in range(10, 13):
        await update_document(ours, "doc", Doc, appending(f"v{n}"))
    assert ours.reads == 4, "without the cache, every update reads"
    stored = await read_document(ours, "doc", Doc)
    assert stored is not None
    assert values(stored[0]) == ["first", *(f"v{n}" for n in range(13))]
    assert stored[1] == result.revision + 3


async def test_a_write_by_another_connection_is_seen_and_kept(
    buckets: tuple[CountingBucket, KeyValue],
) -> None:
    ours, theirs = buckets
    cache = DocumentCache()
    await update_document(ours, "doc", Doc, appending("ours-1"), cache)
    theirs_result = await update_document(theirs, "doc", Doc, appending("theirs"))
    reads = ours.reads

    result = await update_document(ours, "doc", Doc, appending("ours-2"), cache)

    assert ours.reads == reads + 1, "the cached write was refused and the document read"
    assert values(result.doc) == ["ours-1", "theirs", "ours-2"]
    assert result.revision == theirs_result.revision + 1
    stored = await read_document(theirs, "doc", Doc)
    assert stored == (result.doc, result.revision)
    assert result.doc is not None
    assert cache.get("doc") == (result.doc.SerializeToString(deterministic=True), result.revision)


async def test_no_change_is_judged_on_the_stored_document_not_the_cached_one(
    buckets: tuple[CountingBucket, KeyValue],
) -> None:
    ours, theirs = buckets
    cache = DocumentCache()
    await update_document(ours, "doc", Doc, appending("a"), cache)
    cleared = await update_document(theirs, "doc", Doc, lambda doc: Doc())

    def ensure_a(doc: Doc | None) -> Doc | None:
        if doc is not None and "a" in values(doc):
            return None  # the cached copy still has it
        return appending("a")(doc)

    result = await update_document(ours, "doc", Doc, ensure_a, cache)

    assert result.changed, "the stored list had lost `a`: it is added again"
    assert result.revision == cleared.revision + 1
    stored = await read_document(theirs, "doc", Doc)
    assert stored is not None and values(stored[0]) == ["a"]

    unchanged = await update_document(ours, "doc", Doc, ensure_a, cache)
    assert not unchanged.changed and unchanged.revision == result.revision


async def test_an_unchanged_answer_carries_the_stored_document_and_revision(
    buckets: tuple[CountingBucket, KeyValue],
) -> None:
    ours, theirs = buckets
    cache = DocumentCache()
    await update_document(ours, "doc", Doc, appending("a"), cache)
    theirs_result = await update_document(theirs, "doc", Doc, appending("b"))

    result = await update_document(ours, "doc", Doc, lambda doc: None, cache)

    assert not result.changed
    assert (values(result.doc), result.revision) == (["a", "b"], theirs_result.revision)


async def test_a_refusal_on_a_stale_copy_is_judged_again_on_the_stored_one(
    buckets: tuple[CountingBucket, KeyValue],
) -> None:
    ours, theirs = buckets
    cache = DocumentCache()
    await update_document(ours, "doc", Doc, appending("draft"), cache)
    await update_document(theirs, "doc", Doc, appending("approved"))

    def publish(doc: Doc | None) -> Doc:
        if doc is None or "approved" not in values(doc):
            raise ValueError("not approved")
        return appending("published")(doc)

    result = await update_document(ours, "doc", Doc, publish, cache)

    assert values(result.doc) == ["draft", "approved", "published"]
    with pytest.raises(ValueError, match="not approved"):
        await update_document(ours, "other", Doc, publish, cache)


async def test_a_key_deleted_by_another_writer_is_not_brought_back_from_the_cache(
    buckets: tuple[CountingBucket, KeyValue],
) -> None:
    ours, theirs = buckets
    cache = DocumentCache()
    await update_document(ours, "doc", Doc, appending("old"), cache)
    await theirs.delete("doc")

    def change_if_present(doc: Doc | None) -> Doc | None:
        return None if doc is None else appending("new")(doc)

    missing = await update_document(ours, "doc", Doc, change_if_present, cache)
    assert missing.doc is None and not missing.changed
    assert await read_document(theirs, "doc", Doc) is None
    assert cache.get("doc") is None

    await update_document(ours, "doc", Doc, appending("old"), cache)
    await theirs.purge("doc")
    recreated = await update_document(ours, "doc", Doc, appending("fresh"), cache)
    assert values(recreated.doc) == ["fresh"], "built from nothing, not from the cached copy"
    stored = await read_document(theirs, "doc", Doc)
    assert stored is not None and values(stored[0]) == ["fresh"]
