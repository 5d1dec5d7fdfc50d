"""Two instances of each of ELS, BOS, File Service, Content Service and Spell Checker in the same
run: the instances share the durable consumers and the state in JetStream, instance i of a service
dials instance i of the services it calls, and the client spreads its calls over the instances and
moves to the other one when a call gets no answer. Every instance is SIGKILLed once, at a seeded
random moment, and restarted. The guarantees are the chaos suite's: every batch in the state its
files call for, every good file in exactly one slot, every essay spell-checked exactly once,
nothing pending, the DLQ empty; and every instance took a share of the work."""

from __future__ import annotations

from pathlib import Path

import pytest

from devstack.stack import SERVICES
from tests.e2e.chaos_rig import chaos_rig, chaos_run
from tests.support import CORPUS

pytestmark = pytest.mark.skipif(
    len(list((CORPUS / "essays").glob("e*.txt"))) < 1500,
    reason="the corpus is not beside the repository",
)
TWO_OF_EACH = {spec.name: 2 for spec in SERVICES}


@pytest.mark.slow
@pytest.mark.timeout(900)
async def test_two_instances_of_every_service_while_each_is_killed_once(tmp_path: Path) -> None:
    async with chaos_rig(tmp_path / "stack", instances=TWO_OF_EACH) as rig:
        figures = await chaos_run(
            rig, batches=50, mode="services", faults=10, stagger_s=0.6, window_s=35
        )
    work = figures["work_by_instance"]
    assert isinstance(work, dict)
    idle = [name for name, count in work.items() if not count]
    assert not idle, f"instances that did no work: {idle}"
