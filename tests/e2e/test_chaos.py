"""Chaos: classes of 25 corpus essays (with documents in other formats, bad files and files sent
twice) go through the whole stack while a driver SIGKILLs a random service, or nats-server, at
seeded random moments and restarts it. The client retries whatever got no answer. At the end:
every batch in the state its files call for, every good file in exactly one slot, every essay
spell-checked exactly once (requests and completions counted by essay id on the stream),
nothing pending or unacknowledged on any durable consumer, and the DLQ empty.

The seed is printed; CHAOS_SEED=<seed> replays the same classes and fault schedule (the timing
of the processes themselves is not reproducible). `make test` runs the short run; the 50-batch
runs are marked slow (`make test-chaos`).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.chaos_rig import chaos_rig, chaos_run
from tests.support import CORPUS

pytestmark = pytest.mark.skipif(
    len(list((CORPUS / "essays").glob("e*.txt"))) < 1500,
    reason="the corpus is not beside the repository",
)


async def test_short_run_with_one_service_kill_and_one_nats_kill(tmp_path: Path) -> None:
    async with chaos_rig(tmp_path / "stack") as rig:
        await chaos_run(rig, batches=6, mode="mixed", faults=2, stagger_s=0.6, window_s=3.5)


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_fifty_batches_while_services_are_killed(tmp_path: Path) -> None:
    async with chaos_rig(tmp_path / "stack") as rig:
        await chaos_run(rig, batches=50, mode="services", faults=8, stagger_s=0.6, window_s=30)


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_fifty_batches_while_nats_server_is_killed(tmp_path: Path) -> None:
    async with chaos_rig(tmp_path / "stack") as rig:
        await chaos_run(rig, batches=50, mode="nats", faults=4, stagger_s=0.6, window_s=30)
