"""undone_on_failure (services.mesh.runtime): what a start registered is undone, last first, when
a later step fails, and kept when the start completes."""

from __future__ import annotations

import pytest

from services.mesh.runtime import undone_on_failure


async def test_a_failed_start_undoes_every_step_it_took_last_first() -> None:
    undone: list[str] = []

    async def undo(step: str) -> None:
        undone.append(step)

    with pytest.raises(RuntimeError, match="provisioning"):
        async with undone_on_failure() as steps:
            steps.push_async_callback(undo, "connection")
            steps.push_async_callback(undo, "workers")
            raise RuntimeError("provisioning failed")

    assert undone == ["workers", "connection"]


async def test_a_completed_start_undoes_nothing() -> None:
    undone: list[str] = []

    async def undo(step: str) -> None:
        undone.append(step)

    async with undone_on_failure() as steps:
        steps.push_async_callback(undo, "connection")

    assert undone == []
