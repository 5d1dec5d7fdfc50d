"""`python -m bench.spellcheck_agreement`: the symmetric-delete engine against pyspellchecker's own
`correction()` on every word pyspellchecker flags as unknown in the corpus essays.

Both answer the same lower-case word; the reference runs in worker processes (it costs ~0.1 s a
word) with PYTHONHASHSEED fixed, since its choice between equally frequent words follows set
order. Writes bench/results/spellcheck_agreement.json with every disagreement and its reason.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

from services.spell_checker.adapters.dictionaries import load_spellchecker
from services.spell_checker.adapters.index_cache import IndexCache
from services.spell_checker.domain.corrector import SymmetricDeleteCorrector
from services.spell_checker.domain.lexicon import Lexicon
from tests.harness.spellcheck_common import (
    corpus_unknown_words,
    disagreement_reason,
    machine,
    read_essays,
    reference_corrections,
    write_result,
)


def measure(sample: int | None, seed: int, cache_dir: Path) -> dict[str, object]:
    """Compare both engines on the corpus's unknown words (or a seeded sample of them)."""
    spellchecker = load_spellchecker("en")
    words = corpus_unknown_words(spellchecker, [text for _, text in read_essays()])
    checked = sorted(random.Random(seed).sample(words, sample)) if sample else words
    lexicon = Lexicon(spellchecker.word_frequency.dictionary)
    index, load = IndexCache(cache_dir).load_or_build("en", lexicon)
    corrector = SymmetricDeleteCorrector(lexicon, index)
    started = time.perf_counter()
    ours = {word: corrector.correct(word) for word in checked}
    ours_s = time.perf_counter() - started
    reference = reference_corrections(checked)
    frequency = dict(lexicon.frequency)
    disagreements = [
        {
            "word": word,
            "ours": ours[word],
            "pyspellchecker": reference.answers[word],
            "reason": disagreement_reason(word, ours[word], reference.answers[word], frequency),
        }
        for word in checked
        if ours[word] != reference.answers[word]
    ]
    agreed = len(checked) - len(disagreements)
    reference_ms = 1000 * sum(reference.seconds.values()) / len(checked)
    ours_ms = 1000 * ours_s / len(checked)
    return {
        "what": "symmetric-delete engine vs SpellChecker('en').correction(), unknown corpus words",
        "unknown_words_in_corpus": len(words),
        "words_checked": len(checked),
        "sampled": bool(sample),
        "seed": seed if sample else None,
        "agreed": agreed,
        "agreement_percent": round(100 * agreed / len(checked), 3),
        "ms_per_word_ours": round(ours_ms, 4),
        "ms_per_word_pyspellchecker": round(reference_ms, 2),
        "speed_up": round(reference_ms / ours_ms, 1),
        "index_seconds": round(load.seconds, 3),
        "index_built": load.built,
        "disagreements": disagreements,
        "machine": machine(),
    }


def main() -> None:
    """Run and write bench/results/spellcheck_agreement.json."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sample", type=int, default=0, help="check only this many words")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--cache-dir", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        result = measure(args.sample or None, args.seed, args.cache_dir or Path(scratch))
    path = write_result("spellcheck_agreement", result)
    print(
        f"agreement {result['agreement_percent']}% on {result['words_checked']} words; "
        f"{result['ms_per_word_ours']} ms vs {result['ms_per_word_pyspellchecker']} ms a word "
        f"({result['speed_up']}x); {len(result['disagreements'])} disagreements -> {path}",  # type: ignore[arg-type]
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
