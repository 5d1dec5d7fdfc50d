"""Per-essay budget: what one essay costs the mesh in stored messages, KV revisions, Object Store
puts and gets, gRPC calls, JetStream API calls, NATS messages, fsyncs and CPU.

    python -m bench.e2e_budget [--batches 8] [--before bench/results/budget_before.json]

The plain-text batches of the comparison with the peer (8 × 25 essays, submitted at once), each
round on a freshly started stack, from before the first submission until the stack is quiet after
the last phase outcome. The counted round reads JetStream's monitor (`/jsz?streams=true`: each
stream's last sequence, API calls; `/varz`: messages in and out), each service's `/metrics` (gRPC
calls served, by method) and the CPU of every process (/proc). The traced round does the same
with `strace -f -c -e trace=fsync,fdatasync` on nats-server, for its fsyncs only (strace slows
nats-server, so CPU comes from the counted round; neither round is timed).

Writes bench/results/<name>.{json,md} (name: budget), with a before/after table when `--before`
names an earlier budget JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
from prometheus_client.parser import text_string_to_metric_families

from bench.e2e import RESULTS, drive, running_stack
from bench.e2e_corpus import BenchFile
from bench.e2e_peer import CLIENT, measure, plain_text_batches
from services.mesh.subjects import BATCH_PHASE_OUTCOME
from tests.harness.spellcheck_common import machine

REPO_ROOT = Path(__file__).resolve().parent.parent
NATS_SERVER = "nats-server"
OBJECT_STREAM, OBJECT_CHUNKS = "OBJ_content", "$O.content.C.>"
GRPC_CALLS = "huleedu_grpc_requests_total"
REST_S = 5.0  # how long the stack's background traffic is counted before the round
QUIET_S = 2.0  # the round ends once nothing new has been stored for this long
Row = tuple[str, str]  # (quantity, item)


def _json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as response:
        return dict(json.load(response))


def nats_counters(monitor_url: str) -> dict[str, Any]:
    """Each stream's last sequence, JetStream API calls and errors, NATS messages and bytes."""
    jsz, varz = _json(monitor_url + "/jsz?streams=true"), _json(monitor_url + "/varz")
    streams = {
        stream["name"]: int(stream["state"]["last_seq"])
        for account in jsz.get("account_details", [])
        for stream in account.get("stream_detail", [])
    }
    counters = {key: int(varz[key]) for key in ("in_msgs", "out_msgs", "in_bytes", "out_bytes")}
    return {"streams": streams, "api": dict(jsz["api"]), **counters}


def grpc_calls(env: Mapping[str, str]) -> dict[str, float]:
    """gRPC calls each service has served so far, by method (`Service/Method`), any code."""
    calls: dict[str, float] = {}
    for variable, addr in env.items():
        if not variable.endswith("_METRICS_ADDR"):
            continue
        with urllib.request.urlopen(f"http://{addr}/metrics", timeout=10) as response:
            text = response.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == GRPC_CALLS:
                    method = sample.labels["method"].rsplit(".", 1)[-1]  # ContentService/Get...
                    calls[method] = calls.get(method, 0.0) + sample.value
    return calls


async def chunk_messages(nats_url: str) -> int:
    """Object Store chunk messages held (the rest of OBJ_content is one meta message per put)."""
    client = await nats.connect(nats_url, name="bench_budget")
    try:
        info = await client.jetstream().stream_info(OBJECT_STREAM, subjects_filter=OBJECT_CHUNKS)
    finally:
        await client.close()
    return sum((info.state.subjects or {}).values())


def snapshot(env: Mapping[str, str]) -> dict[str, Any]:
    """Every counter the budget is the difference of."""
    return {**nats_counters(env["NATS_MONITOR_URL"]), "grpc": grpc_calls(env)}


def wait_quiet(monitor_url: str, timeout_s: float = 120.0) -> None:
    """Return once no stream has stored anything new for QUIET_S (the services' work after the
    last phase outcome: acks, KV updates, BOS's batch record)."""
    deadline = time.monotonic() + timeout_s
    last = nats_counters(monitor_url)["streams"]
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < QUIET_S and time.monotonic() < deadline:
        time.sleep(0.25)
        now = nats_counters(monitor_url)["streams"]
        if now != last:
            last, quiet_since = now, time.monotonic()


