"""`python -m bench.spellcheck_swedish`: the Swedish checker (`sv`) on SweLL learner text
(../shared/corpus/swedish: 6,729 sentences by adult learners, each token labelled `c` correct or
`i` needing a correction for any reason, grammar and word choice included).

The sentences are checked ten at a time as one text (the corpus has no essay boundaries), in
this process, by the checker the Spell Checker's workers build. A token is changed when a
correction touches it, flagged when it is changed or reported unknown. Also measured: English
essays (../shared/corpus/essays) checked as `sv` get the wrong-language warning; building the
symmetric-delete index; the memory a worker's sv checker takes. Writes
bench/results/spellcheck_swedish.json.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import psutil

from services.spell_checker.adapters.checkers import CheckerConfig, Engine, LanguageCheckers
from services.spell_checker.adapters.dictionaries import load_spellchecker
from services.spell_checker.adapters.index_cache import IndexCache
from services.spell_checker.domain.checker import EssayChecker
from services.spell_checker.domain.lexicon import Lexicon
from services.spell_checker.domain.model import CheckResult
from services.spell_checker.domain.tokenizer import tokenize
from tests.harness.spellcheck_common import machine, read_essays, write_result
from tests.harness.swedish_corpus import SWELL, LabelledText, texts

SENTENCES_PER_TEXT = 10
ENGLISH_ESSAYS = 500
_MIB = 1024 * 1024


def _has_letter(token: str) -> bool:
    return any(c.isalpha() for c in token)


def measure(checker: EssayChecker, labelled: Iterable[LabelledText]) -> dict[str, object]:
    """How many tokens of each label the checker changes and flags, checked in this process."""
    started = time.process_time()
    checked = [(text, checker.check(text.text)) for text in labelled]
    seconds = time.process_time() - started
    return {**tally(checked), "cpu_ms_per_text": round(1000 * seconds / max(len(checked), 1), 3)}


def tally(checked: Iterable[tuple[LabelledText, CheckResult]]) -> dict[str, object]:
    """How many tokens of each label were changed and flagged: each text with what checking it
    gave (in this process, or read back from the service)."""
    counts: Counter[str] = Counter()
    wrong_changes: Counter[str] = Counter()
    warned = texts_checked = 0
    for text, result in checked:
        texts_checked += 1
        warned += bool(result.warning)
        unknown = set(result.unknown_words)
        for token in text.tokens:
            label = "correct" if token.correct else "incorrect"
            if not _has_letter(token.text):
                counts[f"{label}_other_tokens"] += 1
                continue
            counts[f"{label}_words"] += 1
            touching = [
                c
                for c in result.corrections
                if c.offset < token.end and token.start < c.offset + c.length
            ]
            parts = {part.text for part in tokenize(token.text).parts}
            if touching:
                counts[f"{label}_changed"] += 1
                if token.correct:
                    wrong_changes[f"{token.text} -> {touching[0].replacement}"] += 1
            elif parts & unknown:
                counts[f"{label}_unknown"] += 1
    correct, incorrect = counts["correct_words"], counts["incorrect_words"]
    flagged = counts["incorrect_changed"] + counts["incorrect_unknown"]
    return {
        "texts": texts_checked,
        "texts_warned_wrong_language": warned,
        "correct_word_tokens": correct,
        "correct_changed": counts["correct_changed"],
        "correct_changed_pct": round(100 * counts["correct_changed"] / correct, 3),
        "correct_reported_unknown": counts["correct_unknown"],
        "incorrect_word_tokens": incorrect,
        "incorrect_flagged": flagged,
        "incorrect_flagged_pct": round(100 * flagged / incorrect, 2),
        "incorrect_changed": counts["incorrect_changed"],
        "incorrect_changed_pct": round(100 * counts["incorrect_changed"] / incorrect, 2),
        "tokens_without_letters": counts["correct_other_tokens"] + counts["incorrect_other_tokens"],
        "most_common_changes_of_correct_tokens": wrong_changes.most_common(15),
    }


def english_as_swedish(checker: EssayChecker, count: int) -> dict[str, object]:
    """How many English corpus essays checked as `sv` get the wrong-language warning."""
    essays = [text for _, text in read_essays(count)]
    warned = sum(bool(checker.check(text).warning) for text in essays)
    return {"essays": len(essays), "warned": warned}


def index_build() -> dict[str, object]:
    """Building the sv index into an empty cache, then mapping it as a worker does."""
    lexicon = Lexicon(load_spellchecker("sv").word_frequency.dictionary)
    with tempfile.TemporaryDirectory(prefix="huleedu-sv-index-") as directory:
        cache = IndexCache(Path(directory))
        _, built = cache.load_or_build("sv", lexicon)
        _, mapped = cache.load_or_build("sv", lexicon)
        size = sum(p.stat().st_size for p in Path(directory).glob("sv-*.npy"))
    return {
        "words": len(lexicon.words),
        "entries": built.entries,
        "file_mib": round(size / _MIB, 1),
        "build_s": round(built.seconds, 2),
        "mapped_s": round(mapped.seconds, 3),
    }


def worker_memory(language: str, cache: Path) -> dict[str, float]:
    """RSS and private memory (USS) of this process before and after loading the checker of
    `language` from a built index cache, as a Spell Checker worker loads it."""
    process = psutil.Process()
    checkers = LanguageCheckers(CheckerConfig(Engine.SYMSPELL, cache))
    before = process.memory_full_info()
    started = time.perf_counter()
    checkers.preload([language])
    seconds = time.perf_counter() - started
    after = process.memory_full_info()
    return {
        "load_s": round(seconds, 2),
        "rss_before_mib": round(before.rss / _MIB, 1),
        "rss_after_mib": round(after.rss / _MIB, 1),
        "rss_added_mib": round((after.rss - before.rss) / _MIB, 1),
        "uss_added_mib": round((after.uss - before.uss) / _MIB, 1),
    }


def memory_in_fresh_processes(languages: Iterable[str]) -> dict[str, dict[str, float]]:
    """worker_memory of each language, each in a new interpreter (after one built the cache)."""
    results: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory(prefix="huleedu-sv-memory-") as cache:
        for language in languages:
            LanguageCheckers(CheckerConfig(Engine.SYMSPELL, Path(cache))).preload([language])
            command = [sys.executable, "-m", "bench.spellcheck_swedish", "--memory-of", language]
            output = subprocess.run(
                [*command, "--cache", cache], check=True, capture_output=True, text=True
            ).stdout
            results[language] = json.loads(output)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memory-of", help=argparse.SUPPRESS)
    parser.add_argument("--cache", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_of:
        print(json.dumps(worker_memory(args.memory_of, args.cache)))
        return 0
    if not SWELL.is_file():
        print(f"no {SWELL}: the corpus is not beside the repository", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="huleedu-sv-") as cache:
        checker = LanguageCheckers(CheckerConfig(Engine.SYMSPELL, Path(cache))).checker("sv")
        swell = measure(checker, texts(SENTENCES_PER_TEXT))
        english = english_as_swedish(checker, ENGLISH_ESSAYS)
    index = index_build()
    memory = memory_in_fresh_processes(["sv", "en"])
    print(
        f"SweLL: {swell['correct_changed']} of {swell['correct_word_tokens']} correct word "
        f"tokens changed ({swell['correct_changed_pct']} %); of "
        f"{swell['incorrect_word_tokens']} incorrect, {swell['incorrect_flagged']} flagged "
        f"({swell['incorrect_flagged_pct']} %), {swell['incorrect_changed']} changed; "
        f"{swell['texts_warned_wrong_language']} of {swell['texts']} texts warned"
    )
    print(f"English essays as sv: {english['warned']} of {english['essays']} warned")
    print(f"index: {index}")
    print(f"memory per worker: {memory}")
    path = write_result(
        "spellcheck_swedish",
        {
            "machine": machine(),
            "sentences_per_text": SENTENCES_PER_TEXT,
            "swell": swell,
            "english_essays_as_sv": english,
            "index": index,
            "worker_memory_mib": memory,
        },
    )
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
