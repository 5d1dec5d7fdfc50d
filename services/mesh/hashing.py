"""Hashing that keeps the event loop free: essay-sized content is hashed on the loop (a few
microseconds, less than the hop to a thread); larger content in a thread (hashing 10 MiB takes
tens of milliseconds, and hashlib drops the GIL)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

INLINE_BYTES = 64 * 1024


async def hashed(content: bytes, digest: Callable[[bytes], T]) -> T:
    """`digest(content)`, off the event loop when `content` is large."""
    if len(content) <= INLINE_BYTES:
        return digest(content)
    return await asyncio.to_thread(digest, content)
