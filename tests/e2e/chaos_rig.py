"""A chaos stack with the test's connections to it (NATS, the ack observer, a retrying client),
and the chaos run itself: the workload under a fault driver, then every end check."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from nats.aio.client import Client
from nats.js import JetStreamContext

from devstack.chaos import ChaosStack
from services.mesh.connection import connect_nats
from tests.conftest import settings_for
from tests.e2e.chaos_faults import (
    FaultDriver,
    chaos_seed,
    print_report,
    recovery_summary,
)
from tests.e2e.chaos_observer import AckObserver
from tests.e2e.chaos_workload import plan_batches, run_workload, verify
from tests.harness.mesh_calls import MeshCalls
from tests.support import unique

# Short ack waits bring back a message whose handler was killed within seconds (the default, 30 s,
# would hold it that long); BOS re-announces a registration whose publish was cut off every second.
CHAOS_ENV = {
    "NATS_ACK_WAIT_S": "5",
    "BOS_ANNOUNCE_RETRY_S": "1",
    "BOS_ANNOUNCE_GRACE_S": "1",
    "LOG_LEVEL": "INFO",
    "HULEEDU_TRACING": "off",
}


@dataclass
class ChaosRig:
    """A running chaos stack with the test's connections to it."""

    stack: ChaosStack
    observer: AckObserver
    nats: Client
    js: JetStreamContext
    calls: MeshCalls


@contextlib.asynccontextmanager
async def chaos_rig(
    root: Path, instances: Mapping[str, int] | None = None
) -> AsyncIterator[ChaosRig]:
    """Start a chaos stack under `root`, connect to it; stop everything on the way out."""
    stack = ChaosStack(root, instances=instances, env=CHAOS_ENV)
    await asyncio.to_thread(stack.start)
    observer = AckObserver()
    calls = MeshCalls(
        bos=stack.addrs("batch_orchestrator"),
        files=stack.addrs("file_service"),
        els=stack.addrs("essay_lifecycle"),
    )
    try:
        await observer.start(stack.nats.url)
        client, js = await connect_nats(settings_for(stack.nats.url), "chaos-test")
        try:
            yield ChaosRig(stack, observer, client, js, calls)
        finally:
            await client.close()
    finally:
        await calls.close()
        await observer.stop()
        await asyncio.to_thread(stack.stop)


async def chaos_run(
    rig: ChaosRig,
    *,
    batches: int,
    mode: str,
    faults: int,
    stagger_s: float,
    window_s: float,
) -> dict[str, object]:
    """Run `batches` classes while the driver injects `faults` faults of `mode`; check every
    guarantee; print and return the figures."""
    seed = chaos_seed()
    rng = random.Random(seed)
    plans = plan_batches(batches, rng, first_essay=rng.randrange(2500))
    run_tag = unique("chaos")
    driver = FaultDriver(rig.stack, rig.observer, rig.js, rng, mode, faults, window_s)
    started = time.monotonic()
    workload = asyncio.create_task(run_workload(rig.calls, plans, run_tag, stagger_s=stagger_s))
    await driver.run(started, workload)
    await workload
    seconds = time.monotonic() - started
    await driver.finish()
    verdict = await verify(rig.calls, rig.js, plans, run_tag)
    print("faults and recoveries:")
    for fault in driver.faults:
        print("  " + fault.describe())
    figures: dict[str, object] = {
        "seed": seed,
        "mode": mode,
        "instances": {name: len(group) for name, group in rig.stack.services.items()},
        "seconds": round(seconds, 1),
        "faults": len(driver.faults),
        "recovery": recovery_summary(driver.faults),
        "redelivered_without_nak": len(rig.observer.unexplained_redeliveries()),
        "work_by_instance": await asyncio.to_thread(driver.work_shares),
        **verdict.figures,
    }
    print_report(f"chaos {mode}", figures)
    assert len(driver.faults) == faults, f"seed {seed}: the run ended before every fault"
    assert not verdict.problems, f"seed {seed}: " + "\n".join(verdict.problems[:40])
    return figures
