"""The NATS side of the local cluster: nats-server processes on loopback with routes between them,
JetStream on each with its own store (`sync_interval: always`), and what JetStream says about
the replicas of every stream (leader, peers current, lag)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import nats
import nats.errors
from nats.js import JetStreamContext

from devstack.cluster_layout import CLUSTER_NAME, NodeAddresses
from devstack.nats_server import (
    ClusterRoutes,
    max_file_store,
    nats_server_binary,
    server_config,
)
from devstack.nats_users import NatsLogins
from devstack.processes import ManagedProcess, spawn, stop
from devstack.stack import REPO_ROOT


class ClusterError(RuntimeError):
    """The cluster cannot start, stop or recover; the message says what to do."""


def node_health(node: NodeAddresses, *, timeout_s: float = 1.0) -> tuple[int, str]:
    """The HTTP status and body of the node's /healthz (JetStream current and a meta leader
    known); (0, reason) when the node does not answer."""
    try:
        with urllib.request.urlopen(f"{node.monitor_url}/healthz", timeout=timeout_s) as reply:
            return int(reply.status), reply.read().decode(errors="replace").strip()
    except urllib.error.HTTPError as error:
        return int(error.code), error.read().decode(errors="replace").strip()
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        return 0, str(error)


class NatsNode:
    """One node: its configuration and JetStream store under `root/<name>/`; `start()` after a
    kill reuses both, as a restarted machine would."""

    def __init__(
        self,
        addresses: NodeAddresses,
        peers: Sequence[NodeAddresses],
        root: Path,
        logs: Path,
        *,
        sync_always: bool = True,
        logins: NatsLogins | None = None,
    ) -> None:
        self.addresses = addresses
        self.folder = root / addresses.name
        self.log_path = logs / f"nats-{addresses.name}.log"
        self._peers = [peer for peer in peers if peer.name != addresses.name]
        self._sync_always = sync_always
        self._logins = logins
        self.process: ManagedProcess | None = None

    @property
    def name(self) -> str:
        """The process name, e.g. `nats-n1` (the node's server_name is `n1`)."""
        return f"nats-{self.addresses.name}"

    @property
    def pid(self) -> int | None:
        """The pid of the running process, if any."""
        return self.process.pid if self.process is not None else None

    @property
    def config_path(self) -> Path:
        """The configuration file; its path is the marker that identifies the process."""
        return (self.folder / "nats-server.conf").resolve()

    def write_config(self) -> None:
        """Write the node's configuration: client, monitor and route ports, routes to every
        peer, JetStream with its own store and its share of the disk (max_file_store)."""
        self.folder.mkdir(parents=True, exist_ok=True)
        store = (self.folder / "jetstream").resolve()
        self.config_path.write_text(
            server_config(
                port=self.addresses.client_port,
                monitor_port=self.addresses.monitor_port,
                store_dir=store,
                sync_always=self._sync_always,
                # Every node keeps its store on this machine's file system: a share each.
                max_file_store=max_file_store(store, nodes=len(self._peers) + 1),
                server_name=self.addresses.name,
                cluster=ClusterRoutes(
                    name=CLUSTER_NAME,
                    port=self.addresses.route_port,
                    peer_ports=tuple(peer.route_port for peer in self._peers),
                ),
                users=self._logins is not None,
            )
        )

    def start(self) -> ManagedProcess:
        """Start the process (without waiting for it to be healthy)."""
        self.write_config()
        self.process = spawn(
            self.name,
            [nats_server_binary(), "-c", str(self.config_path)],
            log_path=self.log_path,
            env=self._logins.server_env() if self._logins is not None else {},
            cwd=REPO_ROOT,
            marker=str(self.config_path),
        )
        return self.process

    def kill(self) -> None:
        """SIGKILL: the node is gone at once, with whatever it had not written."""
        if self.process is not None:
            kill_now(self.process)
            self.process = None

    def stop(self) -> None:
        """SIGTERM, then wait (SIGKILL after 20 s)."""
        if self.process is not None:
            stop(self.process)
            self.process = None

    def log_tail(self, lines: int = 15) -> str:
        """The end of the node's log, indented."""
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(f"    {line}" for line in text.splitlines()[-lines:])


def kill_now(process: ManagedProcess, timeout_s: float = 10.0) -> None:
    """SIGKILL the process and everything in its process group (it leads its own session, so
    its worker processes go too, as when a machine or container dies), and wait until it is
    gone."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    if process.popen is not None:
        process.popen.wait(timeout=timeout_s)
        return
    deadline = time.monotonic() + timeout_s
    while process.alive:
        if time.monotonic() > deadline:
            raise ClusterError(f"{process.name} (pid {process.pid}) survived SIGKILL")
        time.sleep(0.02)


def wait_healthy(nodes: Sequence[NatsNode], deadline: float) -> None:
    """Poll every node's /healthz until all answer 200 (a meta leader is known and JetStream on
    the node is current); ClusterError at the deadline or when a node exits."""
    pending = list(nodes)
    while pending:
        for node in list(pending):
            if node.process is None or not node.process.alive:
                raise ClusterError(f"{node.name} exited:\n{node.log_tail()}")
            if node_health(node.addresses)[0] == 200:
                pending.remove(node)
        if not pending:
            return
        if time.monotonic() > deadline:
            names = ", ".join(f"{n.name} ({node_health(n.addresses)[1]})" for n in pending)
            raise ClusterError(f"not healthy in time: {names}")
        time.sleep(0.1)


@dataclass(frozen=True)
class PeerState:
    """One follower of a stream's Raft group as the leader sees it."""

    name: str
    current: bool
    offline: bool
    lag: int


