"""`python -m devstack.cluster up|down|status|kill NAME|restart NAME`: the local cluster
behind `make cluster-up` and `make cluster-down` — three nats-server nodes on loopback with routes
and JetStream (streams, KV buckets and the Object Store at replicas 3), and two instances of every
service spread over the nodes' client URLs. `kill` and `restart` take a node (`n2`) or an
instance (`spell_checker-1`), to see the cluster lose and regain it."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import urllib.error
import urllib.request
from pathlib import Path

import nats
import nats.errors

from devstack.cli_login import login_cli
from devstack.cluster_layout import ClusterLayout, any_free_ports, fixed_ports
from devstack.cluster_stack import (
    DEFAULT_RUN_DIR,
    ClusterStack,
    layout_path,
    logins_path,
    stop_recorded,
)
from devstack.commands import run_command, say
from devstack.nats_cluster import ClusterError, node_health, stream_replicas
from devstack.nats_users import OPERATOR, NatsLogins
from devstack.processes import read_pid_files
from devstack.stack import SERVICES, RunDir
from services.mesh.auth import create_dev_keys
from services.mesh.health_probe import check_health
from services.mesh.settings import SettingsError


def up(args: argparse.Namespace) -> int:
    """Start the cluster in the background; return once every node is healthy and every
    instance SERVING."""
    ports = any_free_ports if args.free_ports else fixed_ports
    counts = {spec.name: args.instances for spec in SERVICES}
    layout = ClusterLayout.build(ports=ports, instances=counts)
    run_dir = RunDir(args.run_dir)
    auth_env = create_dev_keys(run_dir.auth) if args.auth else None
    stack = ClusterStack(run_dir, layout, auth_env=auth_env)
    say(
        f"starting {len(layout.nodes)} NATS nodes (replicas {layout.replicas}) and "
        f"{len(layout.instances)} service instances (run dir {args.run_dir})"
    )
    stack.start()
    if args.auth:
        token = login_cli(run_dir.auth, args.tenant)
        say(
            f"authentication on: keys in {run_dir.auth}/; a teacher token for tenant "
            f"{args.tenant} in {token} (another: huleedu login --tenant NAME --issuer-key "
            f"{run_dir.auth / 'issuer.pem'})"
        )
    say(
        f"logs: {stack.run_dir.logs}/  layout: {layout_path(stack.run_dir)}\n"
        f"try: set -a; . {stack.run_dir.env_file}; set +a; huleedu submit examples/essays\n"
        "stop: make cluster-down"
    )
    return 0


def down(args: argparse.Namespace) -> int:
    """Stop the cluster recorded in the run directory."""
    if stop_recorded(RunDir(args.run_dir), say) == 0:
        say(f"no cluster running from {args.run_dir}")
    return 0


def status(args: argparse.Namespace) -> int:
    """Print every node (health, client connections), every instance (health) and every
    stream's replicas; exit 1 unless everything runs, serves and every replica is current."""
    run_dir = RunDir(args.run_dir)
    recorded = {process.name: process for process in read_pid_files(run_dir.pids)}
    if not layout_path(run_dir).exists():
        print(f"no cluster recorded in {args.run_dir} (start one with `make cluster-up`)")
        return 1
    layout = ClusterLayout.read(layout_path(run_dir))
    healthy = True
    for node in layout.nodes:
        process = recorded.get(f"nats-{node.name}")
        running = process is not None and process.alive
        code, body = node_health(node) if running else (0, "stopped")
        pid = process.pid if process is not None else "-"
        clients = _connections(node.monitor_url) if running else "-"
        print(
            f"nats-{node.name:<17} pid {pid!s:<8} {node.client_url:<24} "
            f"{'healthy' if code == 200 else body}  clients {clients}"
        )
        healthy = healthy and code == 200
    for instance in layout.instances:
        process = recorded.get(instance.name)
        running = process is not None and process.alive
        state = check_health(instance.grpc_addr) if running else "stopped"
        pid = process.pid if process is not None else "-"
        print(f"{instance.name:<22} pid {pid!s:<8} {instance.grpc_addr:<24} {state}")
        healthy = healthy and state == "SERVING"
    logins = NatsLogins.from_json(logins_path(run_dir).read_text())
    replicas_current = asyncio.run(_print_replicas(logins.url(OPERATOR, layout.nats_url)))
    return 0 if healthy and replicas_current else 1


