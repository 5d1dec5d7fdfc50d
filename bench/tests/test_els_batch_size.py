"""The batch-size benchmark of ELS (`python -m bench.els_batch_size`) in miniature: tiny batches
through the real handlers on a nats-server of its own, every essay uploaded and checked (the
benchmark asserts both), and the figures it reports are there and make sense."""

from __future__ import annotations

from bench.els_batch_size import STEPS, run


async def test_tiny_batches_run_through_and_report_their_figures() -> None:
    summary = await run([2, 4], repeats=2, profile=None, in_flight=3)
    for size in ("2", "4"):
        for step in STEPS:
            figures = summary["by_size"][size][step]
            assert figures["kv_writes_per_essay"]["median"] > 0
            assert figures["kv_bytes_per_essay"]["median"] > 0
            assert figures["els_cpu_ms_per_essay"]["min"] <= figures["els_cpu_ms_per_essay"]["max"]
    ratios = summary["ratio_4_to_2"]
    assert set(ratios) == set(STEPS)
    assert ratios["upload"]["kv_bytes_per_essay"] > 0
