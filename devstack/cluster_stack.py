"""The local cluster: three NATS nodes with routes (JetStream R3 for every stream, bucket and the
Object Store) and N instances of every service spread over the nodes' client URLs, as processes
under one run directory (`.run/cluster/` by default): logs/, pids/, nats/<node>/, cluster.json
(the layout) and stack.env (what points the CLI at it)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from pathlib import Path

from devstack.cluster_layout import INSTANCE_DEFAULTS, ClusterLayout, InstanceAddresses
from devstack.nats_cluster import (
    ClusterError,
    NatsNode,
    kill_now,
    wait_healthy,
    wait_streams_current,
)
from devstack.nats_users import OPERATOR, NatsLogins
from devstack.processes import (
    ManagedProcess,
    read_pid_files,
    remove_pid_file,
    spawn,
    stop,
    write_pid_file,
)
from devstack.stack import (
    REPO_ROOT,
    RunDir,
    Starting,
    port_in_use,
    wait_serving,
    write_private,
)

Report = Callable[[str], None]
DEFAULT_RUN_DIR = REPO_ROOT / ".run" / "cluster"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def layout_path(run_dir: RunDir) -> Path:
    """Where the running cluster's layout is saved."""
    return run_dir.root / "cluster.json"


def auth_path(run_dir: RunDir) -> Path:
    """Where a cluster started with authentication records the AUTH_* settings of its
    instances, for the instances restarted by another process."""
    return run_dir.root / "auth.json"


def logins_path(run_dir: RunDir) -> Path:
    """Where the running cluster's NATS passwords are kept (readable by their owner only), for
    the nodes and instances restarted by another process."""
    return run_dir.nats / "logins.json"


