"""British spellings of the dictionary's American words (services.spell_checker.domain.variants),
against a small British word list: one or two regular differences, and only into a word the list
has."""

from __future__ import annotations

import pytest

from services.spell_checker.domain.variants import (
    british_only,
    british_spelling,
    inflected,
    is_british_form,
)

BRITISH = frozenset(
    {
        "neighbourhood",
        "realise",
        "centre",
        "travelled",
        "catalogue",
        "manoeuvre",
        "defence",
        "encyclopaedia",
        "judgement",
        "analyse",
        "program",
        "colour",
    }
)


@pytest.mark.parametrize(
    ("american", "british"),
    [
        ("neighborhood", "neighbourhood"),
        ("realize", "realise"),
        ("center", "centre"),
        ("traveled", "travelled"),
        ("catalog", "catalogue"),
        ("maneuver", "manoeuvre"),  # two differences: e -> oe, er -> re
        ("defense", "defence"),
        ("encyclopedia", "encyclopaedia"),
        ("judgment", "judgement"),
        ("analyze", "analyse"),
    ],
)
def test_an_american_word_is_respelled_into_the_british_list(american: str, british: str) -> None:
    assert british_spelling(american, BRITISH) == british


@pytest.mark.parametrize("word", ["program", "colour", "house", "color", "flavor"])
def test_a_word_the_list_has_or_cannot_reach_stays_as_it_is(word: str) -> None:
    expected = "colour" if word == "color" else word
    assert british_spelling(word, BRITISH) == expected


# American frequencies, as the dictionary's: `heer` is a rare misspelling it holds.
AMERICAN = {
    "color": 55_000,
    "colors": 13_000,
    "behavior": 24_000,
    "behaviors": 5_000,
    "program": 40_000,
    "here": 900_000,
    "heer": 69,
    "toe": 900,
    "te": 8_000,
}


def test_british_only_words_are_those_american_spells_otherwise() -> None:
    british = frozenset({"colour", "behaviour", "program", "programme", "here", "toe"})
    # `programme`: the list has `program` too; `here`: `heer` is rare and no likelier;
    # `toe`: too short to tell from another word (`te`)
    assert british_only(british, AMERICAN) == {"colour": "color", "behaviour": "behavior"}


def test_british_only_words_may_be_two_differences_from_the_american() -> None:
    # manoeuvre: e -> oe and er -> re; the one-difference halfway spellings are no words
    american = {**AMERICAN, "maneuver": 2_000}
    british = frozenset({"manoeuvre", "colour"})
    assert british_only(british, american) == {"manoeuvre": "maneuver", "colour": "color"}


def test_british_only_words_take_the_endings_their_american_spelling_has() -> None:
    only = {"colour": "color", "behaviour": "behavior"}
    assert inflected(only, AMERICAN) == {"colours", "behaviours"}


@pytest.mark.parametrize(
    ("word", "american", "british"),
    [
        ("favourite", "favorite", True),
        ("manoeuvre", "maneuver", True),  # two differences: e -> oe, er -> re
        ("catalogue", "catalog", True),  # a difference of two more letters
        ("catalogues", "catalogs", True),
        ("centre", "center", True),  # one of the same length
        ("favorite", "favourite", False),  # the other way: shorter
        ("favourite", "favourite", False),
        ("colourful", "colorfull", False),
        ("colourisre", "colorizer", False),  # three differences
    ],
)
def test_a_british_form_is_one_or_two_differences_from_the_american(
    word: str, american: str, british: bool
) -> None:
    assert is_british_form(word, american) is british
