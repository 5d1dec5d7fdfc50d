"""Ours against the Celery + Redis peer (bench.celery_peer) on the same plain-text essays: rounds
that alternate the two sides, each on a freshly started system, measured the same way.

A round's clock runs from the first submission (ours: the first RegisterBatch; the peer: the
first upload stored in Redis) to the last batch completed (ours: the stored time of the last
ELSBatchPhaseOutcome; the peer: the time the last chord callback marked its batch done). CPU is
read from /proc over that window for every process of the side and for the client (this process,
without the sampler's thread), along with how busy the whole machine was.
"""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.celery_peer import CeleryPeer
from bench.e2e_corpus import BenchFile
from bench.e2e_report import ProcessSampler
from bench.scaling import machine_cpu_s
from tests.harness.spellcheck_common import read_essays

CLIENT = "client"
REDIS = "redis-server"


@dataclass(frozen=True)
class SideRound:
    """One side's round: essays, its clock (epoch s), CPU seconds and peak RSS per process over
    the sampled window, and the CPU seconds the whole machine was busy in that window."""

    essays: int
    started: float
    finished: float
    usage: dict[str, dict[str, float]]
    window_s: float
    machine_busy_s: float

    @property
    def wall_s(self) -> float:
        """First submission to last batch completed."""
        return self.finished - self.started

    @property
    def essays_per_s(self) -> float:
        """Essays over the round's clock."""
        return self.essays / self.wall_s


def plain_text_batches(batches: int, size: int = 25) -> list[list[BenchFile]]:
    """`batches` batches of `size` corpus essays as the .txt files they are published as (the
    same essays bench_batches starts from, none rendered as another format)."""
    files = [
        BenchFile(name, text.encode("utf-8"), text, "txt")
        for name, text in read_essays(batches * size)
    ]
    return [files[b * size : (b + 1) * size] for b in range(batches)]


def measure(
    essays: int,
    pids: Mapping[str, int],
    work: Callable[[], tuple[float, float]],
    *,
    alone: Collection[str] = (),
) -> SideRound:
    """Run `work` (it returns its clock: first submission, last batch completed) while sampling
    the CPU of `pids` (with their child processes unless in `alone`), of the client and of the
    machine."""
    sampler = ProcessSampler({**pids, CLIENT: os.getpid()}, alone={*alone, CLIENT})
    busy_before, _ = machine_cpu_s()
    opened = time.monotonic()
    sampler.start()
    started, finished = work()
    usage = sampler.stop()
    busy_after, _ = machine_cpu_s()
    window_s = time.monotonic() - opened
    return SideRound(essays, started, finished, usage, window_s, busy_after - busy_before)


def peer_round(batches: Sequence[Sequence[BenchFile]], timeout_s: float) -> SideRound:
    """The peer, freshly started (one pool process per core), on `batches`; then stopped."""
    essays = sum(len(files) for files in batches)
    with (
        tempfile.TemporaryDirectory(prefix="huleedu-peer-") as tmp,
        CeleryPeer(Path(tmp)) as peer,
    ):
        pids = peer.processes()

        def work() -> tuple[float, float]:
            run = peer.run(batches, timeout_s)
            return run.started, run.finished

        # Redis with any child it forks (an AOF rewrite); the pool processes are listed apart
        # from the worker's main process.
        return measure(essays, pids, work, alone=set(pids) - {REDIS})


def alternate(
    sides: Mapping[str, Callable[[], SideRound]], rounds: int, report: Callable[[str], None]
) -> dict[str, list[dict[str, Any]]]:
    """Run each side in turn, `rounds` times (ours, peer, ours, peer, ...); each round's figures
    with the load average before and after it."""
    results: dict[str, list[dict[str, Any]]] = {name: [] for name in sides}
    for number in range(1, rounds + 1):
        for name, run in sides.items():
            load_before = os.getloadavg()
            side_round = run()
            results[name].append(round_figures(side_round, load_before, os.getloadavg()))
            report(
                f"round {number}/{rounds} {name}: {side_round.essays_per_s:.1f} essays/s, "
                f"{1000 * _total_cpu_s(side_round) / side_round.essays:.1f} CPU ms per essay"
            )
    return results


def _total_cpu_s(side_round: SideRound) -> float:
    return sum(u["cpu_s"] for u in side_round.usage.values())


def round_figures(
    side_round: SideRound, load_before: Sequence[float], load_after: Sequence[float]
) -> dict[str, Any]:
    """What a round measured, per essay."""
    per_essay = 1000 / side_round.essays
    busy_cores = side_round.machine_busy_s / side_round.window_s
    side_cores = _total_cpu_s(side_round) / side_round.window_s
    return {
        "essays": side_round.essays,
        "wall_s": round(side_round.wall_s, 3),
        "essays_per_s": round(side_round.essays_per_s, 2),
        "cpu_ms_per_essay": round(_total_cpu_s(side_round) * per_essay, 2),
        "processes": {
            name: {
                "cpu_ms_per_essay": round(u["cpu_s"] * per_essay, 2),
                "peak_rss_mib": round(u["peak_rss_mib"], 1),
            }
            for name, u in side_round.usage.items()
        },
        "side_cores": round(side_cores, 2),
        "machine_busy_cores": round(busy_cores, 2),
        # what else the machine ran meanwhile (other users' work, the sampler)
        "other_work_cores": round(max(busy_cores - side_cores, 0.0), 2),
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in load_after],
    }
