"""How bench.spellcheck_scoring judges a change against the annotated errors of its essay."""

from __future__ import annotations

from pathlib import Path

from bench.spellcheck_gold import every_best_guess, measure
from bench.spellcheck_scoring import (
    Essay,
    false_kind,
    judge,
    known_fixes,
    precision_ceiling,
    read_gold,
)
from services.spell_checker.adapters.checkers import CheckerConfig, Engine, LanguageCheckers
from services.spell_checker.domain.model import Correction
from services.spell_checker.domain.ranking import NoisyChannelCorrector

SPANS = [(10, 16, "beleive"), (30, 35, "their")]


def test_a_change_of_an_annotated_error_to_its_word_is_right() -> None:
    assert judge(Correction(10, 6, "belive", "beleive"), SPANS) == "right"


def test_a_change_of_an_annotated_error_to_another_word_is_a_wrong_word() -> None:
    assert judge(Correction(30, 5, "thier", "thief"), SPANS) == "wrong word"


def test_a_change_that_touches_no_annotated_error_is_false() -> None:
    assert judge(Correction(20, 6, "colour", "color"), SPANS) == "false"
    assert judge(Correction(16, 3, "abc", "abd"), SPANS) == "false"  # starts where a span ends


def test_the_gold_file_names_the_right_word_of_each_span() -> None:
    gold = read_gold()
    assert sum(len(spans) for spans in gold.values()) == 1802
    assert all(start < end and right for spans in gold.values() for start, end, right in spans)


def test_false_changes_of_known_kinds_are_told_apart() -> None:
    fixes = known_fixes()
    # W&I and FCE annotate these elsewhere as spelling, or the lists have them
    assert false_kind(Correction(0, 4, "dont", "don't"), fixes).startswith("contraction")
    assert false_kind(Correction(0, 8, "Writting", "Writing"), fixes) != "other"
    assert false_kind(Correction(0, 9, "floorball", "football"), fixes) == "other"


def test_the_ceiling_counts_confirmed_misspellings_outside_the_annotation() -> None:
    text = "I dont think writting is easy. Writting is hard, and sukh writting is a floorball."
    spans = [(13, 21, "writing")]  # the first `writting`
    known = {"i", "think", "is", "easy", "hard", "and", "a"}
    ceiling = precision_ceiling([(text, spans)], known.__contains__, known_fixes())
    # `dont`, and the third `writting`: the second has a capital; sukh and floorball no list has
    assert ceiling["unannotated_confirmed_misspellings"] == {
        "contraction without its apostrophe": 1,
        "misspelling annotated elsewhere in the gold or listed": 1,
    }
    assert ceiling["fix_precision_ceiling"] == round(1 / 3, 4)


def test_every_best_guess_fixes_more_and_leaves_the_weights_as_chosen(tmp_path: Path) -> None:
    checkers = LanguageCheckers(CheckerConfig(Engine.SYMSPELL, tmp_path))
    engine = checkers.corrector("en").engine
    assert isinstance(engine, NoisyChannelCorrector)
    chosen = engine.weights
    essays: list[Essay] = [("I want to studie ther, it has a nice tast.", [])]  # three unsure words
    unsure = measure(checkers, "en", essays)
    guessed = every_best_guess(checkers, "en", essays)
    assert engine.weights == chosen
    assert (unsure["changes"], guessed["changes"]) == (0, 3)
