"""The stack as a fault-injection target: one nats-server and N instances of each service as
processes that a test can SIGKILL, SIGTERM and restart on the same addresses and store.

Built on the same pieces as the local stack (`processes.spawn`, `NatsServer`, the gRPC health
probe). Instance `i` of a service dials instance `i` (modulo their number) of each service it
calls, so with two instances of everything each process has a partner and a client spreads its
calls over the instances; the durable consumers are shared by every instance of a service.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from devstack.nats_server import NatsServer, free_port
from devstack.processes import ManagedProcess, spawn
from devstack.stack import REPO_ROOT, SERVICES, ServiceSpec
from services.mesh.health_probe import check_health

Report = Callable[[str], None]


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def metrics_variable(spec: ServiceSpec) -> str:
    """CONTENT_SERVICE_ADDR → CONTENT_SERVICE_METRICS_ADDR."""
    return spec.addr_variable.removesuffix("_ADDR") + "_METRICS_ADDR"


@dataclass
class ServiceInstance:
    """One process of a service: its own gRPC and metrics addresses, log and environment; the
    process of its latest start, and when that start happened."""

    spec: ServiceSpec
    index: int
    addr: str
    metrics_addr: str
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: ManagedProcess | None = None
    started_at: float = 0.0
    starts: int = 0

    @property
    def name(self) -> str:
        """`<service>-<index>`, e.g. `essay_lifecycle-1`."""
        return f"{self.spec.name}-{self.index}"

    @property
    def alive(self) -> bool:
        """True while the latest process runs."""
        return self.process is not None and self.process.alive

    @property
    def returncode(self) -> int | None:
        """The exit code of the latest process once it has exited."""
        if self.process is None or self.process.popen is None:
            return None
        return self.process.popen.poll()


class ChaosStack:
    """nats-server plus `instances[name]` processes of each of the five services."""

    def __init__(
        self,
        root: Path,
        *,
        instances: Mapping[str, int] | None = None,
        env: Mapping[str, str] | None = None,
        python: str = sys.executable,
        report: Report = _stderr,
    ) -> None:
        self.root = root
        self.logs = root / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)
        self.nats = NatsServer(root / "nats", log_file=self.logs / "nats-server.log")
        self._python = python
        self._report = report
        self._extra_env = dict(env or {})
        counts = {spec.name: (instances or {}).get(spec.name, 1) for spec in SERVICES}
        self.services: dict[str, list[ServiceInstance]] = {
            spec.name: [
                ServiceInstance(
                    spec,
                    index,
                    addr=f"127.0.0.1:{free_port()}",
                    metrics_addr=f"127.0.0.1:{free_port()}",
                    log_path=self.logs / f"{spec.name}-{index}.log",
                )
                for index in range(counts[spec.name])
            ]
            for spec in SERVICES
        }

    # ---------------------------------------------------------------- addresses

    def instances(self, name: str | None = None) -> list[ServiceInstance]:
        """The instances of one service, or of all services in start order."""
        if name is not None:
            return list(self.services[name])
        return [instance for spec in SERVICES for instance in self.services[spec.name]]

    def addrs(self, name: str) -> list[str]:
        """The gRPC addresses of every instance of a service."""
        return [instance.addr for instance in self.services[name]]

    def client_env(self) -> dict[str, str]:
        """NATS_URL and each service's *_ADDR (its first instance), for a client or the CLI."""
        env = {"NATS_URL": self.nats.url}
        env.update({spec.addr_variable: self.services[spec.name][0].addr for spec in SERVICES})
        return env

    def environment_of(self, instance: ServiceInstance) -> dict[str, str]:
        """The environment the instance runs with: this process's, NATS_URL, its own gRPC and
        metrics addresses, instance `index % n` of every other service, then the extra env."""
        env = {**os.environ, "NATS_URL": self.nats.url, "PYTHONUNBUFFERED": "1"}
        for spec in SERVICES:
            partners = self.services[spec.name]
            env[spec.addr_variable] = partners[instance.index % len(partners)].addr
        env[instance.spec.addr_variable] = instance.addr
        env[metrics_variable(instance.spec)] = instance.metrics_addr
        env.update(self._extra_env)
        return env

    # ---------------------------------------------------------------- whole stack

    def start(self, timeout_s: float = 120.0) -> None:
        """Start nats-server, then every instance; return once all say SERVING."""
        started = time.monotonic()
        self.nats.start()
        try:
            for instance in self.instances():
                self.spawn(instance)
            for instance in self.instances():
                self.wait_serving(instance, deadline=started + timeout_s)
        except BaseException:
            self.stop()
            raise
        self._report(
            f"chaos stack ready in {time.monotonic() - started:.1f} s: "
            + ", ".join(f"{name}×{len(group)}" for name, group in self.services.items())
        )

    def stop(self) -> None:
        """Stop every instance (SIGTERM, SIGKILL after a while), then nats-server."""
        for instance in reversed(self.instances()):
            if instance.alive:
                self.terminate(instance, timeout_s=20.0)
            self._reap_group(instance)
        self.nats.stop()

    # ---------------------------------------------------------------- one instance

    def spawn(self, instance: ServiceInstance) -> None:
        """Start the instance's process without waiting for it (a restart when it ran before)."""
        if instance.alive:
            raise RuntimeError(f"{instance.name} is running")
        instance.env = self.environment_of(instance)
        instance.started_at = time.monotonic()
        instance.starts += 1
        instance.process = spawn(
            instance.name,
            instance.spec.argv(self._python),
            log_path=instance.log_path,
            env=instance.env,
            cwd=REPO_ROOT,
            marker=instance.spec.module,
        )

    def wait_serving(self, instance: ServiceInstance, *, deadline: float) -> float:
        """Poll gRPC health until SERVING; return the monotonic time it first did."""
        while True:
            if not instance.alive:
                raise RuntimeError(f"{instance.name} exited; see {instance.log_path}")
            if check_health(instance.addr, timeout_s=1.0) == "SERVING":
                return time.monotonic()
            if time.monotonic() > deadline:
                raise TimeoutError(f"{instance.name} not SERVING in time; see {instance.log_path}")
            time.sleep(0.05)

    def restart(self, instance: ServiceInstance, timeout_s: float = 60.0) -> tuple[float, float]:
        """Start the instance again on its addresses; (spawned_at, serving_at), monotonic."""
        self.spawn(instance)
        serving = self.wait_serving(instance, deadline=time.monotonic() + timeout_s)
        return instance.started_at, serving

    def kill(self, instance: ServiceInstance) -> None:
        """SIGKILL the instance's main process (a crash), wait until it is gone, then SIGKILL
        what is left of its process group (workers it can no longer reap)."""
        process = instance.process
        if process is None or not process.alive:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        deadline = time.monotonic() + 10.0
        while process.alive:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{instance.name} (pid {process.pid}) survived SIGKILL")
            time.sleep(0.01)
        self._reap_group(instance)

    def terminate(self, instance: ServiceInstance, timeout_s: float = 30.0) -> int | None:
        """SIGTERM the instance and wait for it to exit; its exit code, or None if it had to be
        SIGKILLed after `timeout_s`."""
        process = instance.process
        if process is None or process.popen is None:
            return None
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while process.alive and time.monotonic() < deadline:
            time.sleep(0.02)
        if process.alive:
            self.kill(instance)
            return None
        return process.popen.returncode

    def _reap_group(self, instance: ServiceInstance) -> None:
        if instance.process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(instance.process.pid, signal.SIGKILL)

    # ---------------------------------------------------------------- nats-server

    def kill_nats(self) -> None:
        """SIGKILL nats-server."""
        self.nats.stop(kill=True)

    def start_nats(self) -> float:
        """Start nats-server again on its port and store; the monotonic time it is healthy."""
        self.nats.start()
        return time.monotonic()
