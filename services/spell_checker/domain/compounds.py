"""Compounds written as one word (Swedish `skolbiblioteket`, `fotbollsmatch`): known words joined.

A compound is a head, which carries the inflection and is a known word as written
(`biblioteket`), after one or two modifiers. A modifier is a known word as it stands (`fot`,
`boll`), with a linking `s` (`fotbolls-`) or `e`, or a known word cut short the way Swedish
compounds cut it: its final vowel dropped (`skol-` of `skola`, `pojk-` of `pojke`) or its final
`a` written `u` or `o` (`gatu-` of `gata`, `kvinno-` of `kvinna`). Every part is at least
MIN_PART letters and among the dictionary's PART_WORDS most frequent words, so that a
misspelling seldom falls apart into known words by chance.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping

# Languages that write compounds as one word.
COMPOUNDING_LANGUAGES = frozenset({"sv"})
MIN_PART = 3
MAX_PARTS = 3
# Measured on SweLL (bench.spellcheck_swedish): parts from the 20,000 or 30,000 most frequent
# words leave more correct compounds unknown; the dictionary's long tail lets more misspellings
# (`bocker` as `boc`+`ker`) pass as compounds.
PART_WORDS = 50_000
LINKING_LETTERS = ("s", "e")
# A modifier's last letter as written → the last letter of the word it stands for.
_SHORTENED: tuple[tuple[str, str], ...] = (("u", "a"), ("o", "a"))
_DROPPED_VOWELS = ("a", "e")


class CompoundSplitter:
    """Splits a lower-case word into known parts; remembers the last `capacity` answers."""

    def __init__(
        self,
        is_part: Callable[[str], bool],
        *,
        min_part: int = MIN_PART,
        max_parts: int = MAX_PARTS,
        capacity: int = 50_000,
    ) -> None:
        self._is_part = is_part
        self._min_part = min_part
        self._max_parts = max_parts
        self._capacity = capacity
        self._answers: OrderedDict[str, tuple[str, ...] | None] = OrderedDict()

    @classmethod
    def over(cls, frequency: Mapping[str, int], *, capacity: int = 50_000) -> CompoundSplitter:
        """A splitter whose parts are a dictionary's PART_WORDS most frequent words."""
        ranked = sorted(frequency, key=lambda word: (-frequency[word], word))
        return cls(frozenset(ranked[:PART_WORDS]).__contains__, capacity=capacity)

    def is_compound(self, word: str) -> bool:
        """Whether the lower-case `word` is known words written together."""
        return self.split(word) is not None

    def with_other_head(self, parts: tuple[str, ...], other: str) -> bool:
        """Whether `other` is the compound of `parts` with another known head: `skolbiblioteken`
        of (`skol`, `biblioteket`)."""
        modifiers = "".join(parts[:-1])
        head = other[len(modifiers) :]
        return other.startswith(modifiers) and len(head) >= self._min_part and self._is_part(head)

    def split(self, word: str) -> tuple[str, ...] | None:
        """`word`'s parts as written (`fotbolls`, `match`), the longest head that works; None
        when it is not a compound of known words."""
        if len(word) < 2 * self._min_part:
            return None  # most words: too short to be two parts
        if word in self._answers:
            self._answers.move_to_end(word)
            return self._answers[word]
        answer = self._split(word)
        if self._capacity > 0:
            self._answers[word] = answer
            if len(self._answers) > self._capacity:
                self._answers.popitem(last=False)
        return answer

    def _split(self, word: str) -> tuple[str, ...] | None:
        for cut in range(self._min_part, len(word) - self._min_part + 1):
            head = word[cut:]
            if not self._is_part(head):
                continue
            modifiers = self._modifiers(word[:cut], self._max_parts - 1)
            if modifiers is not None:
                return (*modifiers, head)
        return None

    def _modifiers(self, text: str, most: int) -> tuple[str, ...] | None:
        """`text` as at most `most` modifiers, each a known word's compound form."""
        if self._is_modifier(text):
            return (text,)
        if most < 2:
            return None
        shortest = self._min_part
        for cut in range(len(text) - shortest, shortest - 1, -1):
            last = text[cut:]
            if not self._is_modifier(last):
                continue
            first = self._modifiers(text[:cut], most - 1)
            if first is not None:
                return (*first, last)
        return None

    def _is_modifier(self, text: str) -> bool:
        """Whether `text` is how a known word begins a compound."""
        if len(text) < self._min_part:
            return False
        known = self._is_part
        if known(text):
            return True
        stem, last = text[:-1], text[-1]
        if len(stem) >= self._min_part and last in LINKING_LETTERS and known(stem):
            return True
        if any(last == written and known(stem + full) for written, full in _SHORTENED):
            return True
        return any(known(text + vowel) for vowel in _DROPPED_VOWELS)
