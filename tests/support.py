"""Helpers shared by the test suites."""

from __future__ import annotations

import asyncio
import inspect
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

T = TypeVar("T")

REPO_ROOT = Path(__file__).resolve().parent.parent
CORPUS = (REPO_ROOT.parent / "shared" / "corpus").resolve()


async def wait_until(
    predicate: Callable[[], T | Awaitable[T]],
    *,
    timeout_s: float = 20.0,
    interval_s: float = 0.05,
    message: str = "condition",
) -> T:
    """Poll `predicate` (sync or async) until it returns a truthy value; fail at the deadline."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = predicate()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {message}")
        await asyncio.sleep(interval_s)


def unique(prefix: str) -> str:
    """A fresh id for one test, so tests can share a server."""
    return f"{prefix}-{uuid.uuid4().hex[:12]}"
