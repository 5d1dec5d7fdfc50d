"""`python -m bench.tune_ranking`: choose the English noisy channel's weights on the tuning half
of the spelling gold essays (bench.spellcheck_gold.tuning_half; the other half is only reported).

For each source of word frequencies and each point of a grid of `RankingWeights`, the `en`
checker corrects the tuning half; the chosen point has the best fix precision among those whose
recall is at least --min-recall (by default the recall of the tier rule this model replaced, on
the same half: fewer wrong changes, no fewer right ones). Most of what the gold counts as a false
change is a real misspelling that the annotation files under another error type (`writting`,
`immediatly`, `dont`), so precision bought with recall loses real fixes; the best F0.5 point and
the best point at --precision are written beside it to show the trade-off. Writes
bench/results/ranking_tuning.json; the chosen weights are then written into `RankingWeights`'
defaults by hand, and the prior into CheckerConfig's.
"""

from __future__ import annotations

import argparse
import itertools
import sys
import tempfile
from pathlib import Path

from bench.spellcheck_gold import GOLD, annotated_essays, halves, measure
from services.spell_checker.adapters.checkers import CheckerConfig, Engine, LanguageCheckers
from services.spell_checker.adapters.english_model import Prior
from services.spell_checker.domain.ranking import NoisyChannelCorrector, RankingWeights
from tests.harness.spellcheck_common import machine, write_result

GRID = {
    "context": (0.0, 0.3, 0.6, 1.0, 1.5),
    "written_floor": (-24.0, -20.0, -17.0),
    "keep_weight": (-4.0, -2.0, 0.0, 2.0, 4.0),
    "min_posterior": (0.5, 0.7, 0.9),
}
TIER_RULE_RECALL = 0.647  # the tier rule (ea52d42) for `en` on the tuning half: 614 of 949


def f_half(precision: float, recall: float) -> float:
    """F0.5: the weighted harmonic mean that counts precision twice as much as recall."""
    return 1.25 * precision * recall / (0.25 * precision + recall) if precision + recall else 0.0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--min-recall", type=float, default=TIER_RULE_RECALL)
    parser.add_argument("--precision", type=float, default=0.85, help="fix precision wanted")
    args = parser.parse_args(argv)
    if not GOLD.is_file():
        print(f"no {GOLD}: the corpus is not beside the repository", file=sys.stderr)
        return 2
    tuning, _ = halves(annotated_essays())
    points: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="huleedu-tune-") as cache:
        for prior in Prior:
            checkers = LanguageCheckers(CheckerConfig(Engine.SYMSPELL, Path(cache), prior=prior))
            engine = checkers.corrector("en").engine
            if not isinstance(engine, NoisyChannelCorrector):
                raise TypeError("the en engine is not the noisy channel")
            for values in itertools.product(*GRID.values()):
                weights = RankingWeights(**dict(zip(GRID, values, strict=True)))
                engine.weights = weights
                result = measure(checkers, "en", tuning)
                precision = float(result["fix_precision"] or 0.0)
                recall = float(result["recall"])  # type: ignore[arg-type]
                points.append(
                    {
                        "prior": str(prior),
                        **dict(zip(GRID, values, strict=True)),
                        "right": result["right"],
                        "changes": result["changes"],
                        "fix_precision": precision,
                        "recall": recall,
                        "f_half": round(f_half(precision, recall), 4),
                    }
                )
                print(points[-1], file=sys.stderr)
    recalled = [p for p in points if float(p["recall"]) >= args.min_recall]  # type: ignore[arg-type]
    chosen = max(recalled or points, key=lambda p: (p["fix_precision"], p["right"]))
    precise = [p for p in points if float(p["fix_precision"]) >= args.precision]  # type: ignore[arg-type]
    best_per_prior = {
        str(prior): max((p for p in points if p["prior"] == prior), key=lambda p: p["f_half"])
        for prior in Prior
    }
    path = write_result(
        "ranking_tuning",
        {
            "what": "the en checker on the tuning half of spelling_gold; see the docstring",
            "essays": len(tuning),
            "min_recall": args.min_recall,
            "chosen": chosen,
            "best_f_half": max(points, key=lambda p: p["f_half"]),
            "precision_wanted": args.precision,
            "most_right_at_precision_wanted": max(precise, key=lambda p: p["right"], default=None),
            "best_f_half_per_prior": best_per_prior,
            "points": points,
            "machine": machine(),
        },
    )
    print(f"chosen {chosen}\nwrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
