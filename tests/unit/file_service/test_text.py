"""Word counting and text normalisation."""

from __future__ import annotations

import random
import re
import tracemalloc

import pytest

from services.file_service.domain.text import count_words, is_clean_text, normalise_text, words
from tests.support import CORPUS


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


_OLD_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002fa1f"
_OLD_LETTER = rf"[^\W_{_OLD_CJK}]"
# The word pattern before possessive repeats: the reference the fast one must agree with.
_REFERENCE_WORD = re.compile(
    rf"[{_OLD_CJK}]|{_OLD_LETTER}(?:{_OLD_LETTER}|_)*(?:['’\-‐]{_OLD_LETTER}+)*"
)


def test_words_agree_with_the_backtracking_reference() -> None:
    alphabet = "ab Ö_'’-‐ 柔한1\n.,"
    rng = random.Random(7)
    texts = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 60))) for _ in range(3000)]
    texts += [(CORPUS / f"essays/e{n:04d}.txt").read_text() for n in range(1, 21)]
    for text in texts:
        assert words(text) == _REFERENCE_WORD.findall(text), text


@pytest.mark.parametrize("one_word", ["x" * 9_000_000, "a-" * 4_500_000 + "a", "a_" * 4_500_000])
def test_a_nine_megabyte_word_is_counted_in_little_memory(one_word: str) -> None:
    tracemalloc.start()
    try:
        assert count_words(one_word) == 1
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 16 * 1024 * 1024  # the backtracking pattern took about 1 GB here


@pytest.mark.parametrize(
    ("text", "clean"),
    [
        ("An essay.\n\n\nWith   spaces  \nand tabs\t", True),
        ("No final line break", True),
        ("CRLF line\r\nends", False),
        ("\ufeffbyte-order mark", False),
        ("form\ffeed", False),
        ("control\x07 character", False),
        ("Cafe\u0301 decomposed", False),
        ("line\u2028separator", False),
        ("  \n ", False),
    ],
)
def test_clean_text_is_text_with_nothing_to_repair(text: str, clean: bool) -> None:
    assert is_clean_text(text) is clean
