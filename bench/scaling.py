"""Scaling benchmark: the same load through the local cluster with 1 and with 2 instances of the
Essay Lifecycle Service and of the Spell Checker.

`python -m bench.scaling` starts, for every configuration and round, a fresh cluster (three
nats-server nodes with routes, every stream, bucket and the Object Store at R3, `sync_interval:
always`) on free ports, with one Content Service, File Service and Batch Orchestrator and the
configuration's number of ELS and Spell Checker instances (one worker process each). It
uploads the same batches of real corpus essays as a client would (tests.harness.scaling_load:
RegisterBatch, UploadFile per essay) while ELS and the Spell Checkers are held back, so their
work waits on the stream; then starts the Spell Checkers, then every ELS instance at once, and
measures:

* essays/s from starting ELS until GetBatch shows the last batch terminal (the drain: slot
  assignment, readiness, the spell-check phase and the outcome, through ELS, the Spell
  Checkers and BOS; ELS start-up included and reported);
* CPU seconds and share of one core of every process during the drain, read from /proc: each
  instance counted with its worker processes (its process group), each NATS node, this driver;
* how busy the whole machine was (/proc/stat), so the share other users' work took is visible,
  and the load average before and after.

The scaling factor is the median essays/s with two instances of both over the median with one.
Results go to bench/results/scaling.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from devstack.cluster_layout import ClusterLayout, any_free_ports
from devstack.cluster_stack import ClusterStack
from devstack.nats_server import nats_server_binary
from devstack.stack import RunDir
from tests.harness.scaling_load import B, Essay, MeshDriver, corpus_essays

RESULTS = Path(__file__).resolve().parent / "results" / "scaling.json"
CLK_TCK = os.sysconf("SC_CLK_TCK")
CONFIGS: dict[str, dict[str, int]] = {
    "1 ELS, 1 Spell Checker": {"essay_lifecycle": 1, "spell_checker": 1},
    "2 ELS, 1 Spell Checker": {"essay_lifecycle": 2, "spell_checker": 1},
    "1 ELS, 2 Spell Checkers": {"essay_lifecycle": 1, "spell_checker": 2},
    "2 ELS, 2 Spell Checkers": {"essay_lifecycle": 2, "spell_checker": 2},
}
ONE_EACH = {"content_service": 1, "file_service": 1, "batch_orchestrator": 1}


def group_cpu_s() -> dict[int, float]:
    """User + system CPU seconds of every process on the machine, summed per process group."""
    totals: dict[int, float] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # the process ended while we looked
        pgid = int(fields[2])
        totals[pgid] = totals.get(pgid, 0.0) + (int(fields[11]) + int(fields[12])) / CLK_TCK
    return totals


def machine_cpu_s() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    total = sum(values[:8])
    return (total - idle) / CLK_TCK, total / CLK_TCK


def driver_cpu_s() -> float:
    """CPU seconds of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class CpuWindow:
    """CPU counters at the start of a measured window."""

    groups: dict[int, float]
    machine: tuple[float, float]
    driver: float
    at: float

    @classmethod
    def open(cls) -> CpuWindow:
        """Read every counter now."""
        return cls(group_cpu_s(), machine_cpu_s(), driver_cpu_s(), time.monotonic())

    def close(self, pgids: dict[str, int]) -> dict[str, Any]:
        """CPU per named process group, the driver and the machine since `open`."""
        wall = time.monotonic() - self.at
        groups = group_cpu_s()
        busy = machine_cpu_s()
        per_process = {
            name: round(groups.get(pgid, 0.0) - self.groups.get(pgid, 0.0), 2)
            for name, pgid in pgids.items()
        }
        per_process["bench driver"] = round(driver_cpu_s() - self.driver, 2)
        ours = sum(per_process.values())
        machine_busy = busy[0] - self.machine[0]
        machine_total = busy[1] - self.machine[1]
        return {
            "wall_s": round(wall, 2),
            "cpu_s": per_process,
            "share_of_one_core": {k: round(v / wall, 2) for k, v in per_process.items()},
            "ours_cpu_s": round(ours, 2),
            "machine_busy_cores": round(machine_busy / wall, 2),
            "machine_busy_percent": round(100 * machine_busy / machine_total, 1),
            "others_cpu_s": round(max(0.0, machine_busy - ours), 2),
        }


