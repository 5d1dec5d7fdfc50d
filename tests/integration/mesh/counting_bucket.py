"""A real KV bucket handle that counts its reads and writes, and can hold writes back."""

from __future__ import annotations

import asyncio
from typing import Any

from nats.js.kv import KeyValue


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
