"""Word counting and text normalisation."""

from __future__ import annotations

import pytest

from services.file_service.domain.text import count_words, normalise_text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", 0),
        ("   \n\t ", 0),
        ("Hello, world!", 2),
        ("It's a well-known fact — isn’t it?", 6),
        ("Generic_Name went to Generic_School", 4),
        ("3 apples and 42 pears", 5),
        ("Straße, Åsa och Ölands-bro", 4),
        ("...", 0),
        ("柔道は楽しい", 6),
        ("한국어 텍스트", 2),
    ],
)
def test_count_words(text: str, expected: int) -> None:
    assert count_words(text) == expected


def test_normalise_keeps_paragraphs_and_drops_noise() -> None:
    raw = "\ufeffTitle  \r\n\r\n\r\n\r\nFirst para\x00graph.\rSecond line\x0c\n\n\n\nEnd \t"
    assert normalise_text(raw) == "Title\n\nFirst paragraph.\nSecond line\n\nEnd\n"


def test_normalise_composes_characters_and_replaces_lone_surrogates() -> None:
    assert normalise_text("e\u0301t\u00e9 \ud800") == "\u00e9t\u00e9 \ufffd\n"


def test_normalise_of_nothing_is_nothing() -> None:
    assert normalise_text(" \n\n\t") == ""