async def measure(
    stack: ClusterStack, batches: int, essays_per_batch: int, poll_s: float
) -> dict[str, Any]:
    """Upload the load while ELS and the Spell Checkers are held back (its events wait on the
    stream), start the Spell Checkers, then every ELS instance at once, and time the drain:
    from starting ELS until GetBatch shows every batch terminal. CPU is counted over the
    drain."""
    essays = corpus_essays(batches * essays_per_batch)
    groups = [essays[i * essays_per_batch : (i + 1) * essays_per_batch] for i in range(batches)]
    driver = MeshDriver(stack.layout)
    limit = asyncio.Semaphore(4)

    async def submit(group: list[Essay]) -> str:
        async with limit:
            return await driver.submit(group)

    try:
        upload_started = time.monotonic()
        batch_ids = await asyncio.gather(*(submit(group) for group in groups))
        upload_s = time.monotonic() - upload_started
        spell = [instance.name for instance in stack.layout.of("spell_checker")]
        await asyncio.to_thread(stack.start_instances, spell)
        load_before = os.getloadavg()[0]
        window = CpuWindow.open()
        els_started = time.monotonic()
        await asyncio.to_thread(
            stack.start_instances, [i.name for i in stack.layout.of("essay_lifecycle")]
        )
        els_ready_s = time.monotonic() - els_started
        final = await driver.wait_terminal(batch_ids, timeout_s=900, interval_s=poll_s)
        drain_s = time.monotonic() - els_started
        cpu = window.close({name: p.pid for name, p in stack.processes().items()})
    finally:
        await driver.close()
    statuses = Counter(B.Name(batch.status) for batch in final.values())
    return {
        "essays": len(essays),
        "upload_s": round(upload_s, 2),
        "seconds": round(drain_s, 2),
        "els_start_until_serving_s": round(els_ready_s, 2),
        "essays_per_s": round(len(essays) / drain_s, 2),
        "batch_statuses": dict(statuses),
        "client_retries": dict(driver.retries),
        "load_average_1m_before": round(load_before, 2),
        "load_average_1m_after": round(os.getloadavg()[0], 2),
        "cpu": cpu,
    }


def run_config(
    name: str, counts: dict[str, int], round_: int, args: argparse.Namespace
) -> dict[str, Any]:
    """One round of one configuration on a fresh cluster."""
    with tempfile.TemporaryDirectory(prefix="scaling-") as scratch:
        layout = ClusterLayout.build(ports=any_free_ports, instances={**ONE_EACH, **counts})
        stack = ClusterStack(
            RunDir(Path(scratch)),
            layout,
            extra_env={"LOG_LEVEL": "WARNING", **args.env},
            report=lambda _: None,
        )
        started = time.monotonic()
        stack.start(hold={"essay_lifecycle", "spell_checker"})
        try:
            print(f"{name}, round {round_}: cluster up in {time.monotonic() - started:.1f} s")
            result = asyncio.run(measure(stack, args.batches, args.essays, args.poll_s))
        finally:
            stack.stop()
    print(
        f"  {result['essays']} essays in {result['seconds']} s = {result['essays_per_s']} "
        f"essays/s; machine busy {result['cpu']['machine_busy_cores']} of 2 cores, ours "
        f"{result['cpu']['ours_cpu_s']} CPU s, others {result['cpu']['others_cpu_s']} CPU s"
    )
    return {"config": name, "round": round_, "instances": counts, **result}


def _role(process: str) -> str:
    """`nats-n2` -> `nats (3 nodes)`, `spell_checker-2` -> `spell_checker`."""
    return "nats (3 nodes)" if process.startswith("nats-") else process.rsplit("-", 1)[0]


