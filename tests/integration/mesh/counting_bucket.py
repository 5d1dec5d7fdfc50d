"""A real KV bucket handle that counts its reads and writes, and can hold writes back; one
bucket seen through two connections; a list document to append to."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from google.protobuf import struct_pb2
from nats.js.kv import KeyValue

from services.mesh.connection import connect_nats
from services.mesh.settings import NatsSettings
from services.mesh.streams import ensure_kv
from tests.support import unique

Doc = struct_pb2.ListValue


class CountingBucket(KeyValue):
    """Delegates to the bucket of `kv` (same connection), counting `get`s and writes. A write
    fails with the first of `failures` if there are any, and otherwise waits for `released`."""

    def __init__(self, kv: KeyValue) -> None:
        super().__init__(kv._name, kv._stream, kv._pre, kv._js, kv._direct)
        self.reads = 0
        self.writes = 0
        self.writing = asyncio.Event()
        self.released = asyncio.Event()
        self.released.set()
        self.failures: list[BaseException] = []

    async def get(self, key: str, *args: Any, **kwargs: Any) -> KeyValue.Entry:
        self.reads += 1
        return await super().get(key, *args, **kwargs)

    async def create(self, key: str, value: bytes, *args: Any, **kwargs: Any) -> int:
        await self._before_write()
        return await super().create(key, value, *args, **kwargs)

    async def update(self, key: str, value: bytes, *args: Any, **kwargs: Any) -> int:
        await self._before_write()
        return await super().update(key, value, *args, **kwargs)

    async def _before_write(self) -> None:
        self.writes += 1
        self.writing.set()
        if self.failures:
            raise self.failures.pop(0)
        await self.released.wait()


@asynccontextmanager
async def one_bucket_twice(
    nats_settings: NatsSettings, prefix: str
) -> AsyncIterator[tuple[CountingBucket, CountingBucket]]:
    """A new bucket through two connections, as two instances of a service see it."""
    bucket = unique(prefix).replace("-", "_")
    connections = [await connect_nats(nats_settings, f"{prefix}-{n}") for n in range(2)]
    try:
        first, second = [await ensure_kv(js, bucket, nats_settings) for _, js in connections]
        yield CountingBucket(first), CountingBucket(second)
    finally:
        for client, _ in connections:
            await client.drain()


def appending(value: str) -> Callable[[Doc | None], Doc]:
    """A mutation that appends `value` to the list."""

    def append(doc: Doc | None) -> Doc:
        doc = doc if doc is not None else Doc()
        doc.values.add(string_value=value)
        return doc

    return append


def values(doc: Doc | None) -> list[str]:
    """The strings of a stored list."""
    assert doc is not None
    return [value.string_value for value in doc.values]
