"""What the end-to-end benchmark measures and writes: per-service CPU and peak RSS sampled from
/proc (psutil), per-stage latencies from the stream's event times, and the JSON, markdown and PNG
reports."""

from __future__ import annotations

import json
import os
import statistics
import threading
import time
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from bench.e2e_corpus import BenchFile

_MIB = 1024 * 1024
STAGES = ("upload", "ready", "spell check", "complete")


@dataclass(frozen=True)
class StreamEvent:
    """An event as the stream stored it: its type, the store time (epoch s) and the message."""

    type: str
    stored: float
    event: Any


def _tree(process: psutil.Process, alone: bool) -> list[psutil.Process]:
    if alone:
        return [process]
    try:
        return [process, *process.children(recursive=True)]
    except psutil.Error:
        return []


def _cpu_s(process: psutil.Process, alone: bool) -> float:
    total = 0.0
    for member in _tree(process, alone):
        try:
            times = member.cpu_times()
        except psutil.Error:
            continue
        total += times.user + times.system
        if member is process and not alone:  # children that already exited and were waited for
            total += times.children_user + times.children_system
    return total


def _rss(process: psutil.Process, alone: bool) -> int:
    total = 0
    for member in _tree(process, alone):
        try:
            total += member.memory_info().rss
        except psutil.Error:
            continue
    return total


class ProcessSampler:
    """CPU seconds (start to stop) and peak RSS of each named process with its child processes,
    or without them for the names in `alone`. This process may be one of them (the client): the
    CPU of the sampler's own thread is then left out, since it is measurement, not client work."""

    def __init__(
        self, pids: Mapping[str, int], *, alone: Collection[str] = (), interval_s: float = 0.2
    ) -> None:
        self._processes = {name: psutil.Process(pid) for name, pid in pids.items()}
        self._alone = {name: name in alone for name in pids}
        self._interval_s = interval_s
        self._cpu_start = {name: self._cpu(name) for name in self._processes}
        self._peak = {name: _rss(p, self._alone[name]) for name, p in self._processes.items()}
        self._sampler_cpu_s = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _cpu(self, name: str) -> float:
        return _cpu_s(self._processes[name], self._alone[name])

    def start(self) -> None:
        """Start sampling RSS."""
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval_s):
            for name, process in self._processes.items():
                self._peak[name] = max(self._peak[name], _rss(process, self._alone[name]))
        self._sampler_cpu_s = time.thread_time()

    def stop(self) -> dict[str, dict[str, float]]:
        """Stop sampling; per process: CPU seconds used meanwhile and peak RSS in MiB."""
        self._stop.set()
        self._thread.join()
        usage = {}
        for name, process in self._processes.items():
            cpu_s = self._cpu(name) - self._cpu_start[name]
            if process.pid == os.getpid():
                cpu_s -= self._sampler_cpu_s
            usage[name] = {"cpu_s": cpu_s, "peak_rss_mib": self._peak[name] / _MIB}
        return usage


def _percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if len(ordered) == 1:
        return ordered[0]
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def stage_latencies(observed: Mapping[str, Any]) -> dict[str, list[float]]:
    """Seconds per essay for each stage, from the event times the stream stored."""
    batch_ids: set[str] = observed["batch_ids"]
    upload_started: dict[str, float] = observed["upload_started"]
    provisioned: dict[tuple[str, str], float] = {}
    ready: dict[str, float] = {}
    outcome: dict[str, float] = {}
    requested: dict[str, float] = {}
    completed: dict[str, float] = {}
    essay_file: dict[str, tuple[str, str]] = {}
    for e in observed["events"]:
        if getattr(e.event, "batch_id", None) not in batch_ids:
            continue
        batch = e.event.batch_id
        if e.type == "EssayContentProvisioned":
            provisioned.setdefault((batch, e.event.text_storage_id), e.stored)
        elif e.type == "BatchEssaysReady":
            ready.setdefault(batch, e.stored)
            for essay in e.event.ready_essays:
                essay_file[essay.essay_id] = (batch, essay.text_storage_id)
        elif e.type == "SpellcheckGroupRequested":
            for essay in e.event.essays:
                requested.setdefault(essay.essay_id, e.stored)
        elif e.type == "SpellcheckGroupCompleted":
            for result in e.event.results:
                completed.setdefault(result.essay_id, e.stored)
        elif e.type == "ELSBatchPhaseOutcome":
            outcome.setdefault(batch, e.stored)
    stages: dict[str, list[float]] = {stage: [] for stage in STAGES}
    for essay_id, (batch, storage_id) in essay_file.items():
        start = upload_started[batch]
        arrived = provisioned.get((batch, storage_id))
        if arrived is not None:
            stages["upload"].append(arrived - start)
            stages["ready"].append(ready[batch] - arrived)
        if essay_id in requested and essay_id in completed:
            stages["spell check"].append(completed[essay_id] - requested[essay_id])
        stages["complete"].append(outcome[batch] - start)
    return stages


def completions_over_time(observed: Mapping[str, Any]) -> list[float]:
    """Seconds after the first upload at which each essay's spell check completed."""
    first = min(observed["upload_started"].values())
    return sorted(
        e.stored - first
        for e in observed["events"]
        if e.type == "SpellcheckGroupCompleted" and e.event.batch_id in observed["batch_ids"]
        for _ in e.event.results
    )


