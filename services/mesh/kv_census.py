"""Counts the documents of a KV bucket by state, kept current by one KV watch (no scans).

The watch carries only the names of the keys that change (meta only), never their values: a
batch's document is rewritten once per essay event, and at hundreds of essays a batch each
revision is hundreds of kilobytes that nobody needs. A changed key is read once per refresh
(every `refresh_s`), however often it was rewritten in between, so the counts are at most that
old. Memory is one small Counter per key, so it is cheap at any size a school produces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable

import nats.errors
from nats.js.errors import KeyDeletedError, KeyNotFoundError
from nats.js.kv import KeyValue
from prometheus_client import Gauge

log = logging.getLogger(__name__)

Classify = Callable[[str, bytes], Counter[str] | None]
_RETRY_S = 2.0
REFRESH_S = 2.0
_READS_AT_ONCE = 32


class KvCensus:
    """Per-state totals over a bucket; `classify(key, value)` says what one document counts
    (None: the key is not a document, e.g. an index key)."""

    def __init__(
        self,
        kv: KeyValue,
        classify: Classify,
        gauge: Gauge,
        states: Iterable[str],
        *,
        refresh_s: float = REFRESH_S,
    ) -> None:
        self._kv = kv
        self._classify = classify
        self._gauge = gauge
        self._refresh_s = refresh_s
        self._by_key: dict[str, Counter[str]] = {}
        self._totals: Counter[str] = Counter({state: 0 for state in states})
        self._changed: set[str] = set()
        self._exported: set[str] = set()
        for state in self._totals:
            self._export(state)

    def totals(self) -> dict[str, int]:
        """The count of each state, as of the last refresh."""
        return dict(self._totals)

    def apply(self, key: str, value: bytes | None) -> None:
        """Count `value` for `key` instead of what it counted before (None: deleted)."""
        new = None if value is None else self._classify(key, value)
        old = self._by_key.pop(key, None)
        if old is not None:
            self._totals.subtract(old)
        if new is not None:
            self._by_key[key] = new
            self._totals.update(new)
            for state in new:
                self._export(state)

    async def refresh(self) -> None:
        """Read each key changed since the last refresh, once, and count what it holds now."""
        changed, self._changed = list(self._changed), set()
        for start in range(0, len(changed), _READS_AT_ONCE):
            keys = changed[start : start + _READS_AT_ONCE]
            try:
                values = await asyncio.gather(*(self._read(key) for key in keys))
            except BaseException:
                self._changed.update(changed[start:])  # read again by the next refresh
                raise
            for key, value in zip(keys, values, strict=True):
                self.apply(key, value)

    async def _read(self, key: str) -> bytes | None:
        try:
            entry = await self._kv.get(key)
        except (KeyNotFoundError, KeyDeletedError):
            return None
        # A document with every field at its default is stored empty: it counts nothing.
        return entry.value or None

    def _export(self, state: str) -> None:
        if state not in self._exported:
            self._exported.add(state)
            self._gauge.labels(state).set_function(lambda: float(self._totals[state]))

    async def follow(self) -> None:
        """Follow the bucket until cancelled."""
        while True:  # a watch that dies (NATS gone) is reopened from scratch
            try:
                await self._watch_once()
            except* (nats.errors.Error, TimeoutError) as failed:
                log.warning("kv census watch failed; reopening: %s", failed.exceptions)
            await asyncio.sleep(_RETRY_S)

    async def _watch_once(self) -> None:
        watcher = await self._kv.watchall(meta_only=True)
        self._by_key.clear()
        self._changed.clear()
        self._totals = Counter({state: 0 for state in self._totals})
        listed = asyncio.Event()
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._take_changes(watcher, listed))
                group.create_task(self._refresh_every(listed))
        finally:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await watcher.stop()  # type: ignore[no-untyped-call]

    async def _take_changes(self, watcher: KeyValue.KeyWatcher, listed: asyncio.Event) -> None:
        # A deleted key is read like a changed one (and found gone), so that a refresh reading
        # it while it is deleted never leaves its old count behind.
        async for entry in watcher:
            if entry is None:  # the end of the keys there were when the watch started
                listed.set()
            else:
                self._changed.add(entry.key)
        raise nats.errors.Error("the watch ended")  # the refreshes end with it

    async def _refresh_every(self, listed: asyncio.Event) -> None:
        await listed.wait()
        while True:
            await self.refresh()
            await asyncio.sleep(self._refresh_s)
