"""`python -m bench.spellcheck_gold`: our engine, in context, on the essays whose spelling errors
experts annotated (../shared/corpus/spelling_gold: 1,802 errors in the 1,500 W&I and FCE essays),
for each English tag (`en`, `en-GB`, `en-US`).

Every change the checker makes is one of:

* right: it touches an annotated error and writes the annotators' word;
* wrong word: it touches an annotated error and writes something else;
* false: it touches no annotated error (the annotation is complete for these essays).

Fix precision is right ÷ changes, recall right ÷ annotated errors. The checker runs in this
process (the Spell Checker's workers build the same one); the 5 most common false changes are
listed per tag.

Beside the metric, not in it: the annotation codes only spelling (FCE's `S`, W&I's `R:SPELL`),
so a real misspelling the annotators coded otherwise (`writting`, `informations`) or rewrote in
a longer edit counts as false. `false_of_known_kinds` counts the false changes that are fixes
of such errors by a method anyone can rerun: a contraction written without its apostrophe
(`dont` -> `don't`); words run together, split by a space (`alot` -> `a lot`: a missing space,
which the annotators code as another error type); the same wrong -> right pair annotated as
spelling elsewhere in `gold.tsv`; the pair in one of the misspelling lists
(`../shared/corpus/misspellings`); all case-blind. The rest are `false_other`: wrong changes,
and real fixes no list confirms.

The essays are split in two halves by a hash of the file name
(`tuning_half`): the English ranking's weights were chosen on the tuning half
(`python -m bench.tune_ranking`), so the report half is the fair figure; both halves and all
essays are written, each with the highest fix precision any checker could reach on it
(`precision_ceiling`), and the report half once more with every unknown word given its likeliest
fix however unsure (`every_best_guess`: the most recall the ranking has, and what it costs).
Writes bench/results/spellcheck_gold.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.spellcheck_scoring import (
    GOLD,
    TAGS,
    Essay,
    KnownFixes,
    annotated_essays,
    halves,
    known_fixes,
    precision_ceiling,
    tally,
)
from services.spell_checker.adapters.checkers import CheckerConfig, Engine, LanguageCheckers
from services.spell_checker.domain.ranking import NoisyChannelCorrector
from tests.harness.spellcheck_common import machine, write_result


def measure(
    checkers: LanguageCheckers, tag: str, essays: list[Essay], fixes: KnownFixes | None = None
) -> dict[str, object]:
    """The counts, rates and most common false changes of one tag; with `fixes`, the false
    changes of known kinds too."""
    checker = checkers.checker(tag)
    started = time.process_time()
    checked = [(checker.check(text).corrections, spans) for text, spans in essays]
    seconds = time.process_time() - started
    result = {**tally(checked, fixes), "cpu_ms_per_essay": round(1000 * seconds / len(essays), 3)}
    if fixes is not None:
        result["ceiling"] = precision_ceiling(essays, checker.accepts, fixes)
    return result


def every_best_guess(
    checkers: LanguageCheckers, tag: str, essays: list[Essay]
) -> dict[str, object]:
    """The tag's figures when every word it does not know gets its likeliest fix, however
    unsure (`min_posterior` 0): the most the ranking can fix, at the precision that costs."""
    engine = checkers.corrector(tag).engine
    if not isinstance(engine, NoisyChannelCorrector):
        return {}
    chosen = engine.weights
    engine.weights = dataclasses.replace(chosen, min_posterior=0.0)
    try:
        return measure(checkers, tag, essays)
    finally:
        engine.weights = chosen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tags", nargs="+", default=list(TAGS), help="English tags to measure")
    args = parser.parse_args(argv)
    if not GOLD.is_file():
        print(f"no {GOLD}: the corpus is not beside the repository", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="huleedu-gold-") as cache:
        checkers = LanguageCheckers(CheckerConfig(Engine.SYMSPELL, Path(cache)))
        checkers.preload(["en"])
        essays = annotated_essays()
        tuning, report = halves(essays)
        fixes = known_fixes()
        results: dict[str, dict[str, Any]] = {}
        for tag in args.tags:
            results[tag] = measure(checkers, tag, list(essays.values()), fixes)
            results[tag]["tuning_half"] = measure(checkers, tag, tuning, fixes)
            results[tag]["report_half"] = measure(checkers, tag, report, fixes)
            results[tag]["report_half_every_best_guess"] = every_best_guess(checkers, tag, report)
    for tag, result in results.items():
        parts: tuple[tuple[str, Any], ...] = (("all", result), ("report", result["report_half"]))
        for name, part in parts:
            print(
                f"{tag:6s} {name:6s} changes {part['changes']}, right {part['right']}, "
                f"wrong word {part['wrong_word']}, false {part['false']}: "
                f"fix precision {part['fix_precision']}, recall {part['recall']}; false of "
                f"known kinds {part['false_of_known_kinds']}; at most "
                f"{part['ceiling']['fix_precision_ceiling']} on this gold"
            )
        guess = result["report_half_every_best_guess"]
        if guess:
            print(
                f"{tag:6s} report, every best guess written: changes {guess['changes']}, "
                f"fix precision {guess['fix_precision']}, recall {guess['recall']}"
            )
    path = write_result("spellcheck_gold", {"machine": machine(), "tags": results})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