def summarise(
    observed: Mapping[str, Any],
    batches: Sequence[Sequence[BenchFile]],
    usage: Mapping[str, Mapping[str, float]],
    plain: Mapping[str, Any],
) -> dict[str, Any]:
    """The figures of one run."""
    essays = sum(len(files) for files in batches)
    first = min(observed["upload_started"].values())
    done = completions_over_time(observed)
    wall_s = max(done) if done else observed["finished"] - first
    formats: dict[str, int] = {}
    for files in batches:
        for f in files:
            formats[f.format] = formats.get(f.format, 0) + 1
    stages = stage_latencies(observed)
    essays_per_s = len(done) / wall_s
    return {
        "essays": essays,
        "batches": len(batches),
        "formats": formats,
        "essays_spellchecked": len(done),
        "wall_s": round(wall_s, 2),
        "essays_per_s": round(essays_per_s, 2),
        "stages_s": {
            stage: {
                "n": len(values),
                "p50": round(_percentile(values, 0.5), 3),
                "p99": round(_percentile(values, 0.99), 3),
                "mean": round(statistics.fmean(values), 3),
            }
            for stage, values in stages.items()
            if values
        },
        "plain_pyspellchecker": dict(plain),
        "mesh_vs_plain_ratio": round(essays_per_s / float(plain["essays_per_s"]), 1),
        "services": {
            name: {
                "cpu_s_per_essay": round(u["cpu_s"] / essays, 4),
                "cpu_s": round(u["cpu_s"], 2),
                "peak_rss_mib": round(u["peak_rss_mib"], 1),
            }
            for name, u in usage.items()
        },
    }


def markdown(result: Mapping[str, Any]) -> str:
    """The result as docs/benchmarks.md shows it."""
    m = result["machine"]
    plain = result["plain_pyspellchecker"]
    lines = [
        f"{result['essays']} essays in {result['batches']} batches of 25 "
        f"({', '.join(f'{n} .{k}' for k, n in sorted(result['formats'].items()))}), all "
        f"submitted at once: **{result['essays_per_s']} essays/s** end to end "
        f"({result['essays_spellchecked']} spell-checked in {result['wall_s']} s).",
        "",
        "| stage | what | p50 (s) | p99 (s) |",
        "|---|---|---|---|",
    ]
    what = {
        "upload": "upload call → EssayContentProvisioned",
        "ready": "EssayContentProvisioned → BatchEssaysReady",
        "spell check": "SpellcheckGroupRequested → SpellcheckGroupCompleted",
        "complete": "upload call → ELSBatchPhaseOutcome",
    }
    for stage, figures in result["stages_s"].items():
        lines.append(f"| {stage} | {what[stage]} | {figures['p50']} | {figures['p99']} |")
    lines += [
        "",
        f"Plain pyspellchecker in one process (every unknown word through `correction()`): "
        f"{plain['essays_per_s']} essays/s on the first {plain['essays']} of the "
        f"{plain['of']} essays ({plain['seconds']} s); the mesh is "
        f"**{result['mesh_vs_plain_ratio']}×** that.",
        "",
        "| process | CPU s per essay | CPU s total | peak RSS (MiB) |",
        "|---|---|---|---|",
    ]
    for name, figures in result["services"].items():
        lines.append(
            f"| {name} | {figures['cpu_s_per_essay']} | {figures['cpu_s']} | "
            f"{figures['peak_rss_mib']} |"
        )
    lines += [
        "",
        f"Machine: {m['processor']}, {m['cpus']} CPUs, Python {m['python']}, {m['platform']}; "
        f"load average (1/5/15 min) {m['load_average_before']} before, "
        f"{m['load_average_after']} after (shared with other work).",
    ]
    return "\n".join(lines) + "\n"


def draw(result: Mapping[str, Any], observed: Mapping[str, Any], path: Path) -> None:
    """Per-stage latency distributions and spell checks completed per second."""
    import matplotlib  # noqa: PLC0415 - only the benchmark draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    stages = stage_latencies(observed)
    done = completions_over_time(observed)
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    names = [s for s in STAGES if stages[s]]
    left.boxplot([stages[s] for s in names], tick_labels=names, whis=(1, 99))
    left.set_ylabel("seconds per essay")
    left.set_title("Latency per stage (whiskers p1–p99)")
    right.step([0.0, *done], range(len(done) + 1), where="post", color="tab:green")
    right.set_xlabel("seconds since the first upload")
    right.set_ylabel("essays spell-checked (cumulative)")
    right.set_title(f"Throughput over time: {result['essays_per_s']} essays/s overall")
    right.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_reports(
    result: Mapping[str, Any], observed: Mapping[str, Any], directory: Path
) -> dict[str, Path]:
    """latest.json, latest.md and latest.png under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {
        "json": directory / "latest.json",
        "md": directory / "latest.md",
        "png": directory / "latest.png",
    }
    paths["json"].write_text(json.dumps(result, indent=2) + "\n")
    paths["md"].write_text(markdown(result))
    draw(result, observed, paths["png"])
    return paths
