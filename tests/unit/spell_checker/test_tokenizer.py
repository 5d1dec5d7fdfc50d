"""The tokenizer: which spans are words, where they are, and what is never touched."""

from __future__ import annotations

import unicodedata

from services.spell_checker.domain.tokenizer import is_sentence_start, tokenize


def words(text: str) -> list[str]:
    return [part.text for part in tokenize(text).parts]


def test_words_are_runs_of_letters_with_code_point_offsets() -> None:
    text = "😀 Hello, wrold!"
    parts = tokenize(text).parts
    assert [(p.text, p.start, p.end) for p in parts] == [("Hello", 2, 7), ("wrold", 9, 14)]
    assert all(text[p.start : p.end] == p.text for p in parts)


def test_accented_and_non_latin_words_stay_whole() -> None:
    assert words("café naïve Straße Åsa") == ["café", "naïve", "Straße", "Åsa"]
    decomposed = unicodedata.normalize("NFD", "café naïve")
    assert words(decomposed) == decomposed.split(" ")
    persian = "می\u200cخواهم"  # a zero-width non-joiner inside one word
    assert words(persian) == [persian]
    assert words("Я люблю школу") == ["Я", "люблю", "школу"]


def test_a_combining_mark_is_found_among_typographic_punctuation() -> None:
    # Texts with neither marks nor joiners take a faster pattern; curly quotes and dashes alone
    # must not hide a mark from it.
    text = "\u201ccafe\u0301\u201d \u2013 it\u2019s \u2026 nai\u0308ve"
    assert words(text) == ["cafe\u0301", "it\u2019s", "nai\u0308ve"]
    assert words("\u201cplain\u201d \u2013 it\u2019s") == ["plain", "it\u2019s"]


def test_contractions_and_possessives_are_one_word() -> None:
    assert words("I don't know the teacher’s name, dont you?") == [
        "I",
        "don't",
        "know",
        "the",
        "teacher’s",
        "name",
        "dont",
        "you",
    ]


def test_quotes_around_words_are_not_part_of_them() -> None:
    assert words("the students' books and 'quoted' words") == [
        "the",
        "students",
        "books",
        "and",
        "quoted",
        "words",
    ]


def test_hyphenated_words_are_checked_part_by_part() -> None:
    parts = tokenize("a well-knwon fact").parts
    assert [(p.text, p.start, p.compound) for p in parts[1:3]] == [
        ("well", 2, "well-knwon"),
        ("knwon", 7, "well-knwon"),
    ]
    assert tokenize("a well-knwon fact").word_count == 3


def test_urls_emails_domains_and_words_with_digits_are_skipped() -> None:
    text = (
        "See https://exmaple.com/pagee?x=1, www.exmaple.org or exmaple.com; mail "
        "jon.doe@exmaple.com about the 2nd mp3 of Generic_Name in 1990."
    )
    assert words(text) == ["See", "or", "mail", "about", "the", "of", "in"]
    assert tokenize(text).word_count == 10  # `2nd`, `mp3`, `Generic_Name` count; 1990 does not


def test_a_url_ends_before_trailing_punctuation() -> None:
    assert words("(see www.exmaple.com/a), thne go") == ["see", "thne", "go"]


def test_sentence_starts() -> None:
    text = 'Hello there. "Becuase" he said\nNext line - item\n\n  Dear Sir'
    starts = {p.text: p.sentence_start for p in tokenize(text).parts}
    assert starts == {
        "Hello": True,
        "there": False,
        "Becuase": True,
        "he": False,
        "said": False,
        "Next": True,
        "line": False,
        "item": False,
        "Dear": True,
        "Sir": False,
    }
    assert is_sentence_start("a. b", 3)
    assert not is_sentence_start("a, b", 3)


def test_every_typed_apostrophe_joins_a_word_and_none_at_its_edges() -> None:
    text = (
        "I\u00b4ve, didn`t, wouldn\u00b4t and I\u02bcm; `quoted` and \u00b4this\u00b4 stay apart."
    )
    assert words(text) == [
        "I\u00b4ve",
        "didn`t",
        "wouldn\u00b4t",
        "and",
        "I\u02bcm",
        "quoted",
        "and",
        "this",
        "stay",
        "apart",
    ]
