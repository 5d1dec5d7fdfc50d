"""The chaos suite's fault side: a driver that SIGKILLs service instances or nats-server at
seeded random moments and restarts them, and the recovery time of each restart (the first work
the new process finishes: an ack its consumer sends, or a gRPC call it answers)."""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import time
import urllib.error
import urllib.request
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import nats
import nats.errors
from nats.js import JetStreamContext

from devstack.chaos import ChaosStack, ServiceInstance
from services.mesh.streams import EVENTS_STREAM
from tests.e2e.chaos_observer import AckObserver
from tests.harness.figures import percentile

NATS = "nats-server"
# The durable consumer each service binds (the Content Service consumes none).
DURABLE_OF = {
    "file_service": "file_service",
    "batch_orchestrator": "bos",
    "essay_lifecycle": "els",
    "spell_checker": "spell_checker",
}
_GRPC_OK = re.compile(r'^huleedu_grpc_requests_total\{[^}]*code="OK"[^}]*\} (\S+)$', re.M)
_ACKED = re.compile(r'^huleedu_events_handled_total\{[^}]*outcome="ack"[^}]*\} (\S+)$', re.M)


# Every seed drawn in this session, printed in pytest's summary even when output is captured.
SEEDS_USED: list[int] = []


def chaos_seed() -> int:
    """CHAOS_SEED from the environment (to replay a run), else a fresh one; printed either way."""
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1_000_000))
    print(f"chaos seed {seed} (replay with CHAOS_SEED={seed})")
    SEEDS_USED.append(seed)
    return seed


def _metrics(instance: ServiceInstance) -> str:
    try:
        with urllib.request.urlopen(f"http://{instance.metrics_addr}/metrics", timeout=1) as reply:
            return str(reply.read().decode())
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return ""


def grpc_calls_served(instance: ServiceInstance) -> float:
    """gRPC calls the instance's current process answered OK, from its /metrics."""
    return sum(float(value) for value in _GRPC_OK.findall(_metrics(instance)))


def events_acked(instance: ServiceInstance) -> float:
    """Events the instance's current process handled and acked, from its /metrics."""
    return sum(float(value) for value in _ACKED.findall(_metrics(instance)))


def log_lines(instance: ServiceInstance, *messages: str) -> int:
    """Lines of the instance's log (every start of it) whose message is one of `messages`."""
    if not instance.log_path.exists():
        return 0
    needles = [f'"message": "{message}' for message in messages]
    text = instance.log_path.read_text(errors="replace")
    return sum(any(needle in line for needle in needles) for line in text.splitlines())


# Services without /metrics, and the log lines that mark a unit of their work.
WORK_LOG_LINES = {
    "batch_orchestrator": ("batch registered", "batch finished"),
    "spell_checker": ("essay checked",),
}


def work_done(instance: ServiceInstance) -> float:
    """A count that grows with the work the instance does: gRPC calls answered OK plus events
    acked by its current process (/metrics), or, for a service without /metrics, the log lines
    of its work over every start."""
    lines = WORK_LOG_LINES.get(instance.spec.name)
    if lines is not None:
        return float(log_lines(instance, *lines))
    return grpc_calls_served(instance) + events_acked(instance)


@dataclass
class Fault:
    """One fault: what was killed, when (seconds into the run), how long it stayed down, and how
    it came back."""

    target: str
    at_s: float
    down_s: float
    restarted_at: float = 0.0
    serving_s: float = 0.0
    recovered_s: float | None = None
    work_waiting: bool = True

    def describe(self) -> str:
        """One line for the test output."""
        recovered = f"{self.recovered_s:.2f} s" if self.recovered_s is not None else "-"
        return (
            f"{self.at_s:6.1f} s  kill {self.target:<22} down {self.down_s:.2f} s  "
            f"serving after {self.serving_s:.2f} s  first work after {recovered}"
            + ("" if self.work_waiting else " (no work was waiting)")
        )


