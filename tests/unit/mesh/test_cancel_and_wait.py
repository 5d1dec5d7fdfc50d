"""cancel_and_wait ends a loop task even when a cancellation is lost, as Python 3.11's
asyncio.wait_for loses one that arrives just as the call it wraps completes."""

from __future__ import annotations

import asyncio

from services.mesh.lifecycle import cancel_and_wait


async def test_a_task_that_lost_its_first_cancellation_is_cancelled_again() -> None:
    swallowed = 0
    rounds = 0

    async def loop() -> None:
        nonlocal swallowed, rounds
        while True:
            rounds += 1
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # what the lost cancellation looks like to the loop: nothing
                asyncio.current_task().uncancel()  # type: ignore[union-attr]

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    await asyncio.wait_for(cancel_and_wait(task), timeout=10)
    assert task.cancelled() and swallowed == 1 and rounds > 1


async def test_a_task_that_already_ended_is_left_as_it_is() -> None:
    task = asyncio.create_task(asyncio.sleep(0))
    await task
    await cancel_and_wait(task)
    assert task.done() and not task.cancelled()
