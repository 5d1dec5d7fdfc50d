"""Memory of a process as Linux reports it (resident and proportional set size)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ProcessMemory:
    """RSS counts shared pages in full in every process; PSS splits them between the sharers."""

    pid: int
    rss_bytes: int
    pss_bytes: int


def _kib_field(path: Path, name: str) -> int:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(f"{name}:"):
                return int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return 0
    return 0


def process_memory(pid: int | None = None) -> ProcessMemory:
    """RSS and PSS of `pid` (this process by default); zero where /proc does not say."""
    pid = os.getpid() if pid is None else pid
    proc = Path("/proc") / str(pid)
    return ProcessMemory(
        pid, _kib_field(proc / "status", "VmRSS"), _kib_field(proc / "smaps_rollup", "Pss")
    )


def process_age_s(pid: int | None = None) -> float:
    """Seconds since the process started (interpreter start-up included), from /proc."""
    proc = Path("/proc") / str(os.getpid() if pid is None else pid)
    fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
    started_ticks = int(fields[19])  # field 22 of proc(5): starttime, counted after the name
    uptime_s = float(Path("/proc/uptime").read_text().split()[0])
    return uptime_s - started_ticks / os.sysconf("SC_CLK_TCK")
