"""The local stack: nats-server (store under the run directory) and the five services as local
processes, each waited for until its gRPC health check says SERVING; pids, logs and the stack's
addresses (`stack.env`) under the run directory (`.run/` by default)."""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from devstack.nats_server import (
    free_port,
    max_file_store,
    nats_server_binary,
    server_config,
)
from devstack.nats_users import OPERATOR, NatsLogins, new_password
from devstack.processes import (
    ManagedProcess,
    read_pid_files,
    remove_pid_file,
    spawn,
    stop,
    write_pid_file,
)
from services.mesh.auth import create_dev_keys
from services.mesh.health_probe import check_health
from services.mesh.metrics import DEFAULT_METRICS_ADDRS
from services.mesh.settings import DEFAULT_ADDRS, DEFAULT_NATS_URL, env_addr, env_int, env_str

REPO_ROOT = Path(__file__).resolve().parents[1]
NATS = "nats-server"
DEFAULT_MONITOR_PORT = 8222
_LOOPBACK = {"127.0.0.1", "localhost", "::1"}


class StackError(RuntimeError):
    """The stack cannot start or stop; the message says what to do."""


@dataclass(frozen=True)
class ServiceSpec:
    """One service of the mesh as the stack runs it: `python -m services.<name>`."""

    name: str
    title: str
    addr_variable: str

    @property
    def module(self) -> str:
        """The module `python -m` runs."""
        return f"services.{self.name}"

    def argv(self, python: str) -> list[str]:
        """The command line of the service."""
        return [python, "-m", self.module]


# In start order; the stack stops them in reverse.
SERVICES: tuple[ServiceSpec, ...] = (
    ServiceSpec("content_service", "Content Service", "CONTENT_SERVICE_ADDR"),
    ServiceSpec("file_service", "File Service", "FILE_SERVICE_ADDR"),
    ServiceSpec("batch_orchestrator", "Batch Orchestrator", "BATCH_ORCHESTRATOR_ADDR"),
    ServiceSpec("essay_lifecycle", "Essay Lifecycle Service", "ESSAY_LIFECYCLE_ADDR"),
    ServiceSpec("spell_checker", "Spell Checker", "SPELL_CHECKER_ADDR"),
)


@dataclass(frozen=True)
class StackAddresses:
    """Where the stack's processes listen, and the password of its NATS operator user (each
    service logs in as its own user: devstack.nats_users)."""

    nats_port: int
    monitor_port: int
    services: Mapping[str, str]
    metrics: Mapping[str, str]
    nats_password: str = field(default_factory=new_password, repr=False)

    @property
    def nats_address(self) -> str:
        """The NATS server's URL, without a login (what may be shown)."""
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def nats_url(self) -> str:
        """The NATS client URL, logged in as the operator (the CLI, tests)."""
        return f"nats://{OPERATOR}:{self.nats_password}@127.0.0.1:{self.nats_port}"

    def env(self) -> dict[str, str]:
        """The variables that point a service, the CLI or a test at this stack."""
        return {
            "NATS_URL": self.nats_url,
            **self.services,
            **self.metrics,
            "NATS_MONITOR_URL": f"http://127.0.0.1:{self.monitor_port}",
        }

    @classmethod
    def from_env(cls) -> StackAddresses:
        """The addresses the services and the CLI read: NATS_URL, the *_ADDR and *_METRICS_ADDR
        variables and NATS_MONITOR_PORT, each with its default."""
        parts = urlsplit(env_str("NATS_URL", DEFAULT_NATS_URL).split(",")[0])
        if parts.hostname not in _LOOPBACK or parts.port is None:
            raise StackError(
                f"NATS_URL={parts.geturl()} is not a local address: the local stack starts its "
                "own nats-server on 127.0.0.1 (unset NATS_URL, or give a 127.0.0.1 port)"
            )
        return cls(
            nats_port=parts.port,
            monitor_port=env_int("NATS_MONITOR_PORT", DEFAULT_MONITOR_PORT, minimum=1),
            services={name: env_addr(name) for name in DEFAULT_ADDRS},
            metrics={
                name: env_addr(name, DEFAULT_METRICS_ADDRS[name]) for name in DEFAULT_METRICS_ADDRS
            },
        )

    @classmethod
    def free(cls) -> StackAddresses:
        """Free ports on 127.0.0.1 for everything (tests, side by side with another stack)."""
        return cls(
            nats_port=free_port(),
            monitor_port=free_port(),
            services={name: f"127.0.0.1:{free_port()}" for name in DEFAULT_ADDRS},
            metrics={name: f"127.0.0.1:{free_port()}" for name in DEFAULT_METRICS_ADDRS},
        )

    def write(self, path: Path) -> None:
        """Write the addresses as a shell-sourceable env file, readable by its owner only
        (NATS_URL carries the operator's password)."""
        lines = [
            "# The local stack's addresses, written by `python -m devstack up`.",
            "# Point the CLI at it with: set -a; . .run/stack.env; set +a",
            *(f"{name}={value}" for name, value in self.env().items()),
        ]
        write_private(path, "\n".join(lines) + "\n")

    @classmethod
    def read(cls, path: Path) -> StackAddresses:
        """Read an env file written by `write`."""
        values = read_env_file(path)
        monitor = urlsplit(values["NATS_MONITOR_URL"]).port
        nats = urlsplit(values["NATS_URL"])
        assert monitor is not None and nats.port is not None
        return cls(
            nats.port,
            monitor,
            {name: values[name] for name in DEFAULT_ADDRS},
            {name: values.get(name, default) for name, default in DEFAULT_METRICS_ADDRS.items()},
            nats.password or "",
        )


