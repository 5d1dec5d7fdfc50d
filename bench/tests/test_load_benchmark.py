"""The load benchmark (`python -m bench.load`, 200 batches of 25 essays) in miniature: a few
batches registered and uploaded at once through a local stack of its own, all completed, and the
figures the benchmark reports are there and make sense."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bench.load import measure
from devstack.stack import LocalStack, RunDir, StackAddresses
from tests.support import CORPUS

pytestmark = pytest.mark.skipif(
    len(list((CORPUS / "essays").glob("e*.txt"))) < 100,
    reason="the corpus is not beside the repository",
)


async def test_a_tiny_load_run_completes_and_reports_its_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LOG_LEVEL", "WARNING")  # inherited by the stack's services
    addresses = StackAddresses.free()
    stack = LocalStack(RunDir(tmp_path / "run"), addresses, report=lambda _: None)
    await asyncio.to_thread(stack.start)
    try:
        run = await measure(addresses, batches=4, words=60)
    finally:
        await asyncio.to_thread(stack.stop)
    assert run["all_completed"], run
    assert run["essays"] == 100
    assert run["words_per_essay_mean"] <= 60
    assert float(run["essays_per_s"]) > 0  # type: ignore[arg-type]
    for span in ("upload_to_ready", "ready_to_completed"):
        figures = run[span]
        assert isinstance(figures, dict)
        assert 0 < figures["p50_ms"] <= figures["p99_ms"] <= figures["max_ms"], run
    assert run["load_average_1m_after"] >= 0
