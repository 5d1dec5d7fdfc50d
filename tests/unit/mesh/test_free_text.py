"""The rule for free text (services.mesh.free_text): at most 255 bytes in UTF-8, no control or
bidirectional-override characters; letters of every script and joiners pass."""

from __future__ import annotations

import pytest

from services.mesh.free_text import text_problem


@pytest.mark.parametrize(
    "text",
    [
        "",
        "essay.txt",
        "Åsa Öberg – uppsats.docx",
        "a" * 255,
        "ö" * 127,  # 254 bytes
        "نامه\u200cها.txt",  # Persian with a zero-width non-joiner
        "👩\u200d🏫 lärare.pdf",  # an emoji joined with a zero-width joiner
    ],
)
def test_text_within_the_rule_passes(text: str) -> None:
    assert text_problem(text) is None


def test_more_than_255_bytes_is_a_problem_that_says_the_size() -> None:
    assert text_problem("ö" * 128) == "is 256 bytes long in UTF-8; at most 255 are allowed"
    assert text_problem("x" * 5000) == "is 5000 bytes long in UTF-8; at most 255 are allowed"
    assert text_problem("x" * 300, max_bytes=300) is None


@pytest.mark.parametrize(
    ("text", "code", "position"),
    [
        ("essay\x00.txt", "U+0000", 6),
        ("\x1b[31mred", "U+001B", 1),
        ("two\nlines", "U+000A", 4),
        ("tab\there", "U+0009", 4),
        ("del\x7f", "U+007F", 4),
        ("c1\x85", "U+0085", 3),
        ("essay\u202etxt.exe", "U+202E", 6),
        ("isolate\u2066x", "U+2066", 8),
    ],
)
def test_a_control_character_is_a_problem_that_says_which_and_where(
    text: str, code: str, position: int
) -> None:
    problem = text_problem(text)
    assert problem is not None
    assert problem.startswith(f"holds {code} (")
    assert f"at character {position};" in problem
