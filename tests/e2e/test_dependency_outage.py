"""An essay waiting to be checked outlives an outage longer than its whole redelivery budget: the
Spell Checker holds the request while the Content Service is down for longer than
NATS_MAX_DELIVER × SPELL_CHECKER_RETRY_DELAY_S, and nats-server is SIGKILLed and restarted in the
middle of it; the essay is checked once both are back. When every failed read spent a delivery
(DEPENDENCY_RETRY_HORIZON_S=0 still does), the essays ended FAILED."""

from __future__ import annotations

import asyncio
from pathlib import Path

from devstack.chaos import ServiceInstance
from huleedu.common.v1 import common_pb2
from services.mesh.streams import DLQ_STREAM
from tests.e2e.chaos_faults import log_lines
from tests.e2e.chaos_rig import chaos_rig
from tests.e2e.conftest import register_essays
from tests.support import CORPUS, unique, wait_until

MAX_DELIVER = 5  # the stack's NATS_MAX_DELIVER
RETRY_DELAY_S = 2.0  # the stack's SPELL_CHECKER_RETRY_DELAY_S
OUTAGE_S = MAX_DELIVER * RETRY_DELAY_S + 4.0
NATS_DOWN_S = 3.0
WAITING = "dependency unavailable; handling again after a wait"


def _one(stack_instances: list[ServiceInstance]) -> ServiceInstance:
    (instance,) = stack_instances
    return instance


async def test_an_essay_waiting_through_a_long_outage_ends_checked(tmp_path: Path) -> None:
    async with chaos_rig(tmp_path / "stack") as rig:
        stack, calls = rig.stack, rig.calls
        checker = _one(stack.instances("spell_checker"))
        content = _one(stack.instances("content_service"))
        # Nobody takes the spell-check requests until the Content Service is gone.
        await asyncio.to_thread(stack.kill, checker)
        essays = sorted((CORPUS / "essays").glob("e*.txt"))[:3]
        batch_id = await register_essays(calls, essays, unique("outage"))
        await calls.upload_files(batch_id, [(path.name, path.read_bytes()) for path in essays])

        async def spellchecking() -> bool:
            batch = await calls.get_batch(batch_id)
            return batch.status == common_pb2.BATCH_STATUS_SPELLCHECKING

        await wait_until(spellchecking, timeout_s=60, message="batch in spell checking")
        await asyncio.to_thread(stack.kill, content)
        await asyncio.to_thread(stack.restart, checker)
        await wait_until(
            lambda: log_lines(checker, WAITING) >= len(essays),
            timeout_s=60,
            message="every request waiting for the Content Service",
        )
        # The faults themselves: nothing to poll for.
        await asyncio.sleep((OUTAGE_S - NATS_DOWN_S) / 2)
        await asyncio.to_thread(stack.kill_nats)
        await asyncio.sleep(NATS_DOWN_S)
        await asyncio.to_thread(stack.start_nats)
        await asyncio.sleep((OUTAGE_S - NATS_DOWN_S) / 2)
        await asyncio.to_thread(stack.restart, content)

        done = await calls.wait_terminal([batch_id], timeout_s=120)
        slots = await calls.list_batch_essays(batch_id)
        dlq = await rig.js.stream_info(DLQ_STREAM)

    assert done[batch_id].status == common_pb2.BATCH_STATUS_COMPLETED
    assert [s.status for s in slots] == [common_pb2.ESSAY_STATUS_SPELLCHECKED_SUCCESS] * 3
    assert dlq.state.messages == 0