def cpu_ms_per_essay(run: dict[str, Any]) -> dict[str, float]:
    """CPU milliseconds per essay of each role (all its instances and workers) and in total."""
    per_role: dict[str, float] = {}
    for process, seconds in run["cpu"]["cpu_s"].items():
        per_role[_role(process)] = per_role.get(_role(process), 0.0) + seconds
    per_role["total"] = run["cpu"]["ours_cpu_s"]
    return {role: 1000 * seconds / run["essays"] for role, seconds in per_role.items()}


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Per configuration: median and range of essays/s, the scaling factor of the medians
    against one of each, median CPU ms per essay by role, and how busy other users kept the
    machine."""
    names = list(dict.fromkeys(r["config"] for r in runs))
    by_name = {name: [r for r in runs if r["config"] == name] for name in names}
    medians = {n: statistics.median(r["essays_per_s"] for r in rs) for n, rs in by_name.items()}
    base = medians.get("1 ELS, 1 Spell Checker")
    cpu = {}
    for name, rs in by_name.items():
        roles = cpu_ms_per_essay(rs[0]).keys()
        cpu[name] = {
            role: round(statistics.median(cpu_ms_per_essay(r)[role] for r in rs), 1)
            for role in roles
        }
    return {
        "median_essays_per_s": {k: round(v, 2) for k, v in medians.items()},
        "essays_per_s_range": {
            n: [min(r["essays_per_s"] for r in rs), max(r["essays_per_s"] for r in rs)]
            for n, rs in by_name.items()
        },
        "scaling_factor_vs_one_each": {k: round(v / base, 2) for k, v in medians.items()}
        if base
        else {},
        "median_cpu_ms_per_essay": cpu,
        "other_users_cpu_share_of_machine": {
            n: [round(r["cpu"]["others_cpu_s"] / (2 * r["cpu"]["wall_s"]), 2) for r in rs]
            for n, rs in by_name.items()
        },
    }


def _setting(text: str) -> tuple[str, str]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    return name, value


def main(argv: list[str] | None = None) -> int:
    """Run every configuration `--rounds` times (interleaved) and write the results."""
    parser = argparse.ArgumentParser(prog="python -m bench.scaling", description=__doc__)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--essays", type=int, default=15, help="essays per batch")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--poll-s", type=float, default=0.25, help="GetBatch poll interval")
    parser.add_argument("--configs", nargs="*", choices=list(CONFIGS), default=list(CONFIGS))
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument(
        "--env",
        type=_setting,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for every instance, e.g. SPELL_CHECKER_IN_FLIGHT=4 (repeatable)",
    )
    args = parser.parse_args(argv)
    args.env = dict(args.env)
    runs = [
        run_config(name, CONFIGS[name], round_, args)
        for round_ in range(1, args.rounds + 1)
        for name in args.configs
    ]
    document = {
        "benchmark": "scaling",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "nats_server": subprocess.run(
                [nats_server_binary(), "--version"], capture_output=True, text=True, check=False
            ).stdout.strip(),
        },
        "config": {
            "nats": "3 nodes on loopback, routes, R3 streams/KV/Object Store, sync_interval always",
            "batches": args.batches,
            "essays_per_batch": args.essays,
            "essays": "ELLIPSE corpus .txt files, the same ones in every run",
            "other_services": "1 Content Service, 1 File Service, 1 Batch Orchestrator",
            "spell_checker_workers_per_instance": 1,
            "client": "RegisterBatch + UploadFile per essay, 4 batches at a time, before ELS "
            "and the Spell Checkers start; then GetBatch polling",
            "measured": "from starting every ELS instance until every batch is terminal",
            "rounds": args.rounds,
            "instance_settings": args.env,
        },
        "summary": summarise(runs),
        "runs": runs,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(document, indent=2) + "\n")
    print(json.dumps(document["summary"], indent=2))
    print(f"results: {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
