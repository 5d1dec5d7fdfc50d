"""Top-1 on the misspelling lists, for bench.spellcheck_quality: share of misspellings corrected
to the gold word, ours beside plain pyspellchecker, on every list in
../shared/corpus/misspellings, in one run; and the cost of a word's correction, ours against
pyspellchecker's `correction()`, on the same misspellings.

* ours: the Spell Checker's answer for the misspelling as a text (a one-word text opens a
  sentence, so the proper-noun rule does not apply);
* plain: pyspellchecker checking the same text the way it checks any text: its own tokenizer
  (`split_words`), `correction()` for each word; for a one-word misspelling that is exactly
  `SpellChecker().correction(misspelling)`;
* plain, whole string: `correction()` called on the raw string even when it holds a space or a
  hyphen (`swim wear` -> `swimwear` by deleting the space); no word checker sees text that way,
  so it is reported beside the others but not used for "not worse";
* our engine: the English engine alone on the raw string, against the line above; it leaves a
  word it is unsure of unchanged (the product's precision rule), which counts as wrong here;
* our top 1: the engine's best-ranked candidate, unsure or not: the ranking's own accuracy,
  judged against plain pyspellchecker (`top1_not_worse`, `top1_points_over_plain`).

Answers are compared with the gold word ignoring case (pyspellchecker answers in lower case).
Only the held-out 30 % of each list is scored (`bench.learn_edits.held_out`): the error model is
learned from the rest. Lists whose held-out part is longer than --sample pairs are sampled with a
fixed seed (the JSON says which). Plain
pyspellchecker runs in worker processes (0.1 s a word) with PYTHONHASHSEED fixed.

Speed per word: each `correction()` is timed in its worker process; our engine (without its
memo, as on a word it has not seen) is timed in this process on the same words, one after the
other. Both run on the same machine in the same run, so the ratio is the figure, not the
milliseconds.
"""

from __future__ import annotations

import random
import re
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from bench.learn_edits import held_out, read_pairs
from services.spell_checker.adapters.checkers import CheckerConfig, Engine, LanguageCheckers
from services.spell_checker.domain.corrector import Ranking
from tests.harness.spellcheck_common import MISSPELLINGS, reference_corrections


def score(answers: Sequence[str | None], golds: Sequence[str]) -> float:
    """Percent of answers equal to their gold word, ignoring case."""
    right = sum(1 for a, g in zip(answers, golds, strict=True) if a and a.lower() == g.lower())
    return round(100 * right / len(golds), 2)


_PLAIN_WORD = re.compile(r"\w[\w']*\w|\w")  # pyspellchecker's own tokenizer


def plain_on_text(text: str, answers: dict[str, str | None]) -> str:
    """`text` as pyspellchecker corrects it: each of its words through correction()."""
    return _PLAIN_WORD.sub(lambda m: answers[m.group(0)] or m.group(0), text)


def _first(ranking: Ranking) -> str | None:
    return ranking.candidates[0][0] if ranking.candidates else None


def measure(sample: int, seed: int, cache_dir: Path) -> dict[str, object]:
    """Score every list."""
    checkers = LanguageCheckers(CheckerConfig(Engine.SYMSPELL, cache_dir, memo_size=0))
    english = checkers.checker("en")
    engine = checkers.corrector("en")
    lists: dict[str, dict[str, object]] = {}
    engine_s = plain_word_s = 0.0
    words_timed = 0
    for path in sorted(MISSPELLINGS.glob("*.tsv")):
        pairs = [pair for pair in read_pairs(path) if held_out(pair)]
        sampled = len(pairs) > sample
        chosen = random.Random(seed).sample(pairs, sample) if sampled else pairs
        wrong = [w for w, _ in chosen]
        golds = [g for _, g in chosen]
        started = time.perf_counter()
        ours = [english.check(w).corrected_text for w in wrong]
        ours_s = time.perf_counter() - started
        started = time.perf_counter()
        ours_engine = [engine.correct(w) for w in wrong]
        engine_s += time.perf_counter() - started
        ours_top1 = [_first(engine.candidates(w.lower())) for w in wrong]
        words = {m.group(0) for w in wrong for m in _PLAIN_WORD.finditer(w)}
        started = time.perf_counter()
        plain = reference_corrections(sorted(words | set(wrong)))
        plain_s = time.perf_counter() - started
        plain_text = [plain_on_text(w, plain.answers) for w in wrong]
        plain_word_s += sum(plain.seconds[w] for w in wrong)
        words_timed += len(wrong)
        plain_whole = [plain.answers[w] for w in wrong]
        single = [i for i, w in enumerate(wrong) if _PLAIN_WORD.fullmatch(w)]
        ours_percent = score(ours, golds)
        plain_percent = score(plain_text, golds)
        top1_percent = score(ours_top1, golds)
        lists[path.stem] = {
            "held_out_pairs": len(pairs),
            "pairs_scored": len(chosen),
            "sampled": sampled,
            "seed": seed if sampled else None,
            "ours_percent": ours_percent,
            "plain_pyspellchecker_percent": plain_percent,
            "ours_not_worse": ours_percent >= plain_percent,
            "ours_top1_percent": top1_percent,
            "top1_not_worse": top1_percent >= plain_percent,
            "top1_points_over_plain": round(top1_percent - plain_percent, 2),
            "single_word_pairs": len(single),
            "single_word_ours_percent": score(
                [ours[i] for i in single], [golds[i] for i in single]
            ),
            "single_word_plain_percent": score(
                [plain_whole[i] for i in single], [golds[i] for i in single]
            ),
            "plain_whole_string_percent": score(plain_whole, golds),
            "ours_engine_whole_string_percent": score(ours_engine, golds),
            "engine_answers_differing_from_plain": sum(
                1 for a, b in zip(ours_engine, plain_whole, strict=True) if a != b
            ),
            "ours_seconds": round(ours_s, 3),
            "plain_wall_seconds": round(plain_s, 1),
        }
        print(f"{path.stem}: {lists[path.stem]}", file=sys.stderr)
    return {
        "what": (
            "top-1 accuracy (case-insensitive) on the held-out part of the misspelling lists; "
            "see the docstring"
        ),
        "lists": lists,
        "ours_not_worse_on_every_list": all(e["ours_not_worse"] for e in lists.values()),
        "top1_not_worse_on_every_list": all(e["top1_not_worse"] for e in lists.values()),
        "speed_per_word": {
            "words": words_timed,
            "ms_per_word_pyspellchecker_correction": round(1000 * plain_word_s / words_timed, 3),
            "ms_per_word_ours": round(1000 * engine_s / words_timed, 4),
            "times_faster": round(plain_word_s / engine_s, 1),
        },
    }
