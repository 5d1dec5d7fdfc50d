"""What the comparison with the Celery peer reports: medians over the rounds of each side, the
ratios, and bench/results/peer.{json,md,png}."""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

OURS, PEER = "ours", "peer"
DESCRIPTIONS = {
    OURS: "the mesh: nats-server (JetStream, sync_interval always) and the five services",
    PEER: "Celery prefork worker (one pool process per core, acks_late) on redis-server "
    "(appendfsync always) as broker, result backend and store; one chord per batch",
}


def _median(values: Sequence[float]) -> float:
    return round(statistics.median(values), 2)


def _side(rounds: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "essays_per_s": _median([r["essays_per_s"] for r in rounds]),
        "wall_s": _median([r["wall_s"] for r in rounds]),
        "cpu_ms_per_essay": _median([r["cpu_ms_per_essay"] for r in rounds]),
        "processes_cpu_ms_per_essay": {
            name: _median([r["processes"][name]["cpu_ms_per_essay"] for r in rounds])
            for name in rounds[0]["processes"]
        },
        "machine_busy_cores": _median([r["machine_busy_cores"] for r in rounds]),
        "other_work_cores": _median([r["other_work_cores"] for r in rounds]),
        "rounds": list(rounds),
    }


def summarise_comparison(
    rounds: Mapping[str, Sequence[Mapping[str, Any]]], batches: int, machine: Mapping[str, Any]
) -> dict[str, Any]:
    """Medians per side over its rounds, and how ours compares with the peer."""
    sides = {name: _side(side_rounds) for name, side_rounds in rounds.items()}
    ours, peer = sides[OURS], sides[PEER]
    return {
        "essays": ours["rounds"][0]["essays"],
        "batches": batches,
        "format": "txt",
        "rounds": len(ours["rounds"]),
        "order": "alternating, ours first; each round on a freshly started system",
        "clock": "first submission → last batch completed",
        "sides": {name: {"what": DESCRIPTIONS[name], **side} for name, side in sides.items()},
        "ours_vs_peer": {
            "essays_per_s": round(ours["essays_per_s"] / peer["essays_per_s"], 2),
            "cpu_ms_per_essay": round(ours["cpu_ms_per_essay"] / peer["cpu_ms_per_essay"], 2),
        },
        "machine": dict(machine),
    }


def markdown(result: Mapping[str, Any]) -> str:
    """The comparison as docs/benchmarks.md shows it."""
    ours, peer = result["sides"][OURS], result["sides"][PEER]
    ratio = result["ours_vs_peer"]
    lines = [
        f"{result['essays']} plain-text essays in {result['batches']} batches, "
        f"{result['rounds']} rounds per side ({result['order']}); medians:",
        "",
        "| side | essays/s | CPU ms per essay | per round (essays/s) | machine busy (cores) |",
        "|---|---|---|---|---|",
    ]
    for name, side in ((OURS, ours), (PEER, peer)):
        per_round = ", ".join(str(r["essays_per_s"]) for r in side["rounds"])
        lines.append(
            f"| {name} | **{side['essays_per_s']}** | **{side['cpu_ms_per_essay']}** | "
            f"{per_round} | {side['machine_busy_cores']} (other work "
            f"{side['other_work_cores']}) |"
        )
    lines += [
        "",
        f"Ours makes {ratio['essays_per_s']}× the peer's essays/s and uses "
        f"{ratio['cpu_ms_per_essay']}× its CPU per essay.",
        "",
        "| side | process | CPU ms per essay (median) |",
        "|---|---|---|",
    ]
    for name, side in ((OURS, ours), (PEER, peer)):
        for process, ms in side["processes_cpu_ms_per_essay"].items():
            lines.append(f"| {name} | {process} | {ms} |")
    m = result["machine"]
    loads = [r["load_average_before"][0] for s in (ours, peer) for r in s["rounds"]]
    lines += [
        "",
        f"Machine: {m['processor']}, {m['cpus']} CPUs, Python {m['python']}, {m['platform']}; "
        f"1-minute load average {min(loads)}–{max(loads)} at the rounds' starts.",
    ]
    return "\n".join(lines) + "\n"


def draw(result: Mapping[str, Any], path: Path) -> None:
    """Essays/s per round and median, and CPU ms per essay by process, side by side."""
    import matplotlib  # noqa: PLC0415 - only the benchmark draws

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sides = result["sides"]
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for x, name in enumerate((OURS, PEER)):
        side = sides[name]
        left.bar(x, side["essays_per_s"], color=("tab:green", "tab:blue")[x], alpha=0.6)
        left.scatter([x] * len(side["rounds"]), [r["essays_per_s"] for r in side["rounds"]], c="k")
        bottom = 0.0
        for process, ms in side["processes_cpu_ms_per_essay"].items():
            right.bar(x, ms, bottom=bottom, edgecolor="white")
            if ms > 0.04 * side["cpu_ms_per_essay"]:
                right.text(x, bottom + ms / 2, f"{process} {ms}", ha="center", va="center", size=7)
            bottom += ms
    for axes in (left, right):
        axes.set_xticks([0, 1], ["ours (mesh)", "peer (Celery + Redis)"])
    left.set_ylabel("essays/s (first submission → last batch done)")
    left.set_title(f"Throughput: median of {result['rounds']} rounds (dots: each round)")
    right.set_ylabel("CPU ms per essay (median per process)")
    right.set_title("CPU per essay, every process")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def write_comparison(result: Mapping[str, Any], directory: Path) -> dict[str, Path]:
    """peer.json, peer.md and peer.png under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: directory / f"peer.{kind}" for kind in ("json", "md", "png")}
    paths["json"].write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
    paths["md"].write_text(markdown(result))
    draw(result, paths["png"])
    return paths
