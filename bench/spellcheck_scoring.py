"""How a spell checker's changes are judged against the annotated errors of
../shared/corpus/spelling_gold (the W&I and FCE essays), shared by the in-process benchmark
(bench.spellcheck_gold) and the one through the running service (bench.spellcheck_service).

Every change the checker makes is one of:

* right: it touches an annotated error and writes the annotators' word;
* wrong word: it touches an annotated error and writes something else;
* false: it touches no annotated error (the annotation is complete for these essays).

Fix precision is right ÷ changes, recall right ÷ annotated errors. The essays are split in two
halves by a hash of the file name (`tuning_half`): the English ranking's weights are chosen on
the tuning half, so the report half is the fair figure.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence

from bench.learn_edits import MISSPELLINGS, read_pairs
from services.spell_checker.domain.checker import CONTRACTIONS, normalize_word
from services.spell_checker.domain.model import Correction
from services.spell_checker.domain.tokenizer import tokenize
from tests.support import CORPUS

GOLD = CORPUS / "spelling_gold" / "gold.tsv"
FIRST_ANNOTATED = 1001  # e0001-e1000 are ELLIPSE essays, which carry no spelling annotation
TAGS = ("en", "en-GB", "en-US")

Span = tuple[int, int, str]  # start, end, the annotators' word
Essay = tuple[str, list[Span]]  # text, annotated errors
Pair = tuple[str, str]  # wrong, right: lower case, straight apostrophes
KnownFixes = tuple[set[Pair], set[Pair]]  # pairs annotated as spelling; pairs of the lists


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


def touched(start: int, end: int, spans: list[Span]) -> list[Span]:
    """The annotated errors that the text from `start` to `end` overlaps."""
    return [s for s in spans if s[0] < end and start < s[1]]


def judge(correction: Correction, spans: list[Span]) -> str:
    """right, wrong word or false (see the module docstring)."""
    touched_spans = touched(correction.offset, correction.offset + correction.length, spans)
    if not touched_spans:
        return "false"
    return "right" if any(correction.replacement == s[2] for s in touched_spans) else "wrong word"


@functools.cache
def known_fixes() -> KnownFixes:
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


def false_kind(correction: Correction, fixes: KnownFixes) -> str:
    """Which known kind of real fix a false change is (bench.spellcheck_gold's docstring), or
    other."""
    pair = (normalize_word(correction.original), normalize_word(correction.replacement))
    if pair[0] in CONTRACTIONS["en"]:
        return "contraction without its apostrophe"
    if " " in pair[1] and pair[1].replace(" ", "") == pair[0]:
        return "words run together"
    if pair in fixes[0]:
        return "pair annotated as spelling elsewhere in the gold"
    if pair in fixes[1]:
        return "pair in a misspelling list"
    return "other"


def tally(
    checked: Iterable[tuple[Sequence[Correction], list[Span]]], fixes: KnownFixes | None = None
) -> dict[str, object]:
    """The counts, rates and 5 most common false changes of essays checked: for each, the
    changes the checker made and the essay's annotated errors; with `fixes`, the false changes
    of known kinds too."""
    outcomes: Counter[str] = Counter()
    false_changes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    essays = errors = 0
    for corrections, spans in checked:
        essays += 1
        errors += len(spans)
        for correction in corrections:
            outcome = judge(correction, spans)
            outcomes[outcome] += 1
            if outcome == "false":
                false_changes[f"{correction.original} -> {correction.replacement}"] += 1
                if fixes is not None:
                    kinds[false_kind(correction, fixes)] += 1
    changes = sum(outcomes.values())
    result: dict[str, object] = {
        "essays": essays,
        "annotated_errors": errors,
        "changes": changes,
        "right": outcomes["right"],
        "wrong_word": outcomes["wrong word"],
        "false": outcomes["false"],
        "fix_precision": round(outcomes["right"] / changes, 4) if changes else None,
        "recall": round(outcomes["right"] / errors, 4) if errors else None,
        "most_common_false": false_changes.most_common(5),
    }
    if fixes is not None:
        known = sum(n for kind, n in kinds.items() if kind != "other")
        result |= {
            "false_of_known_kinds": {k: n for k, n in sorted(kinds.items()) if k != "other"},
            "false_other": kinds["other"],
            "fix_precision_if_known_kinds_were_right": (
                round((outcomes["right"] + known) / changes, 4) if changes else None
            ),
        }
    return result


def precision_ceiling(
    essays: Iterable[Essay], accepts: Callable[[str], bool], fixes: KnownFixes
) -> dict[str, object]:
    """The highest fix precision any checker can score on `essays` while it fixes the
    misspellings the gold leaves unannotated that a source other than the checker confirms.

    Those are the words outside every annotated span, written without a capital (not names),
    that the checker does not take as written (`accepts`) and that are a contraction written
    without its apostrophe (which issue 19 asks to fix) or the wrong side of a pair annotated
    as spelling elsewhere in the gold or listed in a misspelling list (`writting`, 23 times).
    A checker that made every annotated fix, fixed each of those and changed nothing else
    would score errors / (errors + those): a ceiling, since the gold leaves more misspellings
    unannotated than the lists confirm (`sincerelly`)."""
    wrong_sides = {wrong for wrong, _ in fixes[0] | fixes[1]}
    errors = 0
    confirmed: Counter[str] = Counter()
    words: Counter[str] = Counter()
    for text, spans in essays:
        errors += len(spans)
        for part in tokenize(text).parts:
            word = part.text
            if word[:1].isupper() or touched(part.start, part.end, spans):
                continue
            lookup = normalize_word(word)
            if lookup in CONTRACTIONS["en"]:
                kind = "contraction without its apostrophe"
            elif lookup in wrong_sides and not accepts(lookup):
                kind = "misspelling annotated elsewhere in the gold or listed"
            else:
                continue
            confirmed[kind] += 1
            words[lookup] += 1
    unannotated = sum(confirmed.values())
    return {
        "annotated_errors": errors,
        "unannotated_confirmed_misspellings": dict(sorted(confirmed.items())),
        "most_common_unannotated": words.most_common(5),
        "fix_precision_ceiling": (
            round(errors / (errors + unannotated), 4) if errors + unannotated else None
        ),
    }
