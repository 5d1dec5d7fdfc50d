"""Word correction engines with pyspellchecker's `correction()` contract.

Both engines answer like `SpellChecker.correction(word)`: a known word (or a string that is not
a word, such as a number) comes back unchanged, otherwise the candidate at the smallest
Damerau-Levenshtein distance (1, then 2) wins, preferring one that differs only in accents,
then the most frequent; None when no word is within two edits. `SymmetricDeleteCorrector`
finds the candidates through the index instead of generating every string two edits away.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Protocol

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein
from spellchecker import SpellChecker

from services.spell_checker.domain.index import SymmetricDeleteIndex
from services.spell_checker.domain.lexicon import Lexicon, remove_diacritics

MAX_DISTANCE = 2


class WordCorrector(Protocol):
    """Corrects one lower-case word the way `SpellChecker.correction()` does."""

    def correct(self, word: str) -> str | None:
        """The correction of `word`; `word` itself when known, None when nothing is close."""
        ...


class SymmetricDeleteCorrector:
    """`correction()` answers from the symmetric-delete index: same rule, no brute force."""

    def __init__(self, lexicon: Lexicon, index: SymmetricDeleteIndex) -> None:
        self._lexicon = lexicon
        self._index = index

    def correct(self, word: str) -> str | None:
        """The correction of `word`, as `SpellChecker.correction()` would choose it."""
        word = word.lower()
        if self._lexicon.is_known(word) or not self._lexicon.should_check(word):
            return word
        words = self._lexicon.words
        candidates = [words[i] for i in self._index.candidate_ids(word).tolist()]
        if not candidates:
            return None
        distances = process.cdist(
            [word], candidates, scorer=DamerauLevenshtein.distance, score_cutoff=MAX_DISTANCE
        )[0].tolist()
        for tier in range(1, MAX_DISTANCE + 1):
            nearest = [c for c, d in zip(candidates, distances, strict=True) if d == tier]
            if nearest:
                return self._choose(word, nearest)
        return None

    def _choose(self, word: str, nearest: list[str]) -> str:
        bare = remove_diacritics(word)
        same_letters = [c for c in nearest if remove_diacritics(c) == bare]
        frequency = self._lexicon.frequency
        # correction() takes the most frequent; among equally frequent words its pick depends on
        # set order (hash seed), so ours is fixed: same first letter, then alphabetical.
        return min(same_letters or nearest, key=lambda c: (-frequency[c], c[:1] != word[:1], c))


class PySpellCheckerCorrector:
    """pyspellchecker's own `correction()`: the reference path, kept for comparison."""

    def __init__(self, spellchecker: SpellChecker) -> None:
        self._spellchecker = spellchecker

    def correct(self, word: str) -> str | None:
        """`SpellChecker.correction(word)`."""
        result: str | None = self._spellchecker.correction(word.lower())
        return result


class MemoizedCorrector:
    """Remembers the last `capacity` answers of another corrector (misspellings repeat)."""

    def __init__(self, inner: WordCorrector, capacity: int) -> None:
        self._inner = inner
        self._capacity = capacity
        self._answers: OrderedDict[str, str | None] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def correct(self, word: str) -> str | None:
        """The inner corrector's answer, from memory when it was asked before."""
        if word in self._answers:
            self.hits += 1
            self._answers.move_to_end(word)
            return self._answers[word]
        self.misses += 1
        answer = self._inner.correct(word)
        if self._capacity > 0:
            self._answers[word] = answer
            if len(self._answers) > self._capacity:
                self._answers.popitem(last=False)
        return answer
