"""Where the processes of the local cluster listen: three NATS nodes (client, route and monitor
ports) and N instances of every service (gRPC and metrics addresses), and the environment each
instance runs with. Pure data: nothing here starts a process."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

from devstack.nats_server import free_port
from devstack.stack import SERVICES, ServiceSpec, write_private

CLUSTER_NAME = "huleedu"
NODE_COUNT = 3
# Fixed ports of `make cluster-up`: node n (1-based) gets 4221+n, 6221+n and 8221+n; instance 1 of
# each service keeps the single stack's default ports (so `huleedu` works with no settings),
# instance i > 1 adds 10*(i-1) to them.
_CLIENT_BASE, _ROUTE_BASE, _MONITOR_BASE = 4221, 6221, 8221
_GRPC_PORTS = {"content_service": 50051, "file_service": 50052, "batch_orchestrator": 50053}
_GRPC_PORTS |= {"essay_lifecycle": 50054, "spell_checker": 50055}
_METRICS_PORTS = {"content_service": 9101, "file_service": 9102, "batch_orchestrator": 9103}
_METRICS_PORTS |= {"essay_lifecycle": 9104, "spell_checker": 9105}
# Defaults of every instance (the caller's environment overrides them):
# * one worker process per instance: two instances of each already fill a 2-core machine;
# * waits that outlast a leader election: when a node dies, each stream and consumer it led has
#   no leader until a follower's Raft election timeout (4-9 s; a second round can double it)
#   runs out. A handler failing meanwhile is redelivered after about 1 s, so the single-node
#   default of 5 deliveries would send its message to the DLQ mid-election; an upload waits
#   for its batch's registration, which an election can hold up past the default 5 s.
INSTANCE_DEFAULTS = {
    "SPELL_CHECKER_WORKERS": "1",
    "FILE_EXTRACTION_WORKERS": "1",
    "NATS_MAX_DELIVER": "30",
    "FILE_REGISTRATION_WAIT_S": "30",
}


@dataclass(frozen=True)
class NodeAddresses:
    """One nats-server of the cluster."""

    name: str
    client_port: int
    route_port: int
    monitor_port: int

    @property
    def client_url(self) -> str:
        """The client URL."""
        return f"nats://127.0.0.1:{self.client_port}"

    @property
    def monitor_url(self) -> str:
        """The HTTP monitoring endpoint (/healthz, /varz, /jsz, /connz)."""
        return f"http://127.0.0.1:{self.monitor_port}"


@dataclass(frozen=True)
class InstanceAddresses:
    """One process of one service: `<service>-<index>`, its addresses and its preferred node."""

    service: str
    index: int
    grpc_addr: str
    metrics_addr: str
    home_node: int  # index into the cluster's nodes; first in this instance's NATS_URL

    @property
    def name(self) -> str:
        """The process name in logs/ and pids/, e.g. `essay_lifecycle-2`."""
        return f"{self.service}-{self.index}"

    @property
    def spec(self) -> ServiceSpec:
        """The service this is an instance of."""
        return next(spec for spec in SERVICES if spec.name == self.service)


PortSource = Callable[[str, int], int]  # (what, fixed port) -> port to use


def fixed_ports(_: str, port: int) -> int:
    """The documented ports."""
    return port


def any_free_ports(_: str, __: int) -> int:
    """A free port for everything (tests, benchmarks, side by side with another stack)."""
    return free_port()


@dataclass(frozen=True)
class ClusterLayout:
    """The nodes and the instances of one local cluster."""

    nodes: tuple[NodeAddresses, ...]
    instances: tuple[InstanceAddresses, ...]
    replicas: int

    @classmethod
    def build(
        cls,
        *,
        ports: PortSource = fixed_ports,
        instances: Mapping[str, int] | None = None,
        node_count: int = NODE_COUNT,
    ) -> ClusterLayout:
        """`instances` maps service name to how many to run (2 of each by default). Instances
        are given home nodes round robin in start order, so each service's instances differ."""
        nodes = tuple(
            NodeAddresses(
                name=f"n{n}",
                client_port=ports("client", _CLIENT_BASE + n),
                route_port=ports("route", _ROUTE_BASE + n),
                monitor_port=ports("monitor", _MONITOR_BASE + n),
            )
            for n in range(1, node_count + 1)
        )
        counts = {spec.name: 2 for spec in SERVICES} | dict(instances or {})
        placed: list[InstanceAddresses] = []
        for index in range(1, max(counts.values()) + 1):
            for spec in SERVICES:
                if index > counts[spec.name]:
                    continue
                offset = 10 * (index - 1)
                grpc_port = ports("grpc", _GRPC_PORTS[spec.name] + offset)
                metrics_port = ports("metrics", _METRICS_PORTS[spec.name] + offset)
                placed.append(
                    InstanceAddresses(
                        service=spec.name,
                        index=index,
                        grpc_addr=f"127.0.0.1:{grpc_port}",
                        metrics_addr=f"127.0.0.1:{metrics_port}",
                        home_node=len(placed) % node_count,
                    )
                )
        return cls(nodes=nodes, instances=tuple(placed), replicas=min(node_count, 3))

    @property
    def nats_url(self) -> str:
        """Every node's client URL, comma-separated (the NATS_URL form)."""
        return ",".join(node.client_url for node in self.nodes)

    def of(self, service: str) -> list[InstanceAddresses]:
        """The instances of one service, by index."""
        return [instance for instance in self.instances if instance.service == service]

    def instance(self, name: str) -> InstanceAddresses:
        """The instance called `name`, e.g. `spell_checker-1`."""
        return next(instance for instance in self.instances if instance.name == name)

    def grpc_target(self, service: str) -> str:
        """A gRPC target naming every instance of the service (`ipv4:a:p,b:q`), for clients
        that spread calls over them with the round_robin policy."""
        return "ipv4:" + ",".join(instance.grpc_addr for instance in self.of(service))

    def start_waves(self) -> list[list[InstanceAddresses]]:
        """The instances in the order they are started, each wave waited for until SERVING:
        first the Content Service and the Batch Orchestrator (which creates the event and DLQ
        streams: on a cluster, creating one stream from several clients at once can leave the
        losers without an answer, nats-server issue 3677), then the other first instances, then
        every service's instance 2, and so on."""
        creators = {"content_service", "batch_orchestrator"}
        first = [i for i in self.instances if i.index == 1]
        waves = [
            [i for i in first if i.service in creators],
            [i for i in first if i.service not in creators],
        ]
        for index in sorted({i.index for i in self.instances} - {1}):
            waves.append([i for i in self.instances if i.index == index])
        return [wave for wave in waves if wave]

    def instance_env(self, instance: InstanceAddresses) -> dict[str, str]:
        """The cluster's settings for one instance: every node's URL with its home node first,
        replicas, its own bind addresses, and every instance of each service it may dial (a
        comma-separated list: calls go round-robin and skip an instance that is down)."""
        rotated = self.nodes[instance.home_node :] + self.nodes[: instance.home_node]
        env = {
            "NATS_URL": ",".join(node.client_url for node in rotated),
            "NATS_REPLICAS": str(self.replicas),
        }
        for spec in SERVICES:
            if self.of(spec.name):
                env[spec.addr_variable] = ",".join(peer.grpc_addr for peer in self.of(spec.name))
        own = instance.spec.addr_variable
        env[own] = instance.grpc_addr
        env[own.replace("_ADDR", "_METRICS_ADDR")] = instance.metrics_addr
        return env

    def client_env(self) -> dict[str, str]:
        """What points the CLI, grpcurl or the nats CLI at the cluster: NATS_URL with every
        node, and the first instance of each service."""
        env = {"NATS_URL": self.nats_url}
        for spec in SERVICES:
            first = self.of(spec.name)
            if first:
                env[spec.addr_variable] = first[0].grpc_addr
        env["NATS_MONITOR_URL"] = self.nodes[0].monitor_url
        return env

    def bound_addresses(self) -> list[tuple[str, str]]:
        """(what, host:port) for every port the cluster listens on."""
        bound = []
        for node in self.nodes:
            for what, port in (
                ("client", node.client_port),
                ("route", node.route_port),
                ("monitor", node.monitor_port),
            ):
                bound.append((f"nats {node.name} {what}", f"127.0.0.1:{port}"))
        for instance in self.instances:
            bound.append((f"{instance.name} gRPC", instance.grpc_addr))
            bound.append((f"{instance.name} metrics", instance.metrics_addr))
        return bound

    def write(self, path: Path) -> None:
        """Save the layout as JSON (`cluster.json` in the run directory)."""
        document = {
            "nodes": [asdict(node) for node in self.nodes],
            "instances": [asdict(instance) for instance in self.instances],
            "replicas": self.replicas,
        }
        path.write_text(json.dumps(document, indent=2) + "\n")

    @classmethod
    def read(cls, path: Path) -> ClusterLayout:
        """Load a layout saved by `write`."""
        document = json.loads(path.read_text())
        return cls(
            nodes=tuple(NodeAddresses(**node) for node in document["nodes"]),
            instances=tuple(InstanceAddresses(**item) for item in document["instances"]),
            replicas=int(document["replicas"]),
        )

    def write_env(self, path: Path, *, nats_url: str) -> None:
        """Write `client_env()` as a shell-sourceable file (`stack.env`), with `nats_url` (the
        operator's login) as NATS_URL; only its owner may read it."""
        env = {**self.client_env(), "NATS_URL": nats_url}
        lines = [
            "# The local cluster's addresses, written by `python -m devstack.cluster up`.",
            "# Point the CLI at it with: set -a; . .run/cluster/stack.env; set +a",
            *(f"{name}={value}" for name, value in env.items()),
        ]
        write_private(path, "\n".join(lines) + "\n")
