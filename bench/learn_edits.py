"""`python -m bench.learn_edits`: learn the Spell Checker's error model from the misspelling lists
in ../shared/corpus/misspellings and write services/spell_checker/domain/edit_model.json.

The lists' licences do not let the pairs into the repository, so only derived counts are written:
how often each edit was seen (`services.spell_checker.domain.channel.learn_table`), counted
over the fewest edits of each pair, then again over the likeliest edits under that first table.
A fixed 30 % of the pairs (by a hash of the pair, the same in every list) is held out: never
learned from, only scored by `bench.spellcheck_quality`. Running this again on the same corpus
writes the same file (a unit test checks that).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import json
import sys
from pathlib import Path

from services.spell_checker.domain.channel import EditModel, learn_table
from tests.support import CORPUS, REPO_ROOT

MISSPELLINGS = CORPUS / "misspellings"
TABLE = REPO_ROOT / "services" / "spell_checker" / "domain" / "edit_model.json"
HELD_OUT_TENTHS = 3

Pair = tuple[str, str]  # what was typed, what was meant


def held_out(pair: Pair) -> bool:
    """Whether a pair is in the held-out test part (a fixed 30 %, by a hash of the pair)."""
    digest = hashlib.sha256("\t".join(pair).lower().encode("utf-8")).digest()
    return digest[0] % 10 < HELD_OUT_TENTHS


def read_pairs(path: Path) -> list[Pair]:
    """(misspelling, gold) pairs of one list."""
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.reader(handle, delimiter="\t"))
    return [(row[0], row[1]) for row in rows[1:] if len(row) >= 2 and row[0] and row[1]]


def training_pairs() -> list[Pair]:
    """The pairs of every list that are not held out, list by list in name order."""
    lists = sorted(MISSPELLINGS.glob("*.tsv"))
    if not lists:
        raise FileNotFoundError(f"no misspelling lists under {MISSPELLINGS}")
    return [pair for path in lists for pair in read_pairs(path) if not held_out(pair)]


def table_text() -> str:
    """The edit table learned from the training pairs, as the file holds it."""
    pairs = training_pairs()
    table = learn_table(pairs, aligner=EditModel.from_table(learn_table(pairs)))
    table["learned_from"] = (
        "the misspelling lists of ../shared/corpus/misspellings less the held-out 30 % "
        "(bench.learn_edits.held_out); regenerate with python -m bench.learn_edits"
    )
    return json.dumps(table, indent=0, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", type=Path, default=TABLE)
    args = parser.parse_args(argv)
    text = table_text()
    args.output.write_text(text, encoding="utf-8")
    table = json.loads(text)
    print(
        f"wrote {args.output}: {len(table['edits'])} edits from {table['pairs_used']} pairs",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
