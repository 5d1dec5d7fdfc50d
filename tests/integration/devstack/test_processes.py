"""Background processes of the local stack: pid files, identity checks, stop with fallback; the
stack's address file."""

from __future__ import annotations

import socket
import sys
import time
from pathlib import Path

import pytest

from devstack.processes import (
    ManagedProcess,
    read_pid_files,
    spawn,
    stop,
    write_pid_file,
)
from devstack.stack import StackAddresses, StackError, port_in_use
from services.mesh.metrics import DEFAULT_METRICS_ADDRS
from services.mesh.settings import DEFAULT_ADDRS

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def started(process: ManagedProcess) -> bool:
    """True once the child has exec'd: for a moment after Popen returns, its /proc cmdline is
    still empty, and a process found by pid and command line is not recognised yet."""
    deadline = time.monotonic() + 10.0
    while b"time.sleep" not in Path(f"/proc/{process.pid}/cmdline").read_bytes():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def test_a_spawned_process_is_recorded_found_again_and_stopped(tmp_path: Path) -> None:
    process = spawn(
        "sleeper", SLEEPER, log_path=tmp_path / "s.log", env={}, cwd=tmp_path, marker="time.sleep"
    )
    try:
        assert started(process)
        write_pid_file(tmp_path / "pids", process)
        (recorded,) = read_pid_files(tmp_path / "pids")
        assert (recorded.name, recorded.pid) == ("sleeper", process.pid)
        assert recorded.alive  # found by pid and command line, without the Popen handle
    finally:
        stop(process, timeout_s=5)
    assert not process.alive and not recorded.alive


def test_a_reused_pid_is_not_taken_for_the_recorded_process(tmp_path: Path) -> None:
    process = spawn(
        "sleeper", SLEEPER, log_path=tmp_path / "s.log", env={}, cwd=tmp_path, marker="time.sleep"
    )
    try:
        (tmp_path / "other.pid").write_text(f"{process.pid} services.content_service\n")
        (stranger,) = read_pid_files(tmp_path)
        assert not stranger.alive
    finally:
        stop(process, timeout_s=5)


def test_addresses_round_trip_through_the_env_file(tmp_path: Path) -> None:
    addresses = StackAddresses.free()
    addresses.write(tmp_path / "stack.env")
    assert StackAddresses.read(tmp_path / "stack.env") == addresses
    assert set(addresses.env()) == {
        "NATS_URL",
        "NATS_MONITOR_URL",
        *DEFAULT_ADDRS,
        *DEFAULT_METRICS_ADDRS,
    }


def test_the_local_stack_refuses_a_remote_nats_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NATS_URL", "nats://nats.example.org:4222")
    with pytest.raises(StackError, match="not a local address"):
        StackAddresses.from_env()


def test_a_port_in_use_is_seen() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        assert port_in_use(f"127.0.0.1:{port}")
    assert not port_in_use(f"127.0.0.1:{port}")
