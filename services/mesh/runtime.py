"""The one lifecycle of every service: `python -m services.<name>` runs its ServiceProgram here,
and each service supplies only its settings and its wiring (`wire`, in its bootstrap.py).

The lifecycle, the same for all five:

1. read the settings; a malformed one stops the process with exit code 2 and a message naming the
   variable (EXIT_BAD_SETTINGS);
2. JSON logging at the settings' level, tracing, /metrics;
3. start (`ServiceProgram.start`, also what tests call to run a service in-process): connect to
   NATS, then the service's `wire` builds its parts on a `Wiring` (buckets, publishers, consumers,
   servicers, closers); then the runtime starts the consumers, serves gRPC with health and
   reflection (health follows the consumers and the storage), starts the background tasks and
   logs "<service> ready" with its port and start-up time. A start that fails undoes whatever it
   had started (`undone_on_failure`) and the process exits with code 1 (EXIT_START_FAILED) after
   logging why;
4. serve until SIGTERM or SIGINT, then `RunningService.stop()`: health NOT_SERVING, background
   tasks cancelled, consumers finish the messages in hand, the `draining` callbacks run, gRPC
   calls in flight finish within the service's shutdown grace (its `*_SHUTDOWN_GRACE_S` setting),
   the `closing` callbacks run (last registered first), NATS drains; exit code 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, NoReturn, Protocol, TypeVar

import grpc
from google.protobuf.message import Message
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.kv import KeyValue
from nats.js.object_store import ObjectStore

from services.mesh.audit import AuditLog
from services.mesh.connection import Reconnects, close_nats, connect_nats
from services.mesh.consumer import EventConsumer, Handler
from services.mesh.grpc_channel import DEFAULT_MAX_MESSAGE_BYTES
from services.mesh.grpc_server import GrpcServer, start_grpc_server
from services.mesh.lifecycle import cancel_and_wait, shutdown_signals
from services.mesh.logging import configure_logging
from services.mesh.metrics import MetricsSettings, start_metrics_server
from services.mesh.process_stats import process_age_s
from services.mesh.publisher import EventPublisher
from services.mesh.settings import NatsSettings, SettingsError
from services.mesh.storage_health import storage_health
from services.mesh.streams import (
    ConsumerSpec,
    ProvisioningError,
    ensure_audit_stream,
    ensure_kv,
    ensure_object_store,
    ensure_streams,
)
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

    @property
    def nats(self) -> NatsSettings:
        """The NATS servers and provisioning."""

    @property
    def addr(self) -> str:
        """The gRPC address (port 0 picks a free port)."""

    @property
    def shutdown_grace_s(self) -> float:
        """How long gRPC calls in flight may take to finish at a stop."""


S = TypeVar("S", bound=ServiceSettings)
W = TypeVar("W")  # what a service's wiring hands back: the parts its tests reach into


class Wiring:
    """What a service's `wire` builds on: the runtime's NATS connection (`nats`, `js`), and where
    it registers the parts the runtime starts and stops."""

    def __init__(
        self,
        name: str,
        settings: NatsSettings,
        connection: tuple[Client, JetStreamContext],
        reconnects: Reconnects,
        undo: contextlib.AsyncExitStack,
    ) -> None:
        self.name = name
        self.nats, self.js = connection
        self.nats_settings = settings
        self.consumers: list[EventConsumer] = []
        self.ready_fields: dict[str, Any] = {}  # extra fields of the "<service> ready" line
        self._reconnects = reconnects
        self._undo = undo
        self._streams_ensured = False
        self._services: list[tuple[str, Callable[[grpc.aio.Server], None]]] = []
        self._max_message_bytes = DEFAULT_MAX_MESSAGE_BYTES
        self._background: list[Callable[[], Coroutine[Any, Any, None]]] = []
        self._draining: list[Callable[[], Awaitable[None]]] = []
        self._closing: list[Callable[[], Awaitable[None]]] = []

    async def kv(
        self, bucket: str, *, ttl_s: float | None = None, message_ttls: bool = False
    ) -> KeyValue:
        """The KV bucket, created if it does not exist (see streams.ensure_kv)."""
        return await ensure_kv(
            self.js, bucket, self.nats_settings, ttl_s=ttl_s, message_ttls=message_ttls
        )

    async def object_store(self, bucket: str) -> ObjectStore:
        """The Object Store bucket, created if it does not exist."""
        return await ensure_object_store(self.js, bucket, self.nats_settings)

    async def events(self) -> EventPublisher:
        """A publisher of this service's events (the event streams provisioned first)."""
        await self._ensure_streams()
        return EventPublisher(self.js, self.name)

    async def audit(self) -> AuditLog:
        """This service's writer of the audit log (HULEEDU_AUDIT provisioned first)."""
        await ensure_audit_stream(self.js, self.nats_settings)
        return AuditLog(self.js, self.name)

    async def consume(
        self, spec: ConsumerSpec, handlers: Mapping[type[Message], Handler], *, concurrency: int = 8
    ) -> EventConsumer:
        """A durable consumer the runtime starts once the wiring is done; its stalls make the
        service's health NOT_SERVING."""
        await self._ensure_streams()
        consumer = EventConsumer.configured(
            self.js,
            spec,
            handlers,
            service=self.name,
            nats=self.nats_settings,
            concurrency=concurrency,
        )
        self.consumers.append(consumer)
        return consumer

    def serve(
        self,
        service_name: str,
        register: Callable[[grpc.aio.Server], None],
        *,
        max_message_bytes: int | None = None,
    ) -> None:
        """Serve the gRPC service `service_name` (`register` adds its servicer); its health and
        reflection come with it."""
        self._services.append((service_name, register))
        if max_message_bytes is not None:
            self._max_message_bytes = max_message_bytes

    def background(self, run: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run `run()` as a task once the service serves, cancelled when it stops."""
        self._background.append(run)

    def on_reconnect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` each time the NATS connection is back after it was lost."""
        self._reconnects.add(callback)

    def draining(self, callback: Callable[[], Awaitable[None]]) -> None:
        """At a stop, run `callback` after the consumers stopped and before gRPC stops (e.g. to
        end long-lived streams, so the shutdown grace need not run out)."""
        self._draining.append(callback)

    def closing(self, close: Callable[[], Awaitable[None]]) -> None:
        """At a stop, run `close` once gRPC has stopped (last registered first); also when a
        later step of the start fails."""
        self._closing.append(close)
        self._undo.push_async_callback(close)

    async def _ensure_streams(self) -> None:
        if not self._streams_ensured:
            await ensure_streams(self.js, self.nats_settings)
            self._streams_ensured = True

    async def _serve_grpc(self, addr: str) -> GrpcServer:
        def register(server: grpc.aio.Server) -> None:
            for _, add in self._services:
                add(server)

        return await start_grpc_server(
            addr,
            register,
            [name for name, _ in self._services],
            max_message_bytes=self._max_message_bytes,
        )


@dataclass
class RunningService(Generic[W]):
    """A started service: its gRPC server, NATS connection and consumers, and what its wiring
    handed back (`wired`)."""

    name: str
    wired: W
    grpc: GrpcServer
    nats: Client
    consumers: list[EventConsumer]
    start_up_s: float
    shutdown_grace_s: float
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)
    _draining: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    _closing: list[Callable[[], Awaitable[None]]] = field(default_factory=list)

    @property
    def port(self) -> int:
        """The bound gRPC port (useful when the address asked for port 0)."""
        return self.grpc.port

    async def stop(self) -> None:
        """NOT_SERVING; background tasks cancelled; the consumers finish the messages in hand;
        the draining callbacks; gRPC calls in flight finish within the shutdown grace; the
        closing callbacks, last first; NATS drained."""
        await self.grpc.enter_graceful_shutdown()
        for task in self._tasks:
            await cancel_and_wait(task)
        for consumer in self.consumers:
            await consumer.stop()
        for callback in self._draining:
            await callback()
        await self.grpc.stop(self.shutdown_grace_s)
        for close in reversed(self._closing):
            await close()
        await close_nats(self.nats)
        log.info("%s stopped", _spoken(self.name))


