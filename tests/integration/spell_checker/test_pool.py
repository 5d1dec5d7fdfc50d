"""The worker pool: spawned workers that load once, report their memory, and are replaced when
one dies."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from services.mesh.consumer import TransientError
from services.spell_checker.adapters.checkers import CheckerConfig, Engine
from services.spell_checker.adapters.pool import ProcessPoolChecker, share_out


async def test_workers_check_essays_and_a_dead_worker_is_replaced(index_cache_dir: Path) -> None:
    pool = ProcessPoolChecker(CheckerConfig(Engine.SYMSPELL, index_cache_dir), workers=2)
    reports = await pool.start()
    try:
        assert len({r.pid for r in reports}) == 2
        assert all(r.memory.rss_bytes > 0 and r.ready_after_s > 0 for r in reports)
        result = await pool.check("en", "I beleive it", ["ignored"])
        assert result.corrected_text == "I believe it"
        os.kill(reports[0].pid, signal.SIGKILL)  # a worker this test started
        with pytest.raises(TransientError, match="worker died"):
            for _ in range(4):  # the pool notices the death on its next task
                await pool.check("en", "Helo", [])
        result = await pool.check("en", "once agian", [])
        assert result.corrected_text == "once again"
        assert len(await pool.reports()) == 2
        texts = ["one mistaek", "a longer essay with a mistaek in it", "fine", "teh end"]
        results = await pool.check_many([("en", text, []) for text in texts])
        assert [r.corrected_text for r in results] == [
            "one mistake",
            "a longer essay with a mistake in it",
            "fine",
            "the end",
        ]
    finally:
        await pool.close()


@pytest.mark.parametrize(
    ("sizes", "parts", "shares"),
    [
        ([5, 1, 4, 2], 2, [[0, 1], [2, 3]]),
        ([3], 4, [[0]]),
        ([], 2, []),
        ([1, 1, 1], 1, [[0, 1, 2]]),
    ],
)
def test_share_out_balances_text_among_workers_and_leaves_none_empty(
    sizes: list[int], parts: int, shares: list[list[int]]
) -> None:
    assert share_out(sizes, parts) == shares