class ClusterStack:
    """Starts, stops, kills and restarts the nodes and service instances of one cluster."""

    def __init__(
        self,
        run_dir: RunDir,
        layout: ClusterLayout,
        *,
        python: str = sys.executable,
        extra_env: Mapping[str, str] | None = None,
        sync_always: bool = True,
        logins: NatsLogins | None = None,
        auth_env: Mapping[str, str] | None = None,
        report: Report = _stderr,
    ) -> None:
        self.run_dir = run_dir
        # With `auth_env` (create_dev_keys), every instance verifies bearer tokens and signs
        # its own calls, as in the local stack started with --auth.
        self.auth_env = dict(auth_env or {})
        self.layout = layout
        # Each instance logs in as its service's NATS user (devstack.nats_users).
        self.logins = logins or NatsLogins.generate()
        self.nodes = [
            NatsNode(
                node,
                layout.nodes,
                run_dir.nats,
                run_dir.logs,
                sync_always=sync_always,
                logins=self.logins,
            )
            for node in layout.nodes
        ]
        self._python = python
        self._extra_env = dict(extra_env or {})
        self._report = report
        self._instances: dict[str, ManagedProcess] = {}

    @classmethod
    def attach(cls, run_dir: RunDir, *, report: Report = _stderr) -> ClusterStack:
        """The cluster recorded in `run_dir` (started by `up` in another process), to kill or
        restart its nodes and instances; restarted instances get this process's environment."""
        if not layout_path(run_dir).exists():
            raise ClusterError(f"no cluster recorded in {run_dir.root} (`make cluster-up`)")
        stack = cls(
            run_dir,
            ClusterLayout.read(layout_path(run_dir)),
            logins=NatsLogins.from_json(logins_path(run_dir).read_text()),
            auth_env=(
                json.loads(auth_path(run_dir).read_text()) if auth_path(run_dir).exists() else None
            ),
            report=report,
        )
        running = {p.name: p for p in read_pid_files(run_dir.pids) if p.alive}
        for node in stack.nodes:
            node.process = running.get(node.name)
        stack._instances = {
            i.name: running[i.name] for i in stack.layout.instances if i.name in running
        }
        return stack

    # -- whole cluster ------------------------------------------------------------------------

    def start(self, timeout_s: float = 240.0, *, hold: Collection[str] = ()) -> None:
        """Start the nodes, wait until all are healthy, then the instances wave by wave (see
        ClusterLayout.start_waves), each waited for until SERVING; on any failure stop what was
        started and raise ClusterError. Instances of the services named in `hold` are left for
        `start_instances`."""
        if any(process.alive for process in read_pid_files(self.run_dir.pids)):
            raise ClusterError(
                f"a cluster is already running from {self.run_dir.root} "
                "(stop it with `make cluster-down`)"
            )
        for what, addr in self.layout.bound_addresses():
            if port_in_use(addr):
                raise ClusterError(
                    f"{addr} ({what}) is already in use: stop what listens there "
                    "(`make down`? `make cluster-down`?), or use --free-ports"
                )
        for folder in (self.run_dir.logs, self.run_dir.pids, self.run_dir.nats):
            folder.mkdir(parents=True, exist_ok=True)
        write_private(logins_path(self.run_dir), self.logins.to_json())
        auth_path(self.run_dir).unlink(missing_ok=True)
        if self.auth_env:
            auth_path(self.run_dir).write_text(json.dumps(self.auth_env))
        started = time.monotonic()
        deadline = started + timeout_s
        try:
            for node in self.nodes:
                write_pid_file(self.run_dir.pids, node.start())
            wait_healthy(self.nodes, deadline=min(deadline, started + 60.0))
            self._wait_streams_current(deadline - time.monotonic())
            for node in self.nodes:
                self._report(f"  {node.name:<22} {node.addresses.client_url:<24} pid {node.pid}")
            for wave in self.layout.start_waves():
                started_now = [instance for instance in wave if instance.service not in hold]
                for instance in started_now:
                    self._spawn(instance)
                self._wait_serving(started_now, deadline)
        except BaseException:
            self.stop()
            raise
        self.layout.write(layout_path(self.run_dir))
        self.layout.write_env(self.run_dir.env_file, nats_url=self.nats_url)
        self._report(
            f"cluster ready in {time.monotonic() - started:.1f} s: {len(self.nodes)} NATS nodes, "
            f"{len(self.layout.instances)} service instances"
        )

    def stop(self) -> int:
        """Stop every instance this object started (last started first), then the nodes;
        return how many processes were running."""
        stopped = 0
        try:
            for name in reversed(list(self._instances)):
                stopped += self._stop_process(self._instances.pop(name))
        finally:  # the nodes go even when stopping an instance was interrupted
            for node in self.nodes:
                if node.process is not None:
                    stopped += self._stop_process(node.process)
                    node.process = None
            for recorded in (
                layout_path(self.run_dir),
                logins_path(self.run_dir),
                auth_path(self.run_dir),
            ):
                recorded.unlink(missing_ok=True)
            self.run_dir.env_file.unlink(missing_ok=True)
        return stopped

    # -- one node -----------------------------------------------------------------------------

    def node(self, name: str) -> NatsNode:
        """The node whose server_name is `name` (`n1`...)."""
        return next(node for node in self.nodes if node.addresses.name == name)

    def kill_node(self, name: str) -> None:
        """SIGKILL one nats-server; its store stays for the restart."""
        node = self.node(name)
        node.kill()
        remove_pid_file(self.run_dir.pids, node.name)
        self._report(f"  killed {node.name}")

    def restart_node(self, name: str, timeout_s: float = 60.0) -> None:
        """Start a killed node again on its ports and store; return once its /healthz says it
        has caught up with the meta leader."""
        node = self.node(name)
        write_pid_file(self.run_dir.pids, node.start())
        wait_healthy([node], deadline=time.monotonic() + timeout_s)
        self._report(f"  restarted {node.name} (pid {node.pid})")

    def _wait_streams_current(self, timeout_s: float) -> None:
        asyncio.run(wait_streams_current(self.nats_url.split(","), timeout_s))

    # -- one instance -------------------------------------------------------------------------

    def processes(self) -> dict[str, ManagedProcess]:
        """Every process of the cluster by name: nodes (`nats-n1`) and instances
        (`spell_checker-1`); each leads its own process group, workers included."""
        nodes = {node.name: node.process for node in self.nodes if node.process is not None}
        return {**nodes, **self._instances}

    def kill_instance(self, name: str) -> None:
        """SIGKILL one instance and its worker processes."""
        kill_now(self._instances.pop(name))
        remove_pid_file(self.run_dir.pids, name)
        self._report(f"  killed {name}")

    def restart_instance(self, name: str, timeout_s: float = 120.0) -> None:
        """Start an instance again on its addresses; return once it is SERVING."""
        self.start_instances([name], timeout_s)

    def start_instances(self, names: Sequence[str], timeout_s: float = 120.0) -> None:
        """Start these instances at once (held back at start, or killed); return once every
        one is SERVING."""
        instances = [self.layout.instance(name) for name in names]
        for instance in instances:
            self._spawn(instance)
        self._wait_serving(instances, time.monotonic() + timeout_s)

    @property
    def nats_url(self) -> str:
        """Every node's client URL, logged in as the operator (the CLI, tests)."""
        return self.logins.url(OPERATOR, self.layout.nats_url)

    def instance_env(self, instance: InstanceAddresses) -> dict[str, str]:
        """The environment of one instance: worker defaults for a small machine, then the
        caller's environment and extra settings, then the cluster's addresses and replicas, and
        NATS as its service's own user."""
        cluster = self.layout.instance_env(instance)
        return {
            **INSTANCE_DEFAULTS,
            **os.environ,
            **self._extra_env,
            **self.auth_env,
            **cluster,
            "NATS_URL": self.logins.url(instance.service, cluster["NATS_URL"]),
            "PYTHONUNBUFFERED": "1",
        }

    def _spawn(self, instance: InstanceAddresses) -> None:
        process = spawn(
            instance.name,
            instance.spec.argv(self._python),
            log_path=self.run_dir.logs / f"{instance.name}.log",
            env=self.instance_env(instance),
            cwd=REPO_ROOT,
            marker=instance.spec.module,
        )
        self._instances[instance.name] = process
        write_pid_file(self.run_dir.pids, process)

    def _wait_serving(self, instances: list[InstanceAddresses], deadline: float) -> None:
        starting = []
        for instance in instances:
            process = self._instances[instance.name]
            home = self.layout.nodes[instance.home_node].name
            line = f"  {instance.name:<22} {instance.grpc_addr:<24} pid {process.pid} (home {home})"
            starting.append(Starting(instance.name, process, instance.grpc_addr, line))
        wait_serving(starting, deadline, self.run_dir, self._report, ClusterError)

    def _stop_process(self, process: ManagedProcess) -> int:
        running = process.alive
        if running:
            stop(process)
        remove_pid_file(self.run_dir.pids, process.name)
        return int(running)


def stop_recorded(run_dir: RunDir, report: Report = _stderr) -> int:
    """Stop the cluster recorded in the run directory (`make cluster-down`): service instances
    first (last started first), NATS nodes last; return how many processes were running."""
    recorded = read_pid_files(run_dir.pids)
    nodes = [process for process in recorded if process.name.startswith("nats-")]
    instances = sorted(
        (process for process in recorded if not process.name.startswith("nats-")),
        key=lambda process: process.name.rsplit("-", 1)[-1],
        reverse=True,
    )
    stopped = 0
    for process in [*instances, *nodes]:
        if process.alive:
            stop(process)
            stopped += 1
        remove_pid_file(run_dir.pids, process.name)
    layout_path(run_dir).unlink(missing_ok=True)
    logins_path(run_dir).unlink(missing_ok=True)
    run_dir.env_file.unlink(missing_ok=True)
    if stopped:
        report(f"stopped {stopped} process(es)")
    return stopped
