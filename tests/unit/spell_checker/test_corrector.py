"""The symmetric-delete corrector answers like SpellChecker.correction()."""

from __future__ import annotations

import random

from spellchecker import SpellChecker

from services.spell_checker.domain.corrector import (
    MemoizedCorrector,
    PySpellCheckerCorrector,
    SymmetricDeleteCorrector,
)
from services.spell_checker.domain.index import SymmetricDeleteIndex, build_index
from services.spell_checker.domain.lexicon import Lexicon


def engines(frequencies: dict[str, int]) -> tuple[SymmetricDeleteCorrector, SpellChecker]:
    spellchecker = SpellChecker(language=None)
    spellchecker.word_frequency.load_json(frequencies)
    lexicon = Lexicon(spellchecker.word_frequency.dictionary)
    index = SymmetricDeleteIndex(build_index(lexicon.words, lexicon.is_candidate))
    return SymmetricDeleteCorrector(lexicon, index), spellchecker


def test_same_answers_as_correction_on_a_random_dictionary() -> None:
    rng = random.Random(3)
    alphabet = "abcdefg"
    words = {"".join(rng.choices(alphabet, k=rng.randint(2, 7))) for _ in range(1500)}
    # distinct frequencies: correction() breaks ties by set order, which is not reproducible
    frequencies = {word: 10 + i for i, word in enumerate(sorted(words))}
    ours, theirs = engines(frequencies)
    for _ in range(400):
        query = "".join(rng.choices(alphabet, k=rng.randint(1, 8)))
        assert ours.correct(query) == theirs.correction(query), query


def test_smallest_distance_first_then_most_frequent() -> None:
    ours, theirs = engines({"cart": 5, "care": 50, "scar": 1000})
    # "carr": cart and care are one edit away, scar two; care is the more frequent of the two
    assert ours.correct("carr") == theirs.correction("carr") == "care"


def test_accent_only_differences_win_their_distance() -> None:
    ours, theirs = engines({"café": 5, "safe": 500})
    assert ours.correct("cafe") == theirs.correction("cafe") == "café"


def test_known_words_numbers_and_hopeless_words() -> None:
    ours, theirs = engines({"hello": 3, "world": 2, "42": 9})
    assert ours.correct("hello") == "hello"
    assert ours.correct("Hello") == "hello"  # lower-cased like correction()
    assert ours.correct("42") == theirs.correction("42") == "42"
    assert ours.correct("zzzzzz") is None and theirs.correction("zzzzzz") is None
    assert ours.correct("41") == theirs.correction("41") == "41"  # a number is not checked


def test_ties_are_broken_the_same_way_every_time() -> None:
    ours, _ = engines({"bat": 7, "cat": 7, "hat": 7})
    assert {ours.correct("xat") for _ in range(3)} == {"bat"}
    assert ours.correct("hxt") == "hat"  # same first letter preferred


def test_pyspellchecker_engine_is_correction() -> None:
    _, spellchecker = engines({"hello": 3})
    assert PySpellCheckerCorrector(spellchecker).correct("HELO") == "hello"


def test_memo_answers_repeats_from_memory_and_stays_bounded() -> None:
    ours, _ = engines({"hello": 3, "world": 2})
    memo = MemoizedCorrector(ours, capacity=2)
    assert [memo.correct(w) for w in ["helo", "helo", "wrld", "xyzq", "helo"]] == [
        "hello",
        "hello",
        "world",
        None,
        "hello",
    ]
    assert (memo.hits, memo.misses) == (1, 4)  # "helo" was pushed out by two newer words
