"""What the spell-check benchmarks and tests share: the corpus, pyspellchecker as the reference
(in a process pool, since `correction()` costs about a tenth of a second a word), results."""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import platform
import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from rapidfuzz.distance import DamerauLevenshtein
from spellchecker import SpellChecker

from tests.support import CORPUS, REPO_ROOT

ESSAYS = CORPUS / "essays"
MISSPELLINGS = CORPUS / "misspellings"
RESULTS = REPO_ROOT / "bench" / "results"
REFERENCE_HASH_SEED = "0"  # correction() breaks frequency ties by set order, which the seed fixes


def essay_paths(limit: int | None = None) -> list[Path]:
    """The corpus essays in name order (the first `limit` of them)."""
    paths = sorted(ESSAYS.glob("*.txt"))
    if not paths:
        raise FileNotFoundError(f"no essays under {ESSAYS}: is ../shared/corpus there?")
    return paths[:limit] if limit is not None else paths


def read_essays(limit: int | None = None) -> list[tuple[str, str]]:
    """(file name, text) of the corpus essays, byte-for-byte as published (UTF-8)."""
    return [(p.name, p.read_text(encoding="utf-8")) for p in essay_paths(limit)]


def corpus_unknown_words(spellchecker: SpellChecker, texts: Sequence[str]) -> list[str]:
    """Every distinct word pyspellchecker itself flags as unknown in `texts`, sorted."""
    unknown: set[str] = set()
    for text in texts:
        unknown |= spellchecker.unknown(spellchecker.split_words(text))
    return sorted(unknown)


_reference: dict[str, SpellChecker] = {}


def _init_reference(language: str) -> None:
    _reference[language] = SpellChecker(language=language)


def _correct_reference(language: str, word: str) -> tuple[str, str | None, float]:
    started = time.perf_counter()
    answer = _reference[language].correction(word)
    return word, answer, time.perf_counter() - started


@contextlib.contextmanager
def _hash_seed(seed: str) -> Iterator[None]:
    previous = os.environ.get("PYTHONHASHSEED")
    os.environ["PYTHONHASHSEED"] = seed
    try:
        yield
    finally:
        if previous is None:
            del os.environ["PYTHONHASHSEED"]
        else:
            os.environ["PYTHONHASHSEED"] = previous


@dataclass(frozen=True)
class ReferenceAnswers:
    """`SpellChecker.correction()` of each word and the seconds each took."""

    answers: dict[str, str | None]
    seconds: dict[str, float]


def reference_corrections(
    words: Sequence[str], *, language: str = "en", processes: int | None = None
) -> ReferenceAnswers:
    """Plain `SpellChecker(language).correction(word)` for each word, in worker processes started
    with a fixed PYTHONHASHSEED so that its tie-breaking is the same on every run."""
    processes = processes or os.cpu_count() or 1
    context = multiprocessing.get_context("spawn")
    with (
        _hash_seed(REFERENCE_HASH_SEED),
        ProcessPoolExecutor(
            processes, mp_context=context, initializer=_init_reference, initargs=(language,)
        ) as pool,
    ):
        results = list(pool.map(_correct_reference, [language] * len(words), words, chunksize=8))
    return ReferenceAnswers(
        {word: answer for word, answer, _ in results}, {word: s for word, _, s in results}
    )


def disagreement_reason(
    word: str, ours: str | None, reference: str | None, frequency: dict[str, int]
) -> str:
    """Why two corrections of `word` differ: a frequency tie, or a different edit distance."""
    if ours is None or reference is None:
        return f"only one side found a candidate (ours={ours!r}, pyspellchecker={reference!r})"
    ours_distance = DamerauLevenshtein.distance(word, ours)
    reference_distance = DamerauLevenshtein.distance(word, reference)
    if ours_distance != reference_distance:
        return (
            f"edit distance counted differently (ours {ours_distance}, theirs {reference_distance})"
        )
    if frequency.get(ours) == frequency.get(reference):
        return f"tie: both at distance {ours_distance} with frequency {frequency.get(ours)}"
    return (
        f"same distance {ours_distance}, different frequency "
        f"(ours {frequency.get(ours)}, theirs {frequency.get(reference)})"
    )


def machine() -> dict[str, object]:
    """What the figures were measured on."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(),
    }


def write_result(name: str, data: Mapping[str, object]) -> Path:
    """Write `data` as bench/results/<name>.json and return the path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
