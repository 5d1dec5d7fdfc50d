"""Background processes of the local stack: started in their own session (so Ctrl-C in the
terminal reaches only the runner, which stops them in order), recorded in pid files, stopped by
SIGTERM with a SIGKILL fallback for the process and anything it left behind."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass
class ManagedProcess:
    """One process of the stack: its name, pid, the marker its command line must contain (so a
    reused pid is never signalled) and, when this process started it, the Popen handle."""

    name: str
    pid: int
    marker: str
    popen: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        """True while the process runs (a zombie counts as gone)."""
        if self.popen is not None:
            return self.popen.poll() is None
        return _running(self.pid) and _runs(self.pid, self.marker)


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    log_path: Path,
    env: Mapping[str, str],
    cwd: Path,
    marker: str,
) -> ManagedProcess:
    """Start `argv` in a new session with stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        popen = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return ManagedProcess(name=name, pid=popen.pid, marker=marker, popen=popen)


def stop(process: ManagedProcess, *, timeout_s: float = 20.0) -> None:
    """SIGTERM the process and wait; SIGKILL it after `timeout_s`; then SIGKILL whatever is left
    of its process group (worker processes it did not reap)."""
    if process.alive:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        while process.alive and time.monotonic() < deadline:
            time.sleep(0.05)
        if process.alive:
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, signal.SIGKILL)
            while process.alive:
                time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)


def write_pid_file(directory: Path, process: ManagedProcess) -> None:
    """Record the process as `<name>.pid` holding `<pid> <marker>`."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{process.name}.pid").write_text(f"{process.pid} {process.marker}\n")


def read_pid_files(directory: Path) -> list[ManagedProcess]:
    """The processes recorded in `directory`, alive or not."""
    processes = []
    for path in sorted(directory.glob("*.pid")) if directory.is_dir() else []:
        fields = path.read_text().split(maxsplit=1)
        if len(fields) == 2 and fields[0].isdigit():
            processes.append(ManagedProcess(path.stem, int(fields[0]), fields[1].strip()))
    return processes


def remove_pid_file(directory: Path, name: str) -> None:
    """Forget a stopped process."""
    (directory / f"{name}.pid").unlink(missing_ok=True)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    stat = Path(f"/proc/{pid}/stat")
    if stat.exists():
        with contextlib.suppress(OSError, IndexError):
            return stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _runs(pid: int, marker: str) -> bool:
    if not Path("/proc/self").exists():
        return True  # no /proc to ask: trust the pid file
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return marker in cmdline.replace(b"\0", b" ").decode(errors="replace")