def kill(args: argparse.Namespace) -> int:
    """SIGKILL a node (`n2`) or an instance (`spell_checker-1`, with its workers)."""
    stack = ClusterStack.attach(RunDir(args.run_dir), report=say)
    if args.name in {node.addresses.name for node in stack.nodes}:
        stack.kill_node(args.name)
    elif args.name in stack.processes():
        stack.kill_instance(args.name)
    else:
        raise ClusterError(f"nothing called {args.name!r} is running (see `status`)")
    return 0


def restart(args: argparse.Namespace) -> int:
    """Start a killed node or instance again on its ports (and store); wait until healthy."""
    stack = ClusterStack.attach(RunDir(args.run_dir), report=say)
    if args.name in stack.processes():
        raise ClusterError(f"{args.name} is running")
    if args.name in {node.addresses.name for node in stack.nodes}:
        stack.restart_node(args.name)
    elif args.name in {instance.name for instance in stack.layout.instances}:
        stack.restart_instance(args.name)
    else:
        raise ClusterError(f"the cluster has no {args.name!r} (see `status`)")
    return 0


def _connections(monitor_url: str) -> str:
    try:
        with urllib.request.urlopen(f"{monitor_url}/varz", timeout=1) as reply:
            return str(json.loads(reply.read())["connections"])
    except (urllib.error.URLError, ConnectionError, TimeoutError, KeyError, ValueError):
        return "?"


async def _print_replicas(nats_url: str) -> bool:
    try:
        client = await nats.connect(
            servers=nats_url.split(","),
            connect_timeout=2,
            max_reconnect_attempts=1,
            name="devstack-status",
        )
    except (nats.errors.Error, OSError, TimeoutError) as error:
        print(f"JetStream: no node answers ({error})")
        return False
    try:
        streams = await stream_replicas(client.jetstream(timeout=5))
    except (nats.errors.Error, TimeoutError) as error:
        print(f"JetStream: stream info unavailable ({error})")
        return False
    finally:
        await client.close()
    for stream in streams:
        print(stream.describe())
    return all(stream.all_current for stream in streams)


def parser() -> argparse.ArgumentParser:
    """The command line."""
    top = argparse.ArgumentParser(prog="python -m devstack.cluster", description=__doc__)
    top.add_argument(
        "--run-dir",
        type=Path,
        default=DEFAULT_RUN_DIR,
        help="where pids, logs, the node stores and the layout live (default: .run/cluster)",
    )
    top.add_argument(
        "--free-ports",
        action="store_true",
        help="listen on free ports instead of 4222-4224 and the default service ports",
    )
    top.add_argument(
        "--auth",
        action="store_true",
        help="verify bearer tokens: create development keys under the run directory (auth/) "
        "and log the CLI in (make cluster-up does this)",
    )
    top.add_argument(
        "--tenant",
        default="demo",
        help="with --auth, the tenant the CLI is logged in to (default: demo)",
    )
    commands = top.add_subparsers(dest="command", required=True)
    up_parser = commands.add_parser("up", help="start the cluster in the background")
    up_parser.add_argument(
        "--instances",
        type=int,
        choices=range(1, 10),
        default=2,
        metavar="N",
        help="instances of every service, 1 to 9 (default 2)",
    )
    up_parser.set_defaults(func=up)
    commands.add_parser("down", help="stop the background cluster").set_defaults(func=down)
    commands.add_parser("status", help="nodes, instances, replicas").set_defaults(func=status)
    for name, func, text in (
        ("kill", kill, "SIGKILL a node (n1, n2, n3) or an instance (e.g. spell_checker-1)"),
        ("restart", restart, "start a killed node or instance again"),
    ):
        command = commands.add_parser(name, help=text)
        command.add_argument("name")
        command.set_defaults(func=func)
    return top


def main(argv: list[str] | None = None) -> int:
    """Run one command; errors are one line on stderr, never a traceback."""
    return run_command(
        parser().parse_args(argv), program="cluster", expected=(ClusterError, SettingsError)
    )


if __name__ == "__main__":
    sys.exit(main())