@dataclass(frozen=True)
class ServiceProgram(Generic[S, W]):
    """What a service supplies: its name (NATS connection, event producer, logs, metrics,
    tracing), how to read its settings and its wiring."""

    name: str
    read_settings: Callable[[], S]
    wire: Callable[[Wiring, S], Awaitable[W]]

    async def start(self, settings: S, *, from_process_start: bool = False) -> RunningService[W]:
        """Connect, wire, start consuming and serving; return once ready (health SERVING). The
        logged start-up time counts from this call, or from the start of the process (interpreter
        and imports included) with `from_process_start`."""
        started_at = time.monotonic() - (process_age_s() if from_process_start else 0.0)
        reconnects = Reconnects()
        async with undone_on_failure() as undo:
            connection = await connect_nats(settings.nats, self.name, reconnects)
            undo.push_async_callback(close_nats, connection[0])
            mesh = Wiring(self.name, settings.nats, connection, reconnects, undo)
            wired = await self.wire(mesh, settings)
            for consumer in mesh.consumers:
                await consumer.start()
                undo.push_async_callback(consumer.stop)
            server = await mesh._serve_grpc(settings.addr)
        server.follow([*mesh.consumers, storage_health(mesh.js)])
        tasks = [asyncio.create_task(run()) for run in mesh._background]
        start_up_s = time.monotonic() - started_at
        log.info(
            "%s ready",
            _spoken(self.name),
            extra={
                "grpc_port": server.port,
                "start_up_s": round(start_up_s, 2),
                **mesh.ready_fields,
            },
        )
        return RunningService(
            self.name,
            wired,
            server,
            mesh.nats,
            mesh.consumers,
            start_up_s,
            settings.shutdown_grace_s,
            tasks,
            mesh._draining,
            mesh._closing,
        )


def _spoken(name: str) -> str:
    """ "spell_checker" as it reads in a log line: "spell checker"."""
    return name.replace("_", " ")


class _StartFailed(Exception):
    """The service did not start; what it had started is stopped again."""


def run_program(program: ServiceProgram[S, Any]) -> NoReturn:
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


async def serve(program: ServiceProgram[S, Any], settings: S) -> None:
    """Start, serve until SIGTERM or SIGINT, stop."""
    configure_tracing(program.name)
    start_metrics_server(settings.metrics)
    async with shutdown_signals() as stopping:
        try:
            service = await program.start(settings, from_process_start=True)
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
