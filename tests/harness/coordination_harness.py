"""Drivers shared by the coordination benchmark and the cross-service tests: the services as real
processes, a stub spell checker that answers every request at once, and a tap that sees every
event the stream stores (what durable consumers see, after JetStream's duplicate check)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

import grpc
from google.protobuf.message import Message
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from devstack.nats_server import free_port
from huleedu.events.v1 import events_pb2
from services.mesh import subjects
from services.mesh.publisher import HEADER_TYPE, EventPublisher
from tests.harness.coordination_events import (
    essay_requests,
    group_completed,
    spellcheck_completed,
)
from tests.support import REPO_ROOT

M = TypeVar("M", bound=Message)


async def wait_serving(
    addr: str, timeout_s: float = 30.0, process: ServiceProcess | None = None
) -> None:
    """Poll the gRPC health service at `addr` until it answers SERVING."""
    deadline = time.monotonic() + timeout_s
    async with grpc.aio.insecure_channel(addr) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            if process is not None and not process.alive:
                raise RuntimeError(f"{process.module} exited; see {process.log_path}")
            try:
                reply = await stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=1.0)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.aio.AioRpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{addr} not SERVING after {timeout_s} s")
            await asyncio.sleep(0.05)


class ServiceProcess:
    """`python -m <module>` as a child process on a fixed free port, restartable on it."""

    def __init__(
        self,
        module: str,
        *,
        addr_variable: str,
        nats_url: str,
        log_path: Path,
        extra_env: Mapping[str, str] | None = None,
    ) -> None:
        self.module = module
        self.addr = f"127.0.0.1:{free_port()}"
        self.log_path = log_path
        self.env = {
            **os.environ,
            "NATS_URL": nats_url,
            addr_variable: self.addr,
            addr_variable.replace("_ADDR", "_METRICS_ADDR"): "127.0.0.1:0",
            "PYTHONUNBUFFERED": "1",
            **(extra_env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        """True while the child runs."""
        return self.process is not None and self.process.poll() is None

    def spawn(self) -> None:
        """Start the child without waiting for it."""
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                cwd=REPO_ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    async def start(self, timeout_s: float = 30.0) -> None:
        """Start the child and wait until its health service says SERVING."""
        self.spawn()
        await wait_serving(self.addr, timeout_s, self)

    async def stop(self, *, kill: bool = False, timeout_s: float = 20.0) -> int | None:
        """SIGTERM (or SIGKILL) the child and return its exit code."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        if process.poll() is None:
            process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while process.poll() is None:
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise TimeoutError(f"{self.module} did not exit within {timeout_s} s")
            await asyncio.sleep(0.02)
        return process.returncode


def els_process(nats_url: str, log_path: Path, **env: str) -> ServiceProcess:
    """The Essay Lifecycle Service as a child process."""
    return ServiceProcess(
        "services.essay_lifecycle",
        addr_variable="ESSAY_LIFECYCLE_ADDR",
        nats_url=nats_url,
        log_path=log_path,
        extra_env=env,
    )


def bos_process(nats_url: str, log_path: Path, **env: str) -> ServiceProcess:
    """The Batch Orchestrator as a child process."""
    return ServiceProcess(
        "services.batch_orchestrator",
        addr_variable="BATCH_ORCHESTRATOR_ADDR",
        nats_url=nats_url,
        log_path=log_path,
        extra_env=env,
    )


class EventTap:
    """Every event stored on the stream from now on, decoded, with the time it arrived here."""

    def __init__(self, js: JetStreamContext, subject: str = subjects.EVENTS_SUBJECTS) -> None:
        self._js = js
        self._subject = subject
        self._subscription: Subscription | None = None
        self.received: list[tuple[float, str, Message]] = []

    async def start(self) -> None:
        """Start from the next stored message."""
        self._subscription = await self._js.subscribe(
            self._subject,
            cb=self._on_message,
            ordered_consumer=True,
            deliver_policy=DeliverPolicy.NEW,
        )

    async def stop(self) -> None:
        """Stop listening."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def _on_message(self, msg: Msg) -> None:
        message_type = subjects.message_type_for((msg.headers or {}).get(HEADER_TYPE, ""))
        if message_type is not None:
            event = message_type.FromString(msg.data)
            self.received.append((time.monotonic(), msg.subject, event))

    def of(
        self,
        event_type: type[M],
        batch_ids: Collection[str] | None = None,
        *,
        subject: str | None = None,
    ) -> list[M]:
        """The events of one type (of the given batches, on the subject), in arrival order."""
        return [event for _, event in self.timed(event_type, batch_ids, subject=subject)]

    def timed(
        self,
        event_type: type[M],
        batch_ids: Collection[str] | None = None,
        *,
        subject: str | None = None,
    ) -> list[tuple[float, M]]:
        """(arrival time, event) of one type (of the given batches), in arrival order."""
        return [
            (at, event)
            for at, on, event in self.received
            if isinstance(event, event_type)
            and (subject is None or on == subject)
            and (batch_ids is None or getattr(event, "batch_id", None) in batch_ids)
        ]

    def id_counts(self, event_type: type[Message], batch_ids: Collection[str]) -> Counter[str]:
        """How many times each event id of the type was stored."""
        return Counter(
            event.metadata.event_id  # type: ignore[attr-defined]
            for event in self.of(event_type, batch_ids)
        )


def _never(_: events_pb2.EssayLifecycleSpellcheckRequest) -> bool:
    return False


class StubSpellChecker:
    """Answers every spell-check group request at once, with one group completion: success for
    each essay, or failure where `fails` says so."""

    def __init__(
        self,
        js: JetStreamContext,
        *,
        fails: Callable[[events_pb2.EssayLifecycleSpellcheckRequest], bool] = _never,
        concurrency: int = 64,
        details_storage_id: str = "",
    ) -> None:
        self._js = js
        self._details_storage_id = details_storage_id  # what every success says it found
        self._publisher = EventPublisher(js, "stub_spell_checker")
        self._fails = fails
        self._slots = asyncio.Semaphore(concurrency)
        self._subscription: Subscription | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.answered = 0

    async def start(self) -> None:
        """Answer requests stored from now on."""
        self._subscription = await self._js.subscribe(
            subjects.SPELLCHECK_GROUP_REQUESTED,
            cb=self._on_request,
            manual_ack=True,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.NEW,
                ack_policy=AckPolicy.EXPLICIT,
                ack_wait=30,
                max_ack_pending=20_000,
            ),
        )

    async def stop(self) -> None:
        """Stop answering; wait for answers in flight."""
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _on_request(self, msg: Msg) -> None:
        await self._slots.acquire()
        task = asyncio.create_task(self._answer(msg))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _answer(self, msg: Msg) -> None:
        try:
            request = events_pb2.SpellcheckGroupRequested.FromString(msg.data)
            results = [
                spellcheck_completed(
                    essay,
                    succeed=not self._fails(essay),
                    details_storage_id=self._details_storage_id,
                )
                for essay in essay_requests([request])
            ]
            await self._publisher.publish(group_completed(request, results))
            await msg.ack()
            self.answered += len(results)
        finally:
            self._slots.release()