class FsyncCounter:
    """fsync and fdatasync calls of a process and all its threads, counted by `strace -c`."""

    def __init__(self, pid: int, directory: Path, *, enabled: bool = True) -> None:
        self._pid = pid
        self._enabled = enabled
        self._output = directory / "strace.txt"
        self._strace: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> FsyncCounter:
        strace = shutil.which("strace")
        if strace is None or not self._enabled:
            return self
        self._strace = subprocess.Popen(
            [
                *(strace, "-f", "-c", "-e", "trace=fsync,fdatasync"),
                *("-o", str(self._output), "-p", str(self._pid)),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while not self._attached() and self._strace.poll() is None:
            if time.monotonic() > deadline:
                self._strace.kill()
            time.sleep(0.05)
        if not self._attached():
            self._strace = None  # not permitted to attach: fsyncs go unreported
        return self

    def _attached(self) -> bool:
        status = Path(f"/proc/{self._pid}/status").read_text()
        return "\nTracerPid:\t0\n" not in status

    def __exit__(self, *exc: object) -> None:
        if self._strace is not None:
            self._strace.send_signal(signal.SIGINT)  # detach and write the summary
            self._strace.wait(timeout=30)

    def calls(self) -> int | None:
        """fsync + fdatasync calls while attached; None when strace could not attach."""
        if self._strace is None:
            return None
        total = 0
        for line in self._output.read_text().splitlines():
            fields = line.split()
            if fields and fields[-1] in ("fsync", "fdatasync"):
                total += int(fields[3])
        return total


def round_rows(
    before: Mapping[str, Any], after: Mapping[str, Any], chunks: int
) -> dict[Row, float]:
    """The round's counts (differences of two snapshots), as (quantity, item) rows."""
    rows: dict[Row, float] = {}
    stored = {
        name: last - before["streams"].get(name, 0) for name, last in after["streams"].items()
    }
    rows["messages stored", "total"] = sum(stored.values())
    for name, count in sorted(stored.items()):
        if not name.startswith(("KV_", "OBJ_")):
            rows["messages stored", name] = count
    kv = {name.removeprefix("KV_"): n for name, n in stored.items() if name.startswith("KV_")}
    rows["KV revisions", "total"] = sum(kv.values())
    for bucket, count in sorted(kv.items()):
        rows["KV revisions", bucket] = count
    grpc = {m: n - before["grpc"].get(m, 0.0) for m, n in after["grpc"].items()}
    rows["Object Store", "puts (meta messages)"] = stored.get(OBJECT_STREAM, 0) - chunks
    rows["Object Store", "chunk messages"] = chunks
    rows["Object Store", "gets (Content Service read calls)"] = sum(
        n for m, n in grpc.items() if m.startswith("ContentService/") and "Get" in m
    )
    rows["gRPC calls", "total"] = sum(grpc.values())
    for method, count in sorted(grpc.items()):
        rows["gRPC calls", method] = count
    rows["JetStream API", "calls"] = after["api"]["total"] - before["api"]["total"]
    rows["JetStream API", "errors"] = after["api"]["errors"] - before["api"]["errors"]
    rows["NATS messages", "in"] = after["in_msgs"] - before["in_msgs"]
    rows["NATS messages", "out"] = after["out_msgs"] - before["out_msgs"]
    rows["NATS KiB", "in"] = (after["in_bytes"] - before["in_bytes"]) / 1024
    rows["NATS KiB", "out"] = (after["out_bytes"] - before["out_bytes"]) / 1024
    return rows


def budget_round(
    batches: Sequence[Sequence[BenchFile]], timeout_s: float, *, trace_fsyncs: bool
) -> dict[str, Any]:
    """One round on a freshly started stack: its rows, the rest rates before it and, traced,
    nats-server's fsyncs."""
    essays = sum(len(files) for files in batches)
    with running_stack() as (env, pids), tempfile.TemporaryDirectory() as tmp:
        monitor_url = env["NATS_MONITOR_URL"]
        resting = nats_counters(monitor_url)
        time.sleep(REST_S)
        rested = nats_counters(monitor_url)
        at_rest = {
            "jetstream_api_calls": (rested["api"]["total"] - resting["api"]["total"]) / REST_S,
            "nats_in_msgs": (rested["in_msgs"] - resting["in_msgs"]) / REST_S,
        }
        chunks_before = asyncio.run(chunk_messages(env["NATS_URL"]))
        fsyncs = FsyncCounter(pids[NATS_SERVER], Path(tmp), enabled=trace_fsyncs)
        with fsyncs:
            before = snapshot(env)

            def work() -> tuple[float, float]:
                observed = asyncio.run(drive(env, batches, timeout_s, BATCH_PHASE_OUTCOME))
                wait_quiet(monitor_url)
                return observed["started"], time.time()

            side = measure(essays, pids, work)
            after = snapshot(env)
        chunks = asyncio.run(chunk_messages(env["NATS_URL"])) - chunks_before
        rows = round_rows(before, after, chunks)
        fsync_calls = fsyncs.calls()  # None unless traced
    mesh = {name: 1000 * u["cpu_s"] for name, u in side.usage.items() if name != CLIENT}
    rows["CPU ms", "total (mesh)"] = sum(mesh.values())
    for name, cpu_ms in sorted(mesh.items()):
        rows["CPU ms", name] = cpu_ms
    rows["CPU ms", "benchmark client"] = 1000 * side.usage[CLIENT]["cpu_s"]
    return {
        "rows": rows,
        "window_s": round(side.window_s, 2),
        "at_rest_per_s": {k: round(v, 2) for k, v in at_rest.items()},
        "fsyncs": fsync_calls,
    }


def tree_state() -> dict[str, Any]:
    """The commit measured and whether the services (or their contracts) had changes not yet
    committed."""

    git = ["git", "-C", str(REPO_ROOT)]
    commit = subprocess.check_output([*git, "rev-parse", "--short", "HEAD"], text=True)
    changes = subprocess.check_output([*git, "status", "--porcelain", "services", "proto"])
    return {"commit": commit.strip(), "uncommitted_changes": bool(changes.strip())}


def run_budget(batches: int, timeout_s: float, *, fsyncs: bool = True) -> dict[str, Any]:
    """Both rounds, combined: every count from the counted round, fsyncs from the traced one."""
    files = plain_text_batches(batches)
    essays = sum(len(batch) for batch in files)
    counted = budget_round(files, timeout_s, trace_fsyncs=False)
    rows: dict[Row, float] = dict(counted["rows"])
    notes = [
        "Counts from one round on a freshly started stack, from before the first submission "
        "until nothing new was stored for 2 s after the last phase outcome; they include the "
        "benchmark client's own calls (RegisterBatch and UploadFiles per batch, one ordered "
        "consumer on the phase outcomes) and the stack's background traffic over the round.",
    ]
    traced = None
    if fsyncs:
        traced = budget_round(files, timeout_s, trace_fsyncs=True)
        if traced["fsyncs"] is not None:
            rows["fsyncs", NATS_SERVER] = traced["fsyncs"]
            notes.append(
                "fsyncs: a second round with `strace -f -c -e trace=fsync,fdatasync` attached "
                "to nats-server; strace slows it, which does not matter here since no round is "
                "timed, and CPU comes from the untraced round."
            )
        else:
            notes.append("fsyncs: unavailable (strace missing or not permitted to attach).")
    return {
        "benchmark": "budget",
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "tree": tree_state(),
        "essays": essays,
        "batches": batches,
        "format": "txt",
        "window_s": counted["window_s"],
        "at_rest_per_s": counted["at_rest_per_s"],
        "rows": [
            {"quantity": q, "item": i, "total": round(v, 1), "per_essay": round(v / essays, 3)}
            for (q, i), v in rows.items()
        ],
        "traced_round": _totals(traced["rows"]) if traced else None,
        "notes": notes,
        "machine": {**machine(), "load_average": [round(x, 2) for x in os.getloadavg()]},
    }


def _totals(rows: Mapping[Row, float]) -> dict[str, float]:
    return {f"{quantity}: {item}": round(value, 1) for (quantity, item), value in rows.items()}


def _figure(value: float | None) -> str:
    if value is None:
        return "–"
    if value == int(value):
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _change(old: float | None, new: float | None) -> str:
    if old is None or new is None or old == new:
        return "" if old is None or new is None else "0"
    return f"{new - old:+.2f}" + (f" ({(new - old) / old:+.0%})" if old else "")


def _per_essay(result: Mapping[str, Any]) -> dict[Row, float]:
    return {(r["quantity"], r["item"]): r["per_essay"] for r in result["rows"]}


def _label(row: Row) -> str:
    quantity, item = row
    return f"{quantity}: {item}" if item != "total" else f"**{quantity}**"


def _tree(result: Mapping[str, Any]) -> str:
    tree: Mapping[str, Any] = result["tree"]
    changes = " + uncommitted changes" if tree["uncommitted_changes"] else ""
    return f"{tree['commit']}{changes}, {result['essays']} essays"


def markdown(result: Mapping[str, Any], before: Mapping[str, Any] | None = None) -> str:
    """The budget per essay; with `before`, side by side with it."""
    after_rows = _per_essay(result)
    if before is None:
        head = f"| quantity | per essay | total ({result['essays']} essays) |\n|---|---|---|"
        lines = [head] + [
            f"| {_label((r['quantity'], r['item']))} | {_figure(r['per_essay'])} | "
            f"{_figure(r['total'])} |"
            for r in result["rows"]
        ]
    else:
        before_rows = _per_essay(before)
        order = list(before_rows) + [row for row in after_rows if row not in before_rows]
        quantities = list(dict.fromkeys(quantity for quantity, _ in order))
        order.sort(key=lambda row: quantities.index(row[0]))  # new items join their quantity
        lines = [
            f"| per essay | before ({_tree(before)}) | after ({_tree(result)}) | change |",
            "|---|---|---|---|",
        ]
        for row in order:
            missing = None if row[0] == "fsyncs" else 0.0  # no stream or call: none counted
            old, new = before_rows.get(row, missing), after_rows.get(row, missing)
            lines.append(
                f"| {_label(row)} | {_figure(old)} | {_figure(new)} | {_change(old, new)} |"
            )
    rest = result["at_rest_per_s"]
    lines += [
        "",
        f"{result['essays']} plain-text essays in {result['batches']} batches; the round took "
        f"{result['window_s']} s. At rest the stack makes {rest['jetstream_api_calls']} "
        f"JetStream API calls/s and takes in {rest['nats_in_msgs']} NATS messages/s (counted "
        "in the round too).",
        *[f"\n{note}" for note in result["notes"]],
    ]
    return "\n".join(lines) + "\n"


def write_budget(
    result: Mapping[str, Any], directory: Path, name: str, before: Mapping[str, Any] | None
) -> dict[str, Path]:
    """<name>.json and <name>.md under `directory`."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"json": directory / f"{name}.json", "md": directory / f"{name}.md"}
    paths["json"].write_text(json.dumps(result, indent=2) + "\n")
    paths["md"].write_text(markdown(result, before))
    return paths


def main() -> int:
    """Measure the budget once and write it."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--batches", type=int, default=8, help="batches of 25 (default: 8)")
    parser.add_argument("--timeout-s", type=float, default=900.0)
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--name", default="budget", help="file name of the results")
    parser.add_argument("--before", type=Path, help="an earlier budget JSON to compare with")
    parser.add_argument("--fsyncs", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    before = json.loads(args.before.read_text()) if args.before else None
    result = run_budget(args.batches, args.timeout_s, fsyncs=args.fsyncs)
    paths = write_budget(result, args.results, args.name, before)
    print(paths["md"].read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
