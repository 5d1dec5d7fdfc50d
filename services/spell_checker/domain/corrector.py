"""Word correction engines, and the memo that keeps what each found for a word.

An engine first finds a word's candidates without its context (`candidates`, which the memo
keeps: misspellings repeat) and then chooses among them in the word's context (`choose`).
`ranking.NoisyChannelCorrector` ranks by a noisy-channel model. The two engines here have
pyspellchecker's `correction()` contract and ignore the context: they answer like
`SpellChecker.correction(word)`: a known word (or a string that is not a word, such as a
number) comes back unchanged, otherwise the candidate at the smallest
Damerau-Levenshtein distance (1, then 2) wins, preferring one that differs only in accents,
then the most frequent; None when no word is within two edits. `SymmetricDeleteCorrector`
finds the candidates through the index instead of generating every string two edits away.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import NamedTuple, Protocol

from rapidfuzz import process
from rapidfuzz.distance import DamerauLevenshtein
from spellchecker import SpellChecker

from services.spell_checker.domain.context import NO_CONTEXT, Context
from services.spell_checker.domain.index import SymmetricDeleteIndex
from services.spell_checker.domain.lexicon import Lexicon, remove_diacritics

MAX_DISTANCE = 2


class Ranking(NamedTuple):
    """What an engine found for one word before seeing its context: its candidates with their
    scores (log probabilities), best first, and the log frequency of the word as written (-inf
    when no list has it); None when the first candidate is the answer whatever the context."""

    candidates: tuple[tuple[str, float], ...]
    written: float | None = None


def first_answer(answer: str | None) -> Ranking:
    """The ranking of an engine that answers with one word (or None) whatever the context."""
    return Ranking(((answer, 0.0),) if answer is not None else ())


class CandidateSource(Protocol):
    """An engine: finds a word's candidates, then chooses one in the word's context."""

    def candidates(self, word: str) -> Ranking:
        """The candidates of the lower-case `word`, before its context is seen."""
        ...

    def choose(self, ranking: Ranking, context: Context) -> str | None:
        """The correction to write in `context`; the word itself when known, None to leave it
        as unknown."""
        ...


class WordCorrector(Protocol):
    """Corrects one lower-case word, seen between its neighbours."""

    def correct(self, word: str, context: Context = NO_CONTEXT) -> str | None:
        """The correction of `word`; `word` itself when known, None when nothing fits."""
        ...


class _FirstAnswer:
    """`choose` for engines whose answer does not depend on the context."""

    def choose(self, ranking: Ranking, context: Context) -> str | None:
        """The engine's one answer."""
        return ranking.candidates[0][0] if ranking.candidates else None


class SymmetricDeleteCorrector(_FirstAnswer):
    """`correction()` answers from the symmetric-delete index: same rule, no brute force."""

    def __init__(self, lexicon: Lexicon, index: SymmetricDeleteIndex) -> None:
        self._lexicon = lexicon
        self._index = index

    def candidates(self, word: str) -> Ranking:
        """`correct(word)` as the only candidate."""
        return first_answer(self.correct(word))

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


class PySpellCheckerCorrector(_FirstAnswer):
    """pyspellchecker's own `correction()`: the reference path, kept for comparison."""

    def __init__(self, spellchecker: SpellChecker) -> None:
        self._spellchecker = spellchecker

    def candidates(self, word: str) -> Ranking:
        """`correction(word)` as the only candidate."""
        return first_answer(self.correct(word))

    def correct(self, word: str) -> str | None:
        """`SpellChecker.correction(word)`."""
        result: str | None = self._spellchecker.correction(word.lower())
        return result


class MemoizedCorrector:
    """An engine as a `WordCorrector`, remembering the candidates of the last `capacity` words
    (misspellings repeat; the choice in context is made anew each time, and is cheap)."""

    def __init__(self, inner: CandidateSource, capacity: int) -> None:
        self.engine = inner
        self._capacity = capacity
        self._rankings: OrderedDict[str, Ranking] = OrderedDict()
        self.hits = 0
        self.misses = 0

    def correct(self, word: str, context: Context = NO_CONTEXT) -> str | None:
        """The engine's choice for `word` in `context`."""
        return self.engine.choose(self.candidates(word), context)

    def candidates(self, word: str) -> Ranking:
        """The engine's candidates for `word`, from memory when it was asked before."""
        found = self._rankings.get(word)
        if found is not None:
            self.hits += 1
            self._rankings.move_to_end(word)
            return found
        self.misses += 1
        found = self.engine.candidates(word)
        if self._capacity > 0:
            self._rankings[word] = found
            if len(self._rankings) > self._capacity:
                self._rankings.popitem(last=False)
        return found
