"""Every corpus essay: the reported corrections, applied to the original, give the corrected text,
and nothing outside the reported spans changed. The essays go through the worker pool (one
worker per core), as in the service."""

from __future__ import annotations

import asyncio
import os
import re
from pathlib import Path

from services.spell_checker.adapters.checkers import CheckerConfig, Engine
from services.spell_checker.adapters.pool import ProcessPoolChecker
from services.spell_checker.domain.model import CheckResult
from services.spell_checker.domain.tokenizer import APOSTROPHES
from tests.harness.spellcheck_common import read_essays

# A word: letters, with inner apostrophes of any kind the tokenizer takes and combining marks.
_WORD = re.compile(rf"^[^\W\d_](?:[\w{re.escape(APOSTROPHES)}\u0300-\u036f]*[^\W\d_])?$")


def replay(original: str, result: CheckResult) -> str:
    """Apply the corrections independently of the service's own helper, checking each span."""
    pieces: list[str] = []
    position = 0
    for correction in result.corrections:
        assert correction.offset >= position, "corrections overlap or are out of order"
        end = correction.offset + correction.length
        assert original[correction.offset : end] == correction.original
        assert correction.original != correction.replacement
        assert _WORD.match(correction.original), correction.original
        pieces += [original[position : correction.offset], correction.replacement]
        position = end
    pieces.append(original[position:])
    return "".join(pieces)


async def test_every_corpus_essay_round_trips(index_cache_dir: Path) -> None:
    essays = read_essays()
    assert len(essays) == 2500
    pool = ProcessPoolChecker(
        CheckerConfig(Engine.SYMSPELL, index_cache_dir), workers=os.cpu_count() or 1
    )
    await pool.start()
    try:
        results = await asyncio.gather(*(pool.check("en", text, ()) for _, text in essays))
    finally:
        await pool.close()
    failures = [
        name
        for (name, text), result in zip(essays, results, strict=True)
        if replay(text, result) != result.corrected_text
    ]
    assert failures == []
    assert sum(len(r.corrections) for r in results) > 2500  # the corpus is full of misspellings