def read_env_file(path: Path) -> dict[str, str]:
    """The variables of a `stack.env` file (the local stack's or the local cluster's)."""
    return dict(
        line.split("=", 1)
        for line in path.read_text().splitlines()
        if "=" in line and not line.startswith("#")
    )


def write_private(path: Path, text: str) -> None:
    """Write `text` to a new file at `path` that only its owner may read (it holds a password)."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)


@dataclass(frozen=True)
class RunDir:
    """The run directory: logs/, pids/, nats/ (the JetStream store), auth/ (development keys)
    and stack.env."""

    root: Path

    @property
    def logs(self) -> Path:
        """One log file per process."""
        return self.root / "logs"

    @property
    def pids(self) -> Path:
        """One pid file per process."""
        return self.root / "pids"

    @property
    def nats(self) -> Path:
        """The nats-server configuration and JetStream store."""
        return self.root / "nats"

    @property
    def auth(self) -> Path:
        """The development signing keys (with `--auth`): issuer.pem, services.pem, jwks.json."""
        return self.root / "auth"

    @property
    def env_file(self) -> Path:
        """The addresses of the running stack."""
        return self.root / "stack.env"

    def log_tail(self, name: str, lines: int = 15) -> str:
        """The last lines of a process's log, indented, for an error message."""
        path = self.logs / f"{name}.log"
        text = path.read_text(errors="replace") if path.exists() else ""
        return "\n".join(f"    {line}" for line in text.splitlines()[-lines:])


Report = Callable[[str], None]


@dataclass(frozen=True)
class Starting:
    """A service process that has been spawned: its gRPC address and the line reported once it
    answers SERVING."""

    name: str
    process: ManagedProcess
    addr: str
    line: str


def wait_serving(
    starting: Sequence[Starting],
    deadline: float,
    run_dir: RunDir,
    report: Report,
    error: type[Exception],
) -> None:
    """Poll each process's gRPC health until it answers SERVING, reporting each; `error` (with
    the tail of its log) when one exits, or naming the laggards at the deadline."""
    pending = list(starting)
    while pending:
        for item in list(pending):
            if not item.process.alive:
                raise error(f"{item.name} exited at start:\n{run_dir.log_tail(item.name)}")
            if check_health(item.addr, timeout_s=1.0) == "SERVING":
                pending.remove(item)
                report(item.line)
        if pending and time.monotonic() > deadline:
            names = ", ".join(item.name for item in pending)
            raise error(f"not SERVING in time: {names}; see {run_dir.logs}/<name>.log")
        if pending:
            time.sleep(0.1)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def running_processes(run_dir: RunDir) -> list[ManagedProcess]:
    """The recorded processes of the stack that are still running."""
    return [process for process in read_pid_files(run_dir.pids) if process.alive]


