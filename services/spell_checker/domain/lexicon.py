"""A language's dictionary as the checker sees it: pyspellchecker's word frequencies and rules."""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field

_FLOAT_WORDS = frozenset({"nan", "inf", "infinity"})


def remove_diacritics(word: str) -> str:
    """`word` without combining marks after NFKD, as pyspellchecker compares accents."""
    return "".join(c for c in unicodedata.normalize("NFKD", word) if not unicodedata.combining(c))


@dataclass(frozen=True)
class Lexicon:
    """Known words with their frequencies; word ids are positions in `words`.

    `frequency` is pyspellchecker's own (lower-cased) word-frequency table, so what counts as a
    known word here is exactly what pyspellchecker knows.
    """

    frequency: Mapping[str, int]
    words: tuple[str, ...] = field(init=False)
    letters: frozenset[str] = field(init=False)
    longest_word_length: int = field(init=False)

    def __post_init__(self) -> None:
        words = tuple(self.frequency)
        object.__setattr__(self, "words", words)
        object.__setattr__(self, "letters", frozenset("".join(words)))
        object.__setattr__(self, "longest_word_length", max(map(len, words), default=0))

    def knows(self, word: str) -> bool:
        """Whether the lower-case `word` is in the dictionary; the same as `is_known` for any
        word of letters only (only numbers and lone punctuation differ), and faster."""
        return word in self.frequency

    def is_known(self, word: str) -> bool:
        """Whether pyspellchecker's `known()` accepts the lower-case `word`."""
        return word in self.frequency and self.should_check(word)

    def should_check(self, word: str) -> bool:
        """pyspellchecker's rule for what is a word at all (not a number, not one punctuation)."""
        if len(word) == 1 and word in string.punctuation:
            return False
        if len(word) > self.longest_word_length + 3:
            return False
        if word.lower() in _FLOAT_WORDS:
            return True
        try:
            float(word)
        except ValueError:
            return True
        return False

    def is_candidate(self, word: str) -> bool:
        """Whether pyspellchecker could ever return this dictionary word as a correction."""
        return self.should_check(word)
