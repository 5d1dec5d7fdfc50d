"""Candidates three edits away: words of the same first two letters and a length within three."""

from __future__ import annotations

from services.spell_checker.domain.far import FirstLetterIndex, letter_set


def test_words_three_edits_away_are_found() -> None:
    words = ("appreciate", "apprentice", "approach", "apple", "bappreciate", "appreciated")
    index = FirstLetterIndex(words, lambda word: word != "appreciated")
    found = [words[i] for i in index.near("appresteate")]
    assert found == ["appreciate"]  # three edits; the others are farther or not included
    assert [words[i] for i in index.near("aprentise")] == ["apprentice"]  # nearer words too
    assert len(index.near("zzzz")) == 0  # no word starts so


def test_a_letter_set_holds_each_letter_once() -> None:
    assert letter_set("abba") == letter_set("ab") == 0b11
    assert letter_set("z") == 1 << 25
    assert letter_set("é") != 0 and letter_set("é") >= 1 << 26  # any other character