@dataclass(frozen=True)
class StreamReplicas:
    """Where a stream's replicas stand: its leader and each follower."""

    stream: str
    replicas: int
    leader: str
    peers: tuple[PeerState, ...]
    messages: int

    @property
    def all_current(self) -> bool:
        """True when a leader is elected and every other replica is online, current and has
        no lag."""
        return (
            bool(self.leader)
            and len(self.peers) == self.replicas - 1
            and all(peer.current and not peer.offline and peer.lag == 0 for peer in self.peers)
        )

    def describe(self) -> str:
        """One line: leader, followers with their state."""
        followers = ", ".join(
            f"{peer.name} {'current' if peer.current else 'behind'}"
            + (f" lag {peer.lag}" if peer.lag else "")
            + (" offline" if peer.offline else "")
            for peer in self.peers
        )
        return (
            f"{self.stream:<28} R{self.replicas} msgs {self.messages:<7} "
            f"leader {self.leader or '-':<4} {followers}"
        )


async def stream_replicas(js: JetStreamContext) -> list[StreamReplicas]:
    """Every stream of the account (events, DLQ, the KV_* and OBJ_* streams behind buckets),
    with what its leader reports about the replicas, read through JetStream's stream info."""
    found = []
    for info in await js.streams_info():
        config, cluster = info.config, info.cluster
        peers = tuple(
            PeerState(
                name=peer.name or "?",
                current=bool(peer.current),
                offline=bool(peer.offline),
                lag=int(peer.lag or 0),
            )
            for peer in ((cluster.replicas or []) if cluster is not None else [])
        )
        found.append(
            StreamReplicas(
                stream=config.name or "?",
                replicas=int(config.num_replicas or 1),
                leader=(cluster.leader or "") if cluster is not None else "",
                peers=peers,
                messages=int(info.state.messages or 0),
            )
        )
    return sorted(found, key=lambda replicas: replicas.stream)


async def stream_replicas_or_none(js: JetStreamContext) -> list[StreamReplicas] | None:
    """`stream_replicas`, or None while JetStream cannot answer (e.g. during an election)."""
    try:
        return await stream_replicas(js)
    except (nats.errors.Error, TimeoutError):
        return None


async def wait_streams_current(
    servers: Sequence[str], timeout_s: float, *, name: str = "devstack"
) -> list[StreamReplicas]:
    """Poll JetStream until every stream has a leader and every replica is current (after the
    nodes are healthy, stream leaders may still be being elected, and a request to a stream
    with no leader goes unanswered); ClusterError at the deadline, naming the laggards."""
    deadline = time.monotonic() + timeout_s
    client = await nats.connect(
        servers=list(servers), name=name, connect_timeout=2, max_reconnect_attempts=-1
    )
    try:
        js = client.jetstream(timeout=3)
        while True:
            found = await stream_replicas_or_none(js)
            if found is not None and all(stream.all_current for stream in found):
                return found
            if time.monotonic() > deadline:
                behind = [s.describe() for s in found or [] if not s.all_current]
                raise ClusterError(
                    f"streams not current after {timeout_s:.0f} s: "
                    + ("; ".join(behind) or "JetStream did not answer")
                )
            await asyncio.sleep(0.2)
    finally:
        await client.close()
