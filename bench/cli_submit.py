"""What the `huleedu` CLI itself costs: its start-up time and its CPU per essay submitted.

    python -m bench.cli_submit [--batches 8] [--rounds 3] [--help-runs 5] [--json]

On a freshly started local stack (free ports, as bench.e2e starts it): `huleedu --help` run
`--help-runs` times one after another (the start-up: interpreter, imports, argument parsing;
median wall time and CPU); then `--rounds` rounds of `--batches` parallel `huleedu submit` of 25
plain-text corpus essays each (the essays of bench.e2e_peer's `plain_text_batches`), printing
the table (or, with --json, the JSON document). For each round: the CPU (user + sys) of the CLI
processes per essay, from resource.getrusage(RUSAGE_CHILDREN) before and after (only the CLI
processes end, and are waited for, between the two), and the time from each process's start to
the end of its first RPC (the `batch …: uploading` line it prints once RegisterBatch has
answered). Medians over the rounds; writes bench/results/cli_submit.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.e2e import running_stack
from bench.e2e_corpus import BenchFile
from bench.e2e_peer import plain_text_batches
from tests.harness.spellcheck_common import machine

RESULTS = Path(__file__).parent / "results" / "cli_submit.json"
# Printed by `huleedu submit` on stderr once RegisterBatch has answered.
_REGISTERED = "uploading"


def huleedu_command() -> list[str]:
    """The console script next to this interpreter, as a user runs it (else `-m services.cli`)."""
    script = Path(sys.executable).with_name("huleedu")
    return [str(script)] if script.exists() else [sys.executable, "-m", "services.cli"]


def children_cpu_s() -> float:
    """User + sys CPU seconds of the child processes that ended and were waited for."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def help_startup(runs: int) -> dict[str, Any]:
    """`huleedu --help`, `runs` times in a row: wall time and CPU of each."""
    walls: list[float] = []
    cpus: list[float] = []
    for _ in range(runs):
        cpu_before = children_cpu_s()
        started = time.perf_counter()
        subprocess.run([*huleedu_command(), "--help"], check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
        cpus.append(children_cpu_s() - cpu_before)
    return {
        "what": "`huleedu --help`, one after another, before the submits",
        "runs": runs,
        "median_wall_ms": round(statistics.median(walls) * 1000, 1),
        "median_cpu_ms": round(statistics.median(cpus) * 1000, 1),
        "wall_ms": [round(w * 1000, 1) for w in walls],
    }


@dataclass
class SubmitRun:
    """One `huleedu submit` process: when it started, when its first RPC answered, its end."""

    process: subprocess.Popen[str]
    started: float
    registered: float | None = None
    finished: float | None = None

    def read_stderr(self) -> None:
        """Note when the `batch …: uploading` line arrives; keep the pipe drained."""
        assert self.process.stderr is not None
        for line in self.process.stderr:
            if self.registered is None and _REGISTERED in line:
                self.registered = time.perf_counter()


def write_batches(root: Path, batches: Sequence[Sequence[BenchFile]]) -> list[Path]:
    """Each batch's files as a folder of .txt files."""
    folders = []
    for number, files in enumerate(batches):
        folder = root / f"batch{number:02d}"
        folder.mkdir()
        for file in files:
            (folder / file.name).write_bytes(file.content)
        folders.append(folder)
    return folders


def submit_round(
    folders: Sequence[Path], env: Mapping[str, str], essays: int, *, as_json: bool
) -> dict[str, Any]:
    """`huleedu submit` of every folder at once; CPU of the CLI processes, their times."""
    cpu_before = children_cpu_s()
    runs: list[SubmitRun] = []
    readers: list[threading.Thread] = []
    opened = time.perf_counter()
    for folder in folders:
        started = time.perf_counter()
        process = subprocess.Popen(
            [*huleedu_command(), "submit", *(["--json"] if as_json else []), str(folder)],
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        run = SubmitRun(process, started)
        reader = threading.Thread(target=run.read_stderr, daemon=True)
        reader.start()
        runs.append(run)
        readers.append(reader)
    codes = []
    for run, reader in zip(runs, readers, strict=True):
        codes.append(run.process.wait())
        run.finished = time.perf_counter()
        reader.join()
    cpu_s = children_cpu_s() - cpu_before
    if any(codes):
        raise SystemExit(f"huleedu submit failed: exit codes {codes}")
    to_first = [r.registered - r.started for r in runs if r.registered is not None]
    return {
        "essays": essays,
        "cpu_ms_per_essay": round(cpu_s * 1000 / essays, 2),
        "cpu_ms_per_process": round(cpu_s * 1000 / len(runs), 1),
        "start_to_first_rpc_ms": {
            "median": round(statistics.median(to_first) * 1000, 1),
            "max": round(max(to_first) * 1000, 1),
        },
        "wall_s": round(max(r.finished or 0.0 for r in runs) - opened, 2),
    }


def main() -> int:
    """Measure, print and write bench/results/cli_submit.json."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=8, help="parallel submits (default: 8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of them (default: 3)")
    parser.add_argument("--help-runs", type=int, default=5, help="`huleedu --help` runs")
    parser.add_argument("--json", action="store_true", help="`huleedu submit --json`")
    parser.add_argument("--results", type=Path, default=RESULTS)
    args = parser.parse_args()
    batches = plain_text_batches(args.batches)
    essays = sum(len(files) for files in batches)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="huleedu-cli-bench-") as tmp:
        folders = write_batches(Path(tmp), batches)
        with running_stack() as (env, _pids):
            startup = help_startup(args.help_runs)
            rounds = []
            for number in range(args.rounds):
                rounds.append(submit_round(folders, env, essays, as_json=args.json))
                print(f"round {number + 1}: {json.dumps(rounds[-1])}", file=sys.stderr)
    load_after = os.getloadavg()
    output = "--json" if args.json else "the table"
    result = {
        "what": f"{args.batches} parallel `huleedu submit` of 25 plain-text essays each, "
        f"printing {output}",
        "startup": startup,
        "submit": {
            "rounds": rounds,
            "median_cpu_ms_per_essay": statistics.median(r["cpu_ms_per_essay"] for r in rounds),
            "median_start_to_first_rpc_ms": statistics.median(
                r["start_to_first_rpc_ms"]["median"] for r in rounds
            ),
            "median_wall_s": statistics.median(r["wall_s"] for r in rounds),
        },
        "cpu": "user + sys of the CLI processes: resource.getrusage(RUSAGE_CHILDREN) deltas",
        "first_rpc": "process start → the `batch …: uploading` line (RegisterBatch answered)",
        "machine": {
            **machine(),
            "load_average_before": [round(x, 2) for x in load_before],
            "load_average_after": [round(x, 2) for x in load_after],
        },
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps({k: result[k] for k in ("startup", "submit")}, indent=2))
    print(f"wrote {args.results}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
