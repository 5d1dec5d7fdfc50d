"""Free ports for local stacks: listenable, distinct, and outside the kernel's ephemeral range
(where an outgoing connection could take one before the service binds it)."""

from __future__ import annotations

import socket
from pathlib import Path

from devstack.nats_server import free_port


def test_free_ports_are_distinct_listenable_and_below_the_ephemeral_range() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
    ephemeral_start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    assert all(port < ephemeral_start for port in ports)
    for port in ports[:20]:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", port))
            sock.listen()