@dataclass
class FaultDriver:
    """SIGKILLs a random service instance (`mode` "services"), nats-server ("nats"), or one of
    either ("mixed") at seeded random moments in the first `window_s` seconds, one fault at a
    time, each restarted after a random downtime."""

    stack: ChaosStack
    observer: AckObserver
    js: JetStreamContext
    rng: random.Random
    mode: str
    faults_wanted: int
    window_s: float
    down_s: tuple[float, float] = (0.0, 2.5)
    faults: list[Fault] = field(default_factory=list)
    work_of_killed: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    _probes: list[asyncio.Task[None]] = field(default_factory=list)
    _workload: asyncio.Task[object] | None = None

    def schedule(self) -> list[tuple[float, str]]:
        """(seconds into the run, target) of every fault, drawn from the seed."""
        times = sorted(self.rng.uniform(1.0, self.window_s) for _ in range(self.faults_wanted))
        # Every instance once in a random order, then again in another, and so on: random
        # victims, and each service hit when there are at least as many faults as instances.
        victims: list[str] = []
        while len(victims) < self.faults_wanted:
            names = [i.name for i in self.stack.instances()]
            self.rng.shuffle(names)
            victims.extend(names)
        targets = [
            NATS if self.mode == "nats" or (self.mode == "mixed" and n % 2 == 1) else victims[n]
            for n in range(self.faults_wanted)
        ]
        return list(zip(times, targets, strict=True))

    async def run(self, started: float, workload: asyncio.Task[object]) -> None:
        """Inject the scheduled faults while the workload runs (the schedule is the point, so
        the waits between faults are sleeps); stop early if the workload fails."""
        self._workload = workload
        by_name = {i.name: i for i in self.stack.instances()}
        for at_s, target in self.schedule():
            delay = at_s - (time.monotonic() - started)
            if delay > 0:
                await asyncio.sleep(delay)
            if workload.done() and workload.exception() is not None:
                return
            down = self.rng.uniform(*self.down_s)
            fault = Fault(target, time.monotonic() - started, down)
            self.faults.append(fault)
            if target == NATS:
                await asyncio.to_thread(self.stack.kill_nats)
                await asyncio.sleep(down)
                fault.restarted_at = await asyncio.to_thread(self.stack.start_nats)
                fault.serving_s = 0.0
                self._probes.append(asyncio.create_task(self._probe_nats(fault)))
            else:
                instance = by_name[target]
                if instance.spec.name not in WORK_LOG_LINES:  # its counters die with it
                    self.work_of_killed[target] += await asyncio.to_thread(work_done, instance)
                await asyncio.to_thread(self.stack.kill, instance)
                await asyncio.sleep(down)
                spawned, serving = await asyncio.to_thread(self.stack.restart, instance)
                fault.restarted_at = spawned
                fault.serving_s = serving - spawned
                self._probes.append(asyncio.create_task(self._probe_service(fault, instance)))
            print(fault.describe(), flush=True)

    async def finish(self) -> None:
        """Wait for the recovery probes."""
        await asyncio.gather(*self._probes)

    def work_shares(self) -> dict[str, float]:
        """`work_done` of each instance over the run, the processes it killed included."""
        return {
            i.name: self.work_of_killed.get(i.name, 0.0) + work_done(i)
            for i in self.stack.instances()
        }

    async def _backlog(self, durable: str) -> tuple[int, int] | None:
        """(num_pending, num_ack_pending) of a durable, None while JetStream cannot say."""
        try:
            info = await self.js.consumer_info(EVENTS_STREAM, durable, timeout=2)
        except (nats.errors.Error, TimeoutError):
            return None
        return info.num_pending or 0, info.num_ack_pending or 0

    async def _probe_service(self, fault: Fault, instance: ServiceInstance) -> None:
        """Time from the restart to the first unit of work the new process finishes: an ack on
        its durable consumer (seen by the observer, while it is the only instance of its
        service), or growth of `work_done` (its /metrics, or its log). Work was waiting if, once
        it served, its durable had messages to deliver (consumers), or the workload was still
        running (the gRPC services)."""
        durable = DURABLE_OF.get(instance.spec.name)
        alone = len(self.stack.instances(instance.spec.name)) == 1
        if durable is not None and durable != "file_service":
            backlog = await self._backlog(durable)
            fault.work_waiting = backlog is None or backlog[0] > 0
        else:
            fault.work_waiting = self._workload is None or not self._workload.done()
        before = await asyncio.to_thread(work_done, instance)
        if instance.spec.name not in WORK_LOG_LINES:
            before = 0.0  # a new process: its counters start at zero
        deadline = fault.restarted_at + 120.0
        while time.monotonic() < deadline:
            times = []
            if durable is not None and alone:
                ack = self.observer.first_ack_after(durable, fault.restarted_at)
                if ack is not None:
                    times.append(ack)
            if await asyncio.to_thread(work_done, instance) > before:
                times.append(time.monotonic())
            if times:
                fault.recovered_s = min(times) - fault.restarted_at
                return
            await asyncio.sleep(0.05)

    async def _probe_nats(self, fault: Fault) -> None:
        """Time from nats-server healthy again until every durable consumer that had messages
        (to deliver, or delivered and unanswered) has acked one again: the slowest resumption,
        not the first."""
        deadline = fault.restarted_at + 120.0
        waiting: list[str] = []
        for durable in DURABLE_OF.values():
            backlog = await self._backlog(durable)
            while backlog is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
                backlog = await self._backlog(durable)
            if backlog is not None and sum(backlog) > 0:
                waiting.append(durable)
        fault.work_waiting = bool(waiting)
        while time.monotonic() < deadline:
            acks = [self.observer.first_ack_after(d, fault.restarted_at) for d in waiting]
            if all(at is not None for at in acks):
                fault.recovered_s = max((at for at in acks if at is not None), default=0.0) - (
                    fault.restarted_at
                )
                return
            await asyncio.sleep(0.05)


def recovery_summary(faults: Sequence[Fault]) -> dict[str, object]:
    """p50 and max of restart → first work, over the restarts that had work waiting: service
    restarts, and nats-server restarts (until every consumer with messages acks again)."""
    services = [f.recovered_s for f in faults if f.target != NATS and f.work_waiting]
    nats_server = [f.recovered_s for f in faults if f.target == NATS and f.work_waiting]
    summary: dict[str, object] = {}
    for name, values in (("service_restart", services), ("nats_restart", nats_server)):
        measured = [v for v in values if v is not None]
        if measured:
            summary[name] = {
                "count": len(measured),
                "unmeasured": len(values) - len(measured),
                "p50_s": round(percentile(measured, 0.5), 2),
                "max_s": round(max(measured), 2),
            }
    summary["serving_after_restart_max_s"] = round(
        max((f.serving_s for f in faults if f.target != NATS), default=0.0), 2
    )
    return summary


def print_report(title: str, figures: dict[str, object]) -> None:
    """The run's figures as one JSON line, for the test output and the report."""
    print(f"{title}: {json.dumps(figures, sort_keys=True)}", flush=True)