class LocalStack:
    """Starts and stops nats-server and the five services under one run directory."""

    def __init__(
        self,
        run_dir: RunDir,
        addresses: StackAddresses,
        *,
        python: str = sys.executable,
        report: Report = _stderr,
        auth: bool = False,
    ) -> None:
        self.run_dir = run_dir
        self.addresses = addresses
        self._python = python
        self._report = report
        self._processes: dict[str, ManagedProcess] = {}
        # With `auth`, development keys under the run directory (auth/): the services verify
        # bearer tokens against auth/jwks.json and sign their own calls with auth/services.pem.
        self._auth_env = create_dev_keys(run_dir.auth) if auth else {}
        self._logins = NatsLogins.generate(operator_password=addresses.nats_password)

    def start(self, timeout_s: float = 120.0) -> None:
        """Start everything and return once all five services say SERVING; on any failure,
        stop what was started and raise StackError."""
        if running_processes(self.run_dir):
            raise StackError(
                f"a stack is already running from {self.run_dir.root} (stop it with `make down`)"
            )
        self._check_ports_free()
        for directory in (self.run_dir.logs, self.run_dir.pids, self.run_dir.nats):
            directory.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        try:
            self._start_nats(deadline=started + 30.0)
            for spec in SERVICES:
                self._track(
                    spawn(
                        spec.name,
                        spec.argv(self._python),
                        log_path=self.run_dir.logs / f"{spec.name}.log",
                        env=self._service_env(spec.name),
                        cwd=REPO_ROOT,
                        marker=spec.module,
                    )
                )
            self._wait_serving(deadline=started + timeout_s)
        except BaseException:
            self.stop()
            raise
        self.addresses.write(self.run_dir.env_file)
        self._report(f"stack ready in {time.monotonic() - started:.1f} s")

    def stop(self) -> int:
        """Stop every process this object started, services in reverse order, NATS last;
        return how many were running."""
        stopped = stop_processes(self.run_dir, list(self._processes.values()), self._report)
        self._processes.clear()
        self.run_dir.env_file.unlink(missing_ok=True)
        return stopped

    def _track(self, process: ManagedProcess) -> None:
        self._processes[process.name] = process
        write_pid_file(self.run_dir.pids, process)

    def _check_ports_free(self) -> None:
        taken = [("NATS_URL", f"127.0.0.1:{self.addresses.nats_port}")]
        taken.append(("NATS_MONITOR_PORT", f"127.0.0.1:{self.addresses.monitor_port}"))
        taken += [*self.addresses.services.items(), *self.addresses.metrics.items()]
        for variable, addr in taken:
            if port_in_use(addr):
                raise StackError(
                    f"{addr} ({variable}) is in use, by a server or another program's "
                    f"connection: stop it (another stack? `make down`), or set {variable} to "
                    "another port"
                )

    def _start_nats(self, deadline: float) -> None:
        config = self.run_dir.nats / "nats-server.conf"
        store = (self.run_dir.nats / "jetstream").resolve()
        config.write_text(
            server_config(
                port=self.addresses.nats_port,
                monitor_port=self.addresses.monitor_port,
                store_dir=store,
                max_file_store=max_file_store(store),
                users=True,
            )
        )
        process = spawn(
            NATS,
            [nats_server_binary(), "-c", str(config.resolve())],
            log_path=self.run_dir.logs / f"{NATS}.log",
            env=self._logins.server_env(),
            cwd=REPO_ROOT,
            marker=NATS,
        )
        self._track(process)
        health = f"http://127.0.0.1:{self.addresses.monitor_port}/healthz?js-enabled-only=true"
        while time.monotonic() < deadline:
            if not process.alive:
                raise StackError(f"nats-server exited at start:\n{self.run_dir.log_tail(NATS)}")
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(health, timeout=1) as response,
            ):
                if response.status == 200:
                    address = self.addresses.nats_address
                    self._report(f"  {NATS:<20} {address:<24} pid {process.pid}")
                    return
            time.sleep(0.05)
        raise StackError(f"nats-server not healthy in time:\n{self.run_dir.log_tail(NATS)}")

    def _service_env(self, service: str) -> dict[str, str]:
        """The service's environment: the stack's addresses, and NATS as its own user."""
        return {
            **os.environ,
            **self.addresses.env(),
            **self._auth_env,
            "NATS_URL": self._logins.url(service, self.addresses.nats_address),
            "PYTHONUNBUFFERED": "1",
        }

    def _wait_serving(self, deadline: float) -> None:
        starting = []
        for spec in SERVICES:
            process = self._processes[spec.name]
            addr = self.addresses.services[spec.addr_variable]
            line = f"  {spec.name:<20} {addr:<24} pid {process.pid}"
            starting.append(Starting(spec.name, process, addr, line))
        wait_serving(starting, deadline, self.run_dir, self._report, StackError)


def stop_processes(run_dir: RunDir, processes: list[ManagedProcess], report: Report) -> int:
    """Stop the given processes (services in reverse start order, then NATS); return how many
    were running."""
    order = {spec.name: index for index, spec in enumerate(SERVICES)}
    order[NATS] = -1
    stopped = 0
    for process in sorted(processes, key=lambda p: order.get(p.name, len(order)), reverse=True):
        if process.alive:
            stop(process)
            stopped += 1
        remove_pid_file(run_dir.pids, process.name)
    if stopped:
        report(f"stopped {stopped} process(es)")
    return stopped


def stop_recorded(run_dir: RunDir, report: Report = _stderr) -> int:
    """Stop the stack recorded in the run directory (`make down`); return how many processes
    were running."""
    stopped = stop_processes(run_dir, read_pid_files(run_dir.pids), report)
    run_dir.env_file.unlink(missing_ok=True)
    return stopped


def port_in_use(addr: str) -> bool:
    """True when a server could not bind `addr` now: something listens there, or a socket of
    another program holds the port (an outgoing connection may take any port of the ephemeral
    range, 50051-50055 included). 0.0.0.0 is checked on 127.0.0.1."""
    host, _, port = addr.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    if host in {"0.0.0.0", "::"}:
        host = "127.0.0.1"
    try:
        with socket.create_connection((host, int(port)), timeout=0.3):
            return True
    except OSError:
        pass
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as servers bind
        try:
            probe.bind((host, int(port)))
        except OSError:
            return True
    return False
