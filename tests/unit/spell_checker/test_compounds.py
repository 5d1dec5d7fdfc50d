"""Swedish compounds split into known words (services.spell_checker.domain.compounds), against a
small word list."""

from __future__ import annotations

import pytest

from services.spell_checker.domain.compounds import CompoundSplitter

WORDS = frozenset(
    {
        "skola",
        "biblioteket",
        "biblioteken",
        "fotboll",
        "match",
        "matchen",
        "gata",
        "barnet",
        "kvinna",
        "fängelse",
        "pojke",
        "vän",
        "vännen",
        "problem",
        "lösning",
        "förmåga",
        "bok",
        "hus",
        "bil",
        "en",
    }
)


def splitter(words: frozenset[str] = WORDS, **options: int) -> CompoundSplitter:
    return CompoundSplitter(words.__contains__, **options)


@pytest.mark.parametrize(
    ("word", "parts"),
    [
        ("skolbiblioteket", ("skol", "biblioteket")),  # skola, its final vowel dropped
        ("fotbollsmatch", ("fotbolls", "match")),  # linking s
        ("fotbollsmatchen", ("fotbolls", "matchen")),  # the head inflected
        ("gatubarnet", ("gatu", "barnet")),  # gata as gatu-
        ("kvinnofängelse", ("kvinno", "fängelse")),  # kvinna as kvinno-
        ("pojkvännen", ("pojk", "vännen")),
        ("problemlösningsförmåga", ("problem", "lösnings", "förmåga")),  # three parts
        ("bokhus", ("bok", "hus")),
    ],
)
def test_known_words_written_together_are_a_compound(word: str, parts: tuple[str, ...]) -> None:
    assert splitter().split(word) == parts
    assert splitter().is_compound(word)


@pytest.mark.parametrize(
    "word",
    [
        "skolbibloteket",  # a misspelled head
        "skoolbiblioteket",  # a misspelled modifier
        "bilen",  # `en` is too short to be a part
        "biblioteketx",
        "bok",
        "",
    ],
)
def test_anything_else_is_not(word: str) -> None:
    assert splitter().split(word) is None


def test_parts_have_a_minimum_length_and_a_maximum_count() -> None:
    assert splitter(min_part=4).split("bokhus") is None
    assert splitter(max_parts=2).split("problemlösningsförmåga") is None
    assert splitter(max_parts=2).split("fotbollsmatch") == ("fotbolls", "match")


def test_the_same_compound_with_another_head() -> None:
    parts = ("skol", "biblioteket")
    assert splitter().with_other_head(parts, "skolbiblioteken")
    assert not splitter().with_other_head(parts, "skolbibliotek")  # `bibliotek` is not listed
    assert not splitter().with_other_head(("bil", "en"), "bilen")


def test_answers_are_remembered() -> None:
    asked: list[str] = []

    def is_part(word: str) -> bool:
        asked.append(word)
        return word in WORDS

    compounds = CompoundSplitter(is_part, capacity=1)
    assert compounds.split("skolbiblioteket") == ("skol", "biblioteket")
    lookups = len(asked)
    assert compounds.split("skolbiblioteket") == ("skol", "biblioteket")
    assert len(asked) == lookups
    compounds.split("fotbollsmatch")  # capacity 1: the first answer is forgotten
    compounds.split("skolbiblioteket")
    assert len(asked) > lookups
