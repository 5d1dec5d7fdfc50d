"""The short cluster check that `make test` runs (the full one is `make test-cluster`): the
cluster started and stopped the way `make cluster-up`/`make cluster-down` do it (on free ports,
one instance of each service to keep it short; authentication on, the batches sent with the
teacher token `up` wrote), six batches through it while the node leading
the event stream is SIGKILLed and restarted with the CLI, every batch completed, nothing in the
DLQ, and every stream's three replicas current again."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import grpc
import nats
import pytest

from devstack.cluster_layout import ClusterLayout
from devstack.processes import read_pid_files
from devstack.stack import read_env_file
from huleedu.batch.v1.batch_service_pb2 import ListBatchesRequest
from huleedu.common.v1 import common_pb2
from services.mesh.streams import DLQ_STREAM, EVENTS_STREAM
from tests.harness.scaling_load import CORPUS, BatchFlow, MeshDriver, corpus_essays, jetstream_call
from tests.support import REPO_ROOT, wait_until

pytestmark = [
    pytest.mark.timeout(240),
    pytest.mark.skipif(not CORPUS.is_dir(), reason="the corpus is not beside the repository"),
    pytest.mark.skipif(
        os.environ.get("HULEEDU_E2E_STACK") == "external", reason="starts its own cluster"
    ),
]
BATCHES = 6
ESSAYS = 5


def cluster_cli(run_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m devstack.cluster --run-dir RUN_DIR ARGS...`; the CLI's token (`--auth up`
    logs it in) beside the run directory, not in the user's ~/.config."""
    return subprocess.run(
        [sys.executable, "-m", "devstack.cluster", "--run-dir", str(run_dir), *args],
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO_ROOT,
        check=False,
        env={**os.environ, "HULEEDU_TOKEN_FILE": str(token_file(run_dir))},
    )


def token_file(run_dir: Path) -> Path:
    """Where `up --auth` writes the CLI's teacher token for this cluster."""
    return run_dir.parent / "cli-token"


async def test_a_lost_and_restarted_node_loses_no_batch(tmp_path: Path) -> None:
    run_dir = tmp_path / "cluster"
    started = cluster_cli(run_dir, "--free-ports", "--auth", "up", "--instances", "1")
    assert started.returncode == 0, started.stderr
    assert f"a teacher token for tenant demo in {token_file(run_dir)}" in started.stderr
    try:
        layout = ClusterLayout.read(run_dir / "cluster.json")

        async def status_all_current() -> subprocess.CompletedProcess[str] | None:
            status = await asyncio.to_thread(cluster_cli, run_dir, "status")
            return status if status.returncode == 0 else None

        # `up` returned with every replica current, but a follower on a slow disk can trail the
        # leader by an entry for a moment afterwards, and `status` then exits 1.
        status = await wait_until(
            status_all_current, timeout_s=60, interval_s=1.0, message="status: all current"
        )
        assert status.stdout.count("SERVING") == 5 and "R3" in status.stdout

        operator = read_env_file(run_dir / "stack.env")["NATS_URL"]
        client = await nats.connect(servers=operator.split(","))
        js = client.jetstream(timeout=10)
        essays = corpus_essays(BATCHES * ESSAYS, skip=400)
        anonymous = MeshDriver(layout)
        try:
            with pytest.raises(grpc.aio.AioRpcError) as refused:
                await anonymous.call(anonymous.bos.ListBatches, ListBatchesRequest())
        finally:
            await anonymous.close()
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        driver = MeshDriver(layout, token=token_file(run_dir).read_text().strip())
        flow = BatchFlow(
            driver, [essays[i * ESSAYS : (i + 1) * ESSAYS] for i in range(BATCHES)], window=2
        )

        async def lose_and_regain_the_leader() -> str:
            await wait_until(lambda: flow.terminal >= 1, timeout_s=120, message="a batch done")
            info = await jetstream_call(lambda: js.stream_info(EVENTS_STREAM))
            leader = info.cluster.leader if info.cluster is not None else None
            assert leader
            killed = await asyncio.to_thread(cluster_cli, run_dir, "kill", leader)
            assert killed.returncode == 0, killed.stderr
            await wait_until(lambda: flow.terminal >= 3, timeout_s=120, message="3 batches done")
            restarted = await asyncio.to_thread(cluster_cli, run_dir, "restart", leader)
            assert restarted.returncode == 0, restarted.stderr
            return leader

        chaos = asyncio.create_task(lose_and_regain_the_leader())
        try:
            final = await flow.run(timeout_s=180)
            await chaos
        finally:
            chaos.cancel()
            await driver.close()
        assert {batch.status for batch in final.values()} == {
            common_pb2.BatchStatus.BATCH_STATUS_COMPLETED
        }
        assert all(batch.counts.spellchecked == ESSAYS for batch in final.values())
        assert (await jetstream_call(lambda: js.stream_info(DLQ_STREAM))).state.messages == 0
        await client.close()

        await wait_until(
            status_all_current, timeout_s=60, interval_s=1.0, message="replicas current"
        )
    finally:
        stopped = cluster_cli(run_dir, "down")
        assert stopped.returncode == 0, stopped.stderr
    assert not [process for process in read_pid_files(run_dir / "pids") if process.alive]
