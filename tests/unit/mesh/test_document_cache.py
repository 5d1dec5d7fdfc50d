"""The revision cache of services.mesh.kv: bounded, least recently used out first."""

from __future__ import annotations

import pytest

from services.mesh.kv import DocumentCache


def test_it_never_holds_more_than_its_bound_and_drops_the_least_recently_used() -> None:
    cache = DocumentCache(max_entries=3)
    for n in range(3):
        cache.keep(f"batch-{n}", b"doc", n + 1)
    assert cache.get("batch-0") == (b"doc", 1)  # used: now the most recent
    for n in range(3, 1000):
        cache.keep(f"batch-{n}", b"doc", n + 1)
        assert len(cache) <= 3
    assert [cache.get(f"batch-{n}") for n in (997, 998, 999)] == [
        (b"doc", 998),
        (b"doc", 999),
        (b"doc", 1000),
    ]
    assert cache.get("batch-0") is None


def test_a_use_keeps_an_entry_while_others_are_dropped() -> None:
    cache = DocumentCache(max_entries=2)
    cache.keep("a", b"1", 1)
    cache.keep("b", b"2", 2)
    assert cache.get("a") is not None
    cache.keep("c", b"3", 3)
    assert cache.get("a") == (b"1", 1)
    assert cache.get("b") is None


def test_an_older_revision_never_replaces_a_newer_one() -> None:
    cache = DocumentCache()
    cache.keep("k", b"new", 7)
    cache.keep("k", b"old", 5)  # a read that was overtaken by this process's own write
    assert cache.get("k") == (b"new", 7)
    cache.keep("k", b"newer", 9)
    assert cache.get("k") == (b"newer", 9)


def test_forgetting_a_revision_leaves_a_newer_one() -> None:
    cache = DocumentCache()
    cache.keep("k", b"doc", 7)
    cache.forget("k", 5)
    assert cache.get("k") == (b"doc", 7)
    cache.forget("k", 7)
    assert cache.get("k") is None
    cache.keep("k", b"doc", 8)
    cache.forget("k")
    assert cache.get("k") is None
    cache.forget("absent")


def test_a_cache_holds_at_least_one_document() -> None:
    with pytest.raises(ValueError):
        DocumentCache(max_entries=0)
