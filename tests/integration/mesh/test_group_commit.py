"""GroupCommitter against a real nats-server: the updates of one key waiting together are
written by one compare-and-set, and each caller still gets its own outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import nats.errors
import pytest
from nats.js.kv import KeyValue

from services.mesh.kv import DocumentCache, GroupCommitter, read_document
from services.mesh.settings import NatsSettings
from tests.integration.mesh.counting_bucket import (
    CountingBucket,
    Doc,
    appending,
    one_bucket_twice,
    values,
)
from tests.support import wait_until


@pytest.fixture
async def two_instances(
    nats_settings: NatsSettings,
) -> AsyncIterator[tuple[CountingBucket, CountingBucket]]:
    """One bucket through two connections, as two instances of a service see it."""
    async with one_bucket_twice(nats_settings, "group") as pair:
        yield pair


async def stored_values(kv: KeyValue, key: str) -> list[str]:
    found = await read_document(kv, key, Doc)
    assert found is not None
    return values(found[0])


@pytest.mark.parametrize("lone_in_place", [False, True], ids=["copies", "lone_in_place"])
async def test_each_caller_gets_its_own_document_change_and_exception(
    two_instances: tuple[CountingBucket, CountingBucket], lone_in_place: bool
) -> None:
    kv, _ = two_instances
    committer = GroupCommitter(kv, Doc, DocumentCache(), lone_in_place=lone_in_place)

    def update(n: int) -> Callable[[Doc | None], Doc | None]:
        if n == 7:

            def refuse(doc: Doc | None) -> Doc:
                raise ValueError("update 7 is bad")

            return refuse
        if n == 11:
            return lambda doc: None  # changes nothing
        return appending(f"u{n}")

    outcomes = await asyncio.gather(
        *(committer.update("doc", update(n)) for n in range(20)), return_exceptions=True
    )

    assert [str(o) for o in outcomes if isinstance(o, BaseException)] == ["update 7 is bad"]
    assert kv.writes < 20, "updates waiting together were written together"
    written = [f"u{n}" for n in range(20) if n not in (7, 11)]
    assert await stored_values(kv, "doc") == written
    for n, outcome in enumerate(outcomes):
        if n == 7:
            continue
        assert not isinstance(outcome, BaseException)
        assert outcome.changed == (n != 11)
        seen = values(outcome.doc) if outcome.doc is not None else []
        # As if written one by one in arrival order: its own change and those before it.
        assert seen == [value for value in written if int(value[1:]) <= n]


async def test_a_failed_write_reaches_every_caller_of_the_group(
    two_instances: tuple[CountingBucket, CountingBucket],
) -> None:
    kv, _ = two_instances
    committer = GroupCommitter(kv, Doc, DocumentCache())
    await committer.update("doc", appending("first"))
    kv.released.clear()
    kv.writing.clear()
    holding = asyncio.create_task(committer.update("doc", appending("held")))
    await asyncio.wait_for(kv.writing.wait(), 10)
    group = [asyncio.create_task(committer.update("doc", appending(f"g{n}"))) for n in range(3)]
    await wait_until(lambda: len(committer._queues["doc"]) == 3, message="the group queued")
    kv.failures.append(nats.errors.TimeoutError())  # for the write after the held one
    kv.released.set()

    assert (await holding).changed
    outcomes = await asyncio.gather(*group, return_exceptions=True)
    assert all(isinstance(o, nats.errors.TimeoutError) for o in outcomes)
    assert await stored_values(kv, "doc") == ["first", "held"]
    assert (await committer.update("doc", appending("after"))).changed


async def test_an_update_cancelled_while_it_waits_is_left_out(
    two_instances: tuple[CountingBucket, CountingBucket],
) -> None:
    kv, _ = two_instances
    committer = GroupCommitter(kv, Doc, DocumentCache())
    kv.released.clear()
    first = asyncio.create_task(committer.update("doc", appending("first")))
    await asyncio.wait_for(kv.writing.wait(), 10)
    cancelled = asyncio.create_task(committer.update("doc", appending("cancelled")))
    kept = asyncio.create_task(committer.update("doc", appending("kept")))
    await wait_until(lambda: len(committer._queues["doc"]) == 2, message="both queued")
    cancelled.cancel()
    with pytest.raises(asyncio.CancelledError):
        await cancelled
    kv.released.set()

    await asyncio.gather(first, kept)
    assert await stored_values(kv, "doc") == ["first", "kept"]
    assert committer._queues == {}, "nothing is left behind per key"


@pytest.mark.parametrize("lone_in_place", [False, True], ids=["copies", "lone_in_place"])
async def test_two_instances_with_caches_lose_no_update(
    two_instances: tuple[CountingBucket, CountingBucket], lone_in_place: bool
) -> None:
    committers = [
        GroupCommitter(kv, Doc, DocumentCache(), lone_in_place=lone_in_place)
        for kv in two_instances
    ]

    async def append(n: int) -> None:
        await committers[n % 2].update("doc", appending(f"u{n}"))
        await asyncio.sleep(0)

    for burst in range(5):
        await asyncio.gather(*(append(burst * 20 + n) for n in range(20)))
    assert sorted(await stored_values(two_instances[0], "doc")) == sorted(
        f"u{n}" for n in range(100)
    )


async def test_a_lone_update_in_place_that_fails_leaves_the_next_its_stored_document(
    two_instances: tuple[CountingBucket, CountingBucket],
) -> None:
    """An update alone in its group gets the document itself: one that fails halfway through
    its change must not reach the caller or the next update."""
    kv, _ = two_instances
    committer = GroupCommitter(kv, Doc, DocumentCache(), lone_in_place=True)
    await committer.update("doc", appending("first"))

    def fail_halfway(doc: Doc | None) -> Doc:
        assert doc is not None
        appending("half")(doc)
        raise ValueError("failed after changing its document")

    with pytest.raises(ValueError):
        await committer.update("doc", fail_halfway)
    outcome = await committer.update("doc", appending("second"))
    assert outcome.doc is not None and values(outcome.doc) == ["first", "second"]
    assert await stored_values(kv, "doc") == ["first", "second"]
