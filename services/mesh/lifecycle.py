"""Process lifecycle: wait for SIGTERM or SIGINT; stop background tasks for certain."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import AsyncIterator
from typing import Any

log = logging.getLogger(__name__)

# How long a cancelled task gets to end before it is cancelled again.
_RECANCEL_S = 1.0


@contextlib.asynccontextmanager
async def shutdown_signals() -> AsyncIterator[asyncio.Event]:
    """An event set when the process receives SIGTERM or SIGINT, for the duration of the block;
    entered before the service starts, so a signal during start-up stops it once started."""
    loop = asyncio.get_running_loop()
    received = asyncio.Event()

    def on_signal(signum: int) -> None:
        log.info("shutdown signal received", extra={"signal": signal.Signals(signum).name})
        received.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        yield received
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def cancel_and_wait(task: asyncio.Task[Any]) -> None:
    """Cancel `task` and return once it has ended. On Python 3.11, asyncio.wait_for can swallow
    a cancellation that arrives just as the call it wraps completes (fixed in 3.12), and nats-py
    wraps its requests in it: a loop task that lost its cancellation goes on forever, and a
    stop() awaiting it hangs. So the task is cancelled again until it ends."""
    while not task.done():
        task.cancel()
        await asyncio.wait({task}, timeout=_RECANCEL_S)
    if not task.cancelled() and task.exception() is not None:
        log.error("background task ended with an error", exc_info=task.exception())
