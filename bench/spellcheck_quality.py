"""`python -m bench.spellcheck_quality`: everything issue 19 asks of the spell checker, per
language, in one run and one report (bench/results/spellcheck_quality.{json,md}):

* in context, through the running service (bench.spellcheck_service): the 1,500 essays of
  ../shared/corpus/spelling_gold as `en`, `en-GB` and `en-US`, each change judged right, wrong
  word or false (bench.spellcheck_scoring), on the tuning half, the report half and all; the
  same essays checked by the engine in this process, which must give the same corrections;
* Swedish (`sv`) through the service too: the SweLL learner texts of ../shared/corpus/swedish
  (ten sentences a text), tokens annotated correct that were changed, and tokens annotated
  incorrect that were flagged or changed (bench.spellcheck_swedish's counting);
* the old engine (`SPELL_CHECKER_ENGINE=pyspellchecker`) through a second stack, on a seeded
  sample of the essays (it takes about 0.1 s a word), beside ours on the same sample;
* the CPU per essay of every process in the service runs (the Spell Checker's workers apart)
  against the per-essay budget of issue 15 (12 ms for the whole mesh);
* top 1 on every misspelling list against plain pyspellchecker, and the speed per word against
  its `correction()`, as a ratio measured in the same run (bench.spellcheck_lists);
* the memory of a worker with each language loaded (a fresh interpreter per language, as
  bench.spellcheck_swedish measures it), and of the service's workers after the run.

Every target is marked met or not met in the .md. The full run takes about 20 minutes on two
cores, most of it plain pyspellchecker (`--sample`, `--old-engine-essays`); `--essays` and
`--swell-texts` make a quick run on part of the corpus.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.e2e_budget import tree_state
from bench.spellcheck_lists import measure as measure_lists
from bench.spellcheck_report import budget_reference, targets, write_report
from bench.spellcheck_scoring import (
    GOLD,
    TAGS,
    Essay,
    annotated_essays,
    halves,
    known_fixes,
    precision_ceiling,
    tally,
    tuning_half,
)
from bench.spellcheck_service import (
    BATCH_SIZE,
    StackRun,
    TagRun,
    check_through_service,
    cpu_ms_per_essay,
)
from bench.spellcheck_swedish import SENTENCES_PER_TEXT, memory_in_fresh_processes
from bench.spellcheck_swedish import tally as tally_swell
from services.spell_checker.adapters.checkers import CheckerConfig, Engine, LanguageCheckers
from services.spell_checker.domain.model import CheckResult
from tests.harness.spellcheck_common import RESULTS, machine
from tests.harness.swedish_corpus import SWELL, LabelledText, texts

SWEDISH = "sv"
MEMORY_LANGUAGES = ("en", "en-GB", "en-US", SWEDISH)
OLD_ENGINE = {"SPELL_CHECKER_ENGINE": "pyspellchecker"}
_DIFFERENCES_SHOWN = 5


def gold_figures(results: Mapping[str, CheckResult], essays: Mapping[str, Essay]) -> dict[str, Any]:
    """The tally of all the essays, with the tuning half and the report half beside it."""

    def part(names: Sequence[str]) -> dict[str, object]:
        return tally(((results[n].corrections, essays[n][1]) for n in names), known_fixes())

    names = sorted(essays)
    return {
        **part(names),
        "tuning_half": part([n for n in names if tuning_half(n)]),
        "report_half": part([n for n in names if not tuning_half(n)]),
    }


def in_process(
    checkers: LanguageCheckers, tag: str, texts_by_name: Mapping[str, str]
) -> tuple[dict[str, CheckResult], float]:
    """Each text checked by the engine in this process; CPU ms per text."""
    started = time.process_time()
    results = {name: checkers.check(tag, text) for name, text in texts_by_name.items()}
    return results, round(1000 * (time.process_time() - started) / len(texts_by_name), 3)


def differences(
    service: TagRun, ours: Mapping[str, CheckResult]
) -> tuple[int, list[dict[str, object]]]:
    """How many essays the service corrected otherwise than the engine in this process, and
    the first few of them."""
    differing = [
        name
        for name in sorted(ours)
        if service.essays[name].result.corrections != ours[name].corrections
    ]
    shown: list[dict[str, object]] = [
        {
            "essay": name,
            "service": [str(c) for c in service.essays[name].result.corrections],
            "in_process": [str(c) for c in ours[name].corrections],
        }
        for name in differing[:_DIFFERENCES_SHOWN]
    ]
    return len(differing), shown


def english_in_context(
    run: StackRun, checkers: LanguageCheckers, essays: Mapping[str, Essay]
) -> dict[str, Any]:
    """Per English tag: the service's figures, the engine's in this process, and whether they
    agree essay by essay."""
    figures: dict[str, Any] = {}
    texts_by_name = {name: text for name, (text, _) in essays.items()}
    fixes = known_fixes()
    _, report = halves(essays)
    for tag in TAGS:
        service = run.tags[tag]
        ours, ours_cpu = in_process(checkers, tag, texts_by_name)
        differing, shown = differences(service, ours)
        service_results = {name: e.result for name, e in service.essays.items()}
        figures[tag] = {
            "service": gold_figures(service_results, essays),
            "in_process": gold_figures(ours, essays),
            "essays_corrected_differently": differing,
            "differences": shown,
            "essays_not_spellchecked": sum(
                e.status != "SPELLCHECKED_SUCCESS" for e in service.essays.values()
            ),
            "essays_repaired_by_file_service": sum(
                e.text != texts_by_name[name] for name, e in service.essays.items()
            ),
            "ceiling": {
                "all": precision_ceiling(essays.values(), checkers.checker(tag).accepts, fixes),
                "report_half": precision_ceiling(report, checkers.checker(tag).accepts, fixes),
            },
            "service_seconds": round(service.seconds, 1),
            "cpu_ms_per_essay": cpu_ms_per_essay(service),
            "in_process_cpu_ms_per_essay": ours_cpu,
        }
    return figures


def swedish_in_context(
    run: StackRun, checkers: LanguageCheckers, labelled: Mapping[str, LabelledText]
) -> dict[str, Any]:
    """SweLL through the service and in this process."""
    service = run.tags[SWEDISH]
    ours, ours_cpu = in_process(checkers, SWEDISH, {n: t.text for n, t in labelled.items()})
    differing, shown = differences(service, ours)
    names = sorted(labelled)
    return {
        "texts_of_sentences": SENTENCES_PER_TEXT,
        "service": tally_swell((labelled[n], service.essays[n].result) for n in names),
        "in_process": tally_swell((labelled[n], ours[n]) for n in names),
        "texts_corrected_differently": differing,
        "differences": shown,
        "texts_not_spellchecked": sum(
            e.status != "SPELLCHECKED_SUCCESS" for e in service.essays.values()
        ),
        "texts_repaired_by_file_service": sum(
            e.text != labelled[n].text for n, e in service.essays.items()
        ),
        "service_seconds": round(service.seconds, 1),
        "cpu_ms_per_text": cpu_ms_per_essay(service),
        "in_process_cpu_ms_per_text": ours_cpu,
    }


def old_engine(
    essays: Mapping[str, Essay], ours: StackRun, args: argparse.Namespace
) -> dict[str, Any]:
    """The pyspellchecker engine through its own stack on a seeded sample of the essays
    (`--old-engine-essays`), and ours (from the full run) on the same sample."""
    count, seed = min(args.old_engine_essays, len(essays)), args.seed
    names = sorted(random.Random(seed).sample(sorted(essays), count))
    sample = {name: essays[name] for name in names}
    files = {name: text for name, (text, _) in sample.items()}
    old = check_through_service(
        {tag: files for tag in TAGS},
        timeout_s=args.timeout_s,
        batch_size=args.batch_size,
        settings=OLD_ENGINE,
    )
    figures: dict[str, Any] = {"essays": len(names), "seed": seed}
    for tag in TAGS:
        old_results = {n: e.result for n, e in old.tags[tag].essays.items()}
        our_results = {n: ours.tags[tag].essays[n].result for n in names}
        figures[tag] = {
            "pyspellchecker": tally((old_results[n].corrections, sample[n][1]) for n in names),
            "ours": tally((our_results[n].corrections, sample[n][1]) for n in names),
            "pyspellchecker_cpu_ms_per_essay": cpu_ms_per_essay(old.tags[tag]),
        }
    return figures


def choose_essays(limit: int | None, seed: int) -> dict[str, Essay]:
    """The annotated essays, or a seeded sample of `limit` of them."""
    essays = annotated_essays()
    if limit is None or limit >= len(essays):
        return essays
    return {n: essays[n] for n in sorted(random.Random(seed).sample(sorted(essays), limit))}


def choose_swell(limit: int | None) -> dict[str, LabelledText]:
    """SweLL as texts, by the file name each is uploaded as (the first `limit` of them)."""
    labelled = list(texts(SENTENCES_PER_TEXT))[:limit]
    return {f"swell-{number:04d}.txt": text for number, text in enumerate(labelled, 1)}


def measure(args: argparse.Namespace, cache: Path) -> dict[str, Any]:
    """Every part of the report."""
    essays = choose_essays(args.essays, args.seed)
    swell = choose_swell(args.swell_texts)
    jobs: dict[str, dict[str, str]] = {tag: {n: t for n, (t, _) in essays.items()} for tag in TAGS}
    jobs[SWEDISH] = {name: text.text for name, text in swell.items()}
    print(
        f"service: {len(essays)} essays x {len(TAGS)} tags, {len(swell)} SweLL texts",
        file=sys.stderr,
    )
    run = check_through_service(jobs, timeout_s=args.timeout_s, batch_size=args.batch_size)
    checkers = LanguageCheckers(CheckerConfig(Engine.SYMSPELL, cache))
    checkers.preload([*TAGS, SWEDISH])  # loading is not checking: timed apart by the workers
    result: dict[str, Any] = {
        "english": english_in_context(run, checkers, essays),
        "swedish": swedish_in_context(run, checkers, swell),
        "service_worker_rss_mib": run.worker_rss_mib,
    }
    if args.old_engine_essays:
        print(f"old engine: {args.old_engine_essays} essays", file=sys.stderr)
        result["old_engine"] = old_engine(essays, run, args)
    print(f"misspelling lists: at most {args.sample} pairs each", file=sys.stderr)
    result["lists"] = measure_lists(args.sample, args.seed, cache)
    result["worker_memory_mib"] = memory_in_fresh_processes(MEMORY_LANGUAGES)
    return result


def main(argv: list[str] | None = None) -> int:
    """Run every part and write bench/results/spellcheck_quality.{json,md}."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--sample", type=int, default=500, help="pairs per misspelling list")
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument("--essays", type=int, help="a seeded sample of the gold essays (all)")
    parser.add_argument("--swell-texts", type=int, help="the first N SweLL texts (all)")
    parser.add_argument(
        "--old-engine-essays", type=int, default=150, help="pyspellchecker's sample (0: none)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=BATCH_SIZE, help="essays per batch (25: a class)"
    )
    parser.add_argument("--timeout-s", type=float, default=1800.0, help="per tag's batches")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--name", default="spellcheck_quality", help="file name of the results")
    args = parser.parse_args(argv)
    for path in (GOLD, SWELL):
        if not path.is_file():
            print(f"no {path}: the corpus is not beside the repository", file=sys.stderr)
            return 2
    tree, load_before = tree_state(), os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="huleedu-quality-") as cache:
        result = measure(args, Path(cache))
    result.update(
        {
            "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "tree": tree,
            "machine": {
                **machine(),
                "load_average_before": [round(x, 2) for x in load_before],
                "load_average_after": [round(x, 2) for x in os.getloadavg()],
            },
            "arguments": {k: v for k, v in vars(args).items() if k not in ("results", "name")},
            "budget": budget_reference(RESULTS),
        }
    )
    result["targets"] = targets(result)
    paths = write_report(result, args.results, args.name)
    print(paths["md"].read_text())
    print("wrote " + ", ".join(str(p) for p in paths.values()), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
