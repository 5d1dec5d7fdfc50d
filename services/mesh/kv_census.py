"""Counts the documents of a KV bucket by state, kept current by one KV watch (no scans).

The watch delivers every current value at start, then each change; the census keeps the state
counts of each key and the gauge reads the totals when scraped. A change is decoded only then (or
once MAX_PENDING keys have changed): a document rewritten a dozen times between two scrapes, as a
batch's is while its essays come in, is decoded once. Memory is one small Counter per key, so it
is cheap at any size a school produces.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable

import nats.errors
from nats.js.kv import KV_DEL, KV_PURGE, KeyValue
from prometheus_client import Gauge

log = logging.getLogger(__name__)

Classify = Callable[[str, bytes], Counter[str] | None]
_RETRY_S = 2.0
MAX_PENDING = 256  # changed keys kept undecoded at most


class KvCensus:
    """Per-state totals over a bucket; `classify(key, value)` says what one document counts
    (None: the key is not a document, e.g. an index key)."""

    def __init__(
        self, kv: KeyValue, classify: Classify, gauge: Gauge, states: Iterable[str]
    ) -> None:
        self._kv = kv
        self._classify = classify
        self._gauge = gauge
        self._by_key: dict[str, Counter[str]] = {}
        self._totals: Counter[str] = Counter({state: 0 for state in states})
        self._pending: dict[str, bytes | None] = {}
        self._exported: set[str] = set()
        for state in self._totals:
            self._export(state)

    def totals(self) -> dict[str, int]:
        """The current count of each state."""
        self._settle()
        return dict(self._totals)

    def apply(self, key: str, value: bytes | None) -> None:
        """Count `value` for `key` instead of what it counted before (None: deleted), from the
        next read of the counts on."""
        self._pending[key] = value
        if len(self._pending) >= MAX_PENDING:
            self._settle()

    def _settle(self) -> None:
        pending, self._pending = self._pending, {}
        for key, value in pending.items():
            new = None if value is None else self._classify(key, value)
            old = self._by_key.pop(key, None)
            if old is not None:
                self._totals.subtract(old)
            if new is not None:
                self._by_key[key] = new
                self._totals.update(new)
                for state in new:
                    self._export(state)

    def _export(self, state: str) -> None:
        if state not in self._exported:
            self._exported.add(state)
            self._gauge.labels(state).set_function(lambda: self._count(state))

    def _count(self, state: str) -> float:
        self._settle()
        return float(self._totals[state])

    async def follow(self) -> None:
        """Follow the bucket until cancelled."""
        while True:  # a watch that dies (NATS gone) is reopened from scratch
            try:
                await self._watch_once()
            except (nats.errors.Error, TimeoutError) as error:
                log.warning("kv census watch failed; reopening: %s", error)
            await asyncio.sleep(_RETRY_S)

    async def _watch_once(self) -> None:
        watcher = await self._kv.watchall()
        self._by_key.clear()
        self._pending.clear()
        self._totals = Counter({state: 0 for state in self._totals})
        try:
            async for entry in watcher:
                if entry is None:  # the end of the current values
                    continue
                deleted = entry.operation in (KV_DEL, KV_PURGE) or not entry.value
                self.apply(entry.key, None if deleted else entry.value)
        finally:
            with contextlib.suppress(nats.errors.Error, TimeoutError):
                await watcher.stop()  # type: ignore[no-untyped-call]
