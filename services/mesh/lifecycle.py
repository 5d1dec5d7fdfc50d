"""Process lifecycle: wait for SIGTERM or SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal

log = logging.getLogger(__name__)


async def wait_for_shutdown_signal() -> None:
    """Return when the process receives SIGTERM or SIGINT."""
    loop = asyncio.get_running_loop()
    received = asyncio.Event()

    def on_signal(signum: int) -> None:
        log.info("shutdown signal received", extra={"signal": signal.Signals(signum).name})
        received.set()

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    try:
        await received.wait()
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)
