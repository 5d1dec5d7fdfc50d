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
(`dont` -> `don't`); the same wrong -> right pair annotated as spelling elsewhere in
`gold.tsv`; the pair in one of the misspelling lists (`../shared/corpus/misspellings`); all
case-blind. The rest are `false_other`: wrong changes, and real fixes no list confirms.

The essays are split in two halves by a hash of the file name
(`tuning_half`): the English ranking's weights were chosen on the tuning half
(`python -m bench.tune_ranking`), so the report half is the fair figure; both halves and all
essays are written. Writes bench/results/spellcheck_gold.json.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from bench.learn_edits import MISSPELLINGS, read_pairs
from services.spell_checker.adapters.checkers import CheckerConfig, Engine, LanguageCheckers
from services.spell_checker.domain.checker import CONTRACTIONS, normalize_word
from services.spell_checker.domain.model import Correction
from tests.harness.spellcheck_common import machine, write_result
from tests.support import CORPUS

GOLD = CORPUS / "spelling_gold" / "gold.tsv"
FIRST_ANNOTATED = 1001  # e0001-e1000 are ELLIPSE essays, which carry no spelling annotation
TAGS = ("en", "en-GB", "en-US")

Span = tuple[int, int, str]  # start, end, the annotators' word
Essay = tuple[str, list[Span]]  # text, annotated errors


def tuning_half(file_name: str) -> bool:
    """Whether an essay is in the half the ranking is tuned on (a fixed hash of its name)."""
    return hashlib.sha256(file_name.encode("utf-8")).digest()[0] % 2 == 0


def read_gold() -> dict[str, list[Span]]:
    """The annotated errors of each essay file."""
    spans: dict[str, list[Span]] = defaultdict(list)
    with GOLD.open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows, delimiter="\t"):
            spans[row["essay_file"]].append((int(row["start"]), int(row["end"]), row["right"]))
    return spans


def annotated_essays() -> dict[str, Essay]:
    """Every essay the annotation covers, with or without errors, by file name."""
    gold = read_gold()
    paths = sorted(
        path for path in (CORPUS / "essays").glob("e*.txt") if int(path.stem[1:]) >= FIRST_ANNOTATED
    )
    return {
        path.name: (path.read_bytes().decode("utf-8"), gold.get(path.name, [])) for path in paths
    }


def halves(essays: dict[str, Essay]) -> tuple[list[Essay], list[Essay]]:
    """The tuning half and the report half."""
    tuning = [essay for name, essay in essays.items() if tuning_half(name)]
    report = [essay for name, essay in essays.items() if not tuning_half(name)]
    return tuning, report


def judge(correction: Correction, spans: list[Span]) -> str:
    """right, wrong word or false (see the module docstring)."""
    end = correction.offset + correction.length
    touched = [s for s in spans if s[0] < end and correction.offset < s[1]]
    if not touched:
        return "false"
    return "right" if any(correction.replacement == s[2] for s in touched) else "wrong word"


Pair = tuple[str, str]  # wrong, right: lower case, straight apostrophes


def known_fixes() -> tuple[set[Pair], set[Pair]]:
    """The wrong -> right pairs annotated as spelling in the gold, and those of the misspelling
    lists (all of them: this only sorts false changes, it tunes nothing)."""
    gold: set[Pair] = set()
    with GOLD.open(encoding="utf-8", newline="") as rows:
        for row in csv.DictReader(rows, delimiter="\t"):
            gold.add((normalize_word(row["wrong"]), normalize_word(row["right"])))
    lists = {
        (normalize_word(wrong), normalize_word(right))
        for path in sorted(MISSPELLINGS.glob("*.tsv"))
        for wrong, right in read_pairs(path)
    }
    return gold, lists


def false_kind(correction: Correction, fixes: tuple[set[Pair], set[Pair]]) -> str:
    """Which known kind of real fix a false change is (see the module docstring), or other."""
    pair = (normalize_word(correction.original), normalize_word(correction.replacement))
    if pair[0] in CONTRACTIONS["en"]:
        return "contraction without its apostrophe"
    if pair in fixes[0]:
        return "pair annotated as spelling elsewhere in the gold"
    if pair in fixes[1]:
        return "pair in a misspelling list"
    return "other"


def measure(
    checkers: LanguageCheckers,
    tag: str,
    essays: list[Essay],
    fixes: tuple[set[Pair], set[Pair]] = (set(), set()),
) -> dict[str, object]:
    """The counts, rates and most common false changes of one tag; with `fixes`, the false
    changes of known kinds too."""
    outcomes: Counter[str] = Counter()
    false_changes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    checker = checkers.checker(tag)
    started = time.process_time()
    for text, spans in essays:
        for correction in checker.check(text).corrections:
            outcome = judge(correction, spans)
            outcomes[outcome] += 1
            if outcome == "false":
                false_changes[f"{correction.original} -> {correction.replacement}"] += 1
                kinds[false_kind(correction, fixes)] += 1
    seconds = time.process_time() - started
    changes = sum(outcomes.values())
    errors = sum(len(spans) for _, spans in essays)
    known = sum(n for kind, n in kinds.items() if kind != "other")
    return {
        "essays": len(essays),
        "annotated_errors": errors,
        "changes": changes,
        "right": outcomes["right"],
        "wrong_word": outcomes["wrong word"],
        "false": outcomes["false"],
        "fix_precision": round(outcomes["right"] / changes, 4) if changes else None,
        "recall": round(outcomes["right"] / errors, 4),
        "cpu_ms_per_essay": round(1000 * seconds / len(essays), 3),
        "most_common_false": false_changes.most_common(5),
        "false_of_known_kinds": {k: n for k, n in sorted(kinds.items()) if k != "other"},
        "false_other": kinds["other"],
        "fix_precision_if_known_kinds_were_right": (
            round((outcomes["right"] + known) / changes, 4) if changes and fixes[0] else None
        ),
    }


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
        results = {}
        for tag in args.tags:
            results[tag] = measure(checkers, tag, list(essays.values()), fixes)
            results[tag]["tuning_half"] = measure(checkers, tag, tuning, fixes)
            results[tag]["report_half"] = measure(checkers, tag, report, fixes)
    for tag, result in results.items():
        for name, part in (("all", result), ("report", result["report_half"])):
            print(
                f"{tag:6s} {name:6s} changes {part['changes']}, right {part['right']}, "
                f"wrong word {part['wrong_word']}, false {part['false']}: "
                f"fix precision {part['fix_precision']}, recall {part['recall']}; false of "
                f"known kinds {part['false_of_known_kinds']}"
            )
    path = write_result("spellcheck_gold", {"machine": machine(), "tags": results})
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
