"""The one lifecycle of every service's process: `python -m services.<name>` runs its
ServiceProgram here, and each service supplies only its settings and its wiring (`start`).

The lifecycle, the same for all five:

1. read the settings; a malformed one stops the process with exit code 2 and a message naming the
   variable (EXIT_BAD_SETTINGS);
2. JSON logging at the settings' level, tracing, /metrics;
3. `start`: connect, provision, consume, serve gRPC with health and reflection. A start that fails
   undoes whatever it had started (`undone_on_failure`) and the process exits with code 1
   (EXIT_START_FAILED) after logging why;
4. serve until SIGTERM or SIGINT, then `stop()`: health NOT_SERVING, the work in hand finished
   within the service's shutdown grace (its `*_SHUTDOWN_GRACE_S` setting), connections closed,
   exit code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, NoReturn, Protocol, TypeVar

from services.mesh.lifecycle import shutdown_signals
from services.mesh.logging import configure_logging
from services.mesh.metrics import MetricsSettings, start_metrics_server
from services.mesh.settings import SettingsError
from services.mesh.streams import ProvisioningError
from services.mesh.tracing import configure_tracing

log = logging.getLogger(__name__)

EXIT_START_FAILED = 1
EXIT_BAD_SETTINGS = 2


class ServiceSettings(Protocol):
    """What the runtime reads of any service's settings."""

    @property
    def log_level(self) -> str:
        """The level of the JSON log lines."""

    @property
    def metrics(self) -> MetricsSettings:
        """Where /metrics is served, if at all."""


S = TypeVar("S", bound=ServiceSettings)


class RunningService(Protocol):
    """A started service."""

    async def stop(self) -> None:
        """Stop gracefully, within the service's shutdown grace."""


@dataclass(frozen=True)
class ServiceProgram(Generic[S]):
    """What a service supplies: its name (logs, metrics, tracing), how to read its settings and
    how to start it."""

    name: str
    read_settings: Callable[[], S]
    start: Callable[[S], Awaitable[RunningService]]


class _StartFailed(Exception):
    """The service did not start; what it had started is stopped again."""


def run_program(program: ServiceProgram[S]) -> NoReturn:
    """The process's whole life; exits with 0, EXIT_BAD_SETTINGS or EXIT_START_FAILED."""
    try:
        settings = program.read_settings()
    except SettingsError as error:
        print(f"{program.name}: {error}", file=sys.stderr)
        sys.exit(EXIT_BAD_SETTINGS)
    configure_logging(program.name, settings.log_level)
    try:
        asyncio.run(serve(program, settings))
    except _StartFailed:
        sys.exit(EXIT_START_FAILED)
    sys.exit(0)


async def serve(program: ServiceProgram[S], settings: S) -> None:
    """Start, serve until SIGTERM or SIGINT, stop."""
    configure_tracing(program.name)
    start_metrics_server(settings.metrics)
    async with shutdown_signals() as stopping:
        try:
            service = await program.start(settings)
        except ProvisioningError as error:  # says what to check: no traceback needed
            log.error("%s did not start: %s", program.name, error)
            raise _StartFailed from error
        except Exception as error:
            log.exception("%s did not start: %s", program.name, error)
            raise _StartFailed from error
        try:
            await stopping.wait()
        finally:
            await service.stop()


@contextlib.asynccontextmanager
async def undone_on_failure() -> AsyncIterator[contextlib.AsyncExitStack]:
    """For a start: register how to undo each step as it succeeds (`push_async_callback`);
    when a later step fails (or the start is cancelled), every registered undo runs, last
    first, and the failure goes on. When the block completes, nothing is undone."""
    async with contextlib.AsyncExitStack() as undo:
        yield undo
        undo.pop_all()
